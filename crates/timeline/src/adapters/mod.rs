pub mod memory;
pub mod postgres;
pub mod redis;
pub mod sqlite;
pub mod timed;
