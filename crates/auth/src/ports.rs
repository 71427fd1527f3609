//! What AuthService needs from storage. Deployed: MongoDB (identities), PostgreSQL
//! (public profiles), Redis (sessions, throttles). Embedded: SQLite and memory.

use async_trait::async_trait;
use chirp_core::events::Event;
use chirp_core::Id;

#[derive(Debug, Clone)]
pub struct Identity {
    pub id: Id,
    pub handle: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub created_at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("handle is taken")]
    HandleTaken,
    #[error("email is taken")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Identities: who can log in, unique by handle and by email, ignoring case. Deployed:
/// MongoDB. Embedded: SQLite.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn insert(&self, identity: &Identity) -> Result<(), CreateError>;
    /// Takes back an insert whose signup could not finish.
    async fn remove(&self, id: Id) -> anyhow::Result<()>;
    /// The identity whose handle or email, ignoring case, is `login`.
    async fn find_by_login(&self, login: &str) -> anyhow::Result<Option<Identity>>;
    async fn ping(&self) -> anyhow::Result<()>;
}

/// What everyone may see of a user, in the store ReadService joins posts with.
#[derive(Debug, Clone)]
pub struct PublicProfile {
    pub id: Id,
    pub handle: String,
    pub display_name: String,
    pub created_at_ms: i64,
}

/// Public profile rows, written with their `user.*` event in one transaction. Deployed:
/// PostgreSQL. Embedded: SQLite.
#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn create(&self, profile: &PublicProfile, event: &Event) -> anyhow::Result<()>;
    async fn ping(&self) -> anyhow::Result<()>;
}

/// What happened to a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// It was current; it is now used, and the new one replaces it.
    Rotated { user: Id, session: Id },
    /// It had been used before: someone replayed it.
    Reused { session: Id },
    /// Unknown, expired, or its session is revoked.
    Invalid,
}

/// A refresh token as stores see it: the session it names, and the SHA-256 of the whole
/// token (the token itself is never stored). Tokens read `<session>.<secret>`, so that a
/// store can keep a session's tokens together (one Redis Cluster slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRef {
    pub session: Id,
    pub hash: [u8; 32],
}

/// Refresh sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn start(&self, user: Id, token: &TokenRef, expires_at_ms: i64) -> anyhow::Result<()>;
    /// Atomically marks `old` used and adds `new` to the same session, if `old` is current.
    async fn rotate(
        &self,
        old: &TokenRef,
        new: &TokenRef,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> anyhow::Result<Rotation>;
    async fn revoke(&self, session: Id) -> anyhow::Result<()>;
    /// Whether `token` is one of its session's tokens, used or not.
    async fn knows(&self, token: &TokenRef) -> anyhow::Result<bool>;
}

/// Counts of recent failed logins, per key (an account, a client address).
#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// Failures of `key` at or after `since_ms`, and the time of the oldest of them.
    async fn failures(&self, key: &str, since_ms: i64) -> anyhow::Result<(u32, Option<i64>)>;
    async fn record_failure(&self, key: &str, at_ms: i64, window_ms: i64) -> anyhow::Result<()>;
    async fn clear(&self, key: &str) -> anyhow::Result<()>;
}
