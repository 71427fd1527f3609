//! WriteService: creates, edits and deletes posts. Every change commits together with its
//! outbox event, so nothing acknowledged is lost on its way to the consumers.

pub mod adapters;
pub mod domain;
pub mod ports;
pub mod routes;
pub mod service;

pub use routes::{router, WriteState};
pub use service::WriteService;
