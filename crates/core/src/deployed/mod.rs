//! Deployed adapters shared by several services: PostgreSQL (and its outbox) and Redis.

pub mod kafka;
pub mod kafka_producer;
pub mod postgres;
pub mod redis;
pub mod redis_limiter;
pub mod worker_lease;
