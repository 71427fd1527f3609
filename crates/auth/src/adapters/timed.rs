//! Any identity, profile or session store, with every call timed into the
//! dependency metrics.

use async_trait::async_trait;
use chirp_core::events::{Event, EventStamp};
use chirp_core::store::StoreResult;
pub use chirp_core::timed::Timed;
use chirp_core::Id;

use crate::ports::{
    CreateError, Identity, IdentityStore, ProfileChange, ProfileStore, PublicProfile, Rotation,
    SessionStore, TokenRef,
};

#[async_trait]
impl IdentityStore for Timed<dyn IdentityStore> {
    async fn insert(&self, identity: &Identity) -> Result<(), CreateError> {
        // A taken handle or email is an answer, not a failed call.
        let call = async {
            match self.inner().insert(identity).await {
                Err(CreateError::Store(e)) => Err(e),
                answer => Ok(answer),
            }
        };
        self.time("identity_insert", call).await?
    }
    async fn remove(&self, id: Id) -> StoreResult<()> {
        self.time("identity_remove", self.inner().remove(id)).await
    }
    async fn find_by_login(&self, login: &str) -> StoreResult<Option<Identity>> {
        self.time("identity_find", self.inner().find_by_login(login))
            .await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner().ping().await
    }
}

#[async_trait]
impl ProfileStore for Timed<dyn ProfileStore> {
    async fn create(&self, profile: &PublicProfile, event: &Event) -> StoreResult<()> {
        self.time("profile_create", self.inner().create(profile, event))
            .await
    }
    async fn update(
        &self,
        id: Id,
        change: &ProfileChange,
        stamp: &EventStamp,
    ) -> StoreResult<Option<PublicProfile>> {
        self.time("profile_update", self.inner().update(id, change, stamp))
            .await
    }
    async fn delete(&self, id: Id, event: &Event) -> StoreResult<bool> {
        self.time("profile_delete", self.inner().delete(id, event))
            .await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner().ping().await
    }
}

#[async_trait]
impl SessionStore for Timed<dyn SessionStore> {
    async fn start(&self, user: Id, token: &TokenRef, expires_at_ms: i64) -> StoreResult<()> {
        self.time(
            "session_start",
            self.inner().start(user, token, expires_at_ms),
        )
        .await
    }
    async fn rotate(
        &self,
        old: &TokenRef,
        new: &TokenRef,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> StoreResult<Rotation> {
        self.time(
            "session_rotate",
            self.inner().rotate(old, new, now_ms, expires_at_ms),
        )
        .await
    }
    async fn revoke(&self, session: Id) -> StoreResult<()> {
        self.time("session_revoke", self.inner().revoke(session))
            .await
    }
    async fn knows(&self, token: &TokenRef) -> StoreResult<bool> {
        self.time("session_knows", self.inner().knows(token)).await
    }
}
