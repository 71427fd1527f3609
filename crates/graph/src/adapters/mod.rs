pub mod postgres;
pub mod sqlite;
#[cfg(test)]
mod suite;
