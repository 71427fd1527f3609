//! What every Chirp service shares: ids, the API error type, pagination, the public
//! objects, events and the ports they travel through, access tokens, the ports services
//! use to reach each other, the HTTP scaffold, and the embedded (SQLite) defaults.

pub mod backoff;
pub mod consumer;
pub mod deployed;
pub mod embedded;
pub mod error;
#[cfg(test)]
mod event_log_suite;
pub mod events;
pub mod http;
pub mod id;
pub mod limits;
#[cfg(test)]
mod limits_suite;
pub mod migrations;
pub mod model;
pub mod openapi;
pub mod outbox;
#[cfg(test)]
mod outbox_suite;
pub mod page;
pub mod peers;
pub mod peers_http;
pub mod store;
pub mod text;
pub mod time;
pub mod timed;
pub mod token;
pub mod traces;

pub use error::{ApiError, ApiResult};
pub use id::{Id, IdGenerator};
