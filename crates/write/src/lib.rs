//! WriteService: creates, edits and deletes posts. Every change commits together with its
//! outbox event, so nothing acknowledged is lost on its way to the consumers.

pub mod adapters;
pub mod domain;
pub mod ports;
pub mod routes;
pub mod service;

use chirp_core::migrations::Schema;
use sqlx::migrate::Migrator;

pub use routes::{router, WriteState};
pub use service::WriteService;

/// The tables of WriteService: posts, their counts and idempotency keys, its outbox.
pub static SCHEMA: Schema = Schema {
    owner: "write",
    postgres: Some(&POSTGRES),
    sqlite: Some(&SQLITE),
};
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
