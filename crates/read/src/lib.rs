//! ReadService: the read API. Posts and authors hydrate from the posts store in one round
//! trip; home timelines come from TimelineService, with hybrid-fanout authors merged in.

pub mod adapters;
pub mod ports;
pub mod routes;
pub mod service;

pub use routes::{router, ReadState};
pub use service::ReadService;
