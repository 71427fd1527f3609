//! AuthService: identities and passwords (argon2id), EdDSA access tokens served as JWKS,
//! refresh sessions with rotation and reuse detection, and the limits on logins and signups.

pub mod adapters;
mod deletion;
pub mod domain;
pub mod keys;
mod login;
pub mod oauth;
pub mod passwords;
pub mod ports;
pub mod routes;
pub mod service;

use chirp_core::migrations::Schema;
use sqlx::migrate::Migrator;

pub use routes::{router, AuthState};
pub use service::{AuthConfig, AuthService};

/// The tables of AuthService: public profiles and its outbox (and, embedded, identities
/// and refresh sessions).
pub static SCHEMA: Schema = Schema {
    owner: "auth",
    postgres: Some(&POSTGRES),
    sqlite: Some(&SQLITE),
};
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
