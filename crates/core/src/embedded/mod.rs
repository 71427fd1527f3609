//! Embedded defaults shared by several services: an SQLite database, an outbox on it,
//! and the event log that stands in for Kafka.

pub mod cache;
pub mod event_log;
pub mod outbox;
pub mod sqlite;
mod writer;
