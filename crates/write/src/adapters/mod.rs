pub mod postgres;
pub mod sqlite;
#[cfg(test)]
mod suite;
pub mod timed;
#[cfg(test)]
mod upgrade;
