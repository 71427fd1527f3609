//! TimelineService: home timelines as capped, newest-first lists of post ids, with the
//! rebuild of a cold timeline from the posts store.

pub mod adapters;
pub mod ports;
#[cfg(test)]
mod posts_suite;
pub mod routes;
pub mod service;
#[cfg(test)]
mod store_suite;

pub use service::{TimelineConfig, TimelineService};
