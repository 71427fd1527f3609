//! AuthService: identities and passwords (argon2id), EdDSA access tokens served as JWKS,
//! refresh sessions with rotation and reuse detection, and login throttling.

pub mod adapters;
pub mod domain;
pub mod keys;
pub mod passwords;
pub mod ports;
pub mod routes;
pub mod service;

pub use routes::{router, AuthState};
pub use service::{AuthConfig, AuthService};
