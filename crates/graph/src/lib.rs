//! UserGraphService: who follows whom, with counts. Each change commits with its
//! `follow.*` event, from which FanoutService backfills or purges home timelines.

pub mod adapters;
pub mod ports;
pub mod routes;
pub mod service;

pub use routes::{router, GraphState};
pub use service::GraphService;
