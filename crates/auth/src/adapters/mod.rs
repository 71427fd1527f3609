pub mod mongo;
pub mod postgres;
pub mod redis;
pub mod sqlite;
#[cfg(test)]
mod suite;
pub mod timed;
#[cfg(test)]
mod upgrade;
