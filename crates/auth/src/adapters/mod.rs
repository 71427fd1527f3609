pub mod memory;
pub mod postgres;
pub mod sqlite;
