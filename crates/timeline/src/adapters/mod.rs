pub mod memory;
pub mod sqlite;
