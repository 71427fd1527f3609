pub mod postgres;
pub mod sqlite;
pub mod timed;
