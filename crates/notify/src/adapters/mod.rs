//! The adapters of [`NotificationStore`](crate::ports::NotificationStore).

pub mod postgres;
pub mod sqlite;
pub mod timed;

#[cfg(test)]
mod suite;
