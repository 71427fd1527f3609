//! What AuthService needs from storage. Deployed: MongoDB (identities), PostgreSQL
//! (public profiles), Redis (sessions). Embedded: SQLite and memory.

use async_trait::async_trait;
use chirp_core::events::{Event, EventBody, EventStamp};
use chirp_core::store::{StoreError, StoreResult};
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
    Store(#[from] StoreError),
}

/// Identities: who can log in, unique by handle and by email, ignoring case. Deployed:
/// MongoDB. Embedded: SQLite.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn insert(&self, identity: &Identity) -> Result<(), CreateError>;
    /// Takes back an insert whose signup could not finish.
    async fn remove(&self, id: Id) -> StoreResult<()>;
    /// The identity whose handle or email, ignoring case, is `login`.
    async fn find_by_login(&self, login: &str) -> StoreResult<Option<Identity>>;
    async fn ping(&self) -> StoreResult<()>;
}

/// What everyone may see of a user, in the store ReadService joins posts with.
#[derive(Debug, Clone)]
pub struct PublicProfile {
    pub id: Id,
    pub handle: String,
    pub display_name: String,
    /// `""` until set.
    pub bio: String,
    pub created_at_ms: i64,
}

/// What a `PATCH /auth/me` changes: each field present is set (already valid).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    pub display_name: Option<String>,
    pub bio: Option<String>,
}

impl ProfileChange {
    /// `profile` with the change applied, or `None` when it changes nothing.
    pub fn applied_to(&self, profile: &PublicProfile) -> Option<PublicProfile> {
        let mut changed = profile.clone();
        if let Some(d) = &self.display_name {
            changed.display_name.clone_from(d);
        }
        if let Some(b) = &self.bio {
            changed.bio.clone_from(b);
        }
        let same = changed.display_name == profile.display_name && changed.bio == profile.bio;
        (!same).then_some(changed)
    }
}

impl PublicProfile {
    /// The `user.updated` event of the profile as it now is.
    pub fn updated(&self) -> EventBody {
        EventBody::UserUpdated {
            user_id: self.id,
            handle: self.handle.clone(),
            display_name: self.display_name.clone(),
            bio: self.bio.clone(),
        }
    }
}

/// Public profile rows, written with their `user.*` event in one transaction. Deployed:
/// PostgreSQL. Embedded: SQLite.
#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn create(&self, profile: &PublicProfile, event: &Event) -> StoreResult<()>;
    /// Applies `change` to `id`'s profile, with its `user.updated` event (stamped with
    /// `stamp`, at the profile's new version) in the same transaction; the profile as it
    /// now is, or `None` for an unknown id. A change that changes nothing writes nothing.
    async fn update(
        &self,
        id: Id,
        change: &ProfileChange,
        stamp: &EventStamp,
    ) -> StoreResult<Option<PublicProfile>>;
    /// Removes `id`'s profile (its handle is free at once) with `event` (`user.deleted`)
    /// in the same transaction; false when there was none, and then nothing is written.
    async fn delete(&self, id: Id, event: &Event) -> StoreResult<bool>;
    async fn ping(&self) -> StoreResult<()>;
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
    async fn start(&self, user: Id, token: &TokenRef, expires_at_ms: i64) -> StoreResult<()>;
    /// Atomically marks `old` used and adds `new` to the same session, if `old` is current.
    async fn rotate(
        &self,
        old: &TokenRef,
        new: &TokenRef,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> StoreResult<Rotation>;
    async fn revoke(&self, session: Id) -> StoreResult<()>;
    /// Whether `token` is one of its session's tokens, used or not.
    async fn knows(&self, token: &TokenRef) -> StoreResult<bool>;
}
