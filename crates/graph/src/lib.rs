//! UserGraphService: who follows, blocks and mutes whom, with counts. Each change commits
//! with its event (`follow.*`, `block.*`, `mute.*`), from which FanoutService backfills or
//! purges home timelines.

pub mod adapters;
pub mod ports;
pub mod routes;
pub mod service;

pub use routes::{router, GraphState};
pub use service::GraphService;

/// The tables of UserGraphService: follows, their counts, blocks, mutes, its outbox.
pub static SCHEMA: chirp_core::migrations::Schema = chirp_core::migrations::Schema {
    owner: "graph",
    postgres: Some(&POSTGRES),
    sqlite: Some(&SQLITE),
};
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
