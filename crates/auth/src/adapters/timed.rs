//! Any identity, profile, session or throttle store, with every call timed into the
//! dependency metrics (`chirp_dependency_duration_seconds`, `chirp_dependency_errors_total`).

use async_trait::async_trait;
use chirp_core::events::Event;
pub use chirp_core::http::metrics::Timed;
use chirp_core::Id;

use crate::ports::{
    CreateError, Identity, IdentityStore, LoginThrottle, ProfileStore, PublicProfile, Rotation,
    SessionStore, TokenRef,
};

#[async_trait]
impl IdentityStore for Timed<dyn IdentityStore> {
    async fn insert(&self, identity: &Identity) -> Result<(), CreateError> {
        // A taken handle or email is an answer, not a failed call.
        let call = async {
            match self.inner.insert(identity).await {
                Err(CreateError::Store(e)) => Err(e),
                answer => Ok(answer),
            }
        };
        self.metrics
            .time(self.dependency, "identity_insert", call)
            .await?
    }
    async fn remove(&self, id: Id) -> anyhow::Result<()> {
        let call = self.inner.remove(id);
        self.metrics
            .time(self.dependency, "identity_remove", call)
            .await
    }
    async fn find_by_login(&self, login: &str) -> anyhow::Result<Option<Identity>> {
        let call = self.inner.find_by_login(login);
        self.metrics
            .time(self.dependency, "identity_find", call)
            .await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}

#[async_trait]
impl ProfileStore for Timed<dyn ProfileStore> {
    async fn create(&self, profile: &PublicProfile, event: &Event) -> anyhow::Result<()> {
        let call = self.inner.create(profile, event);
        self.metrics
            .time(self.dependency, "profile_create", call)
            .await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}

#[async_trait]
impl SessionStore for Timed<dyn SessionStore> {
    async fn start(&self, user: Id, token: &TokenRef, expires_at_ms: i64) -> anyhow::Result<()> {
        let call = self.inner.start(user, token, expires_at_ms);
        self.metrics
            .time(self.dependency, "session_start", call)
            .await
    }
    async fn rotate(
        &self,
        old: &TokenRef,
        new: &TokenRef,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> anyhow::Result<Rotation> {
        let call = self.inner.rotate(old, new, now_ms, expires_at_ms);
        self.metrics
            .time(self.dependency, "session_rotate", call)
            .await
    }
    async fn revoke(&self, session: Id) -> anyhow::Result<()> {
        let call = self.inner.revoke(session);
        self.metrics
            .time(self.dependency, "session_revoke", call)
            .await
    }
    async fn knows(&self, token: &TokenRef) -> anyhow::Result<bool> {
        let call = self.inner.knows(token);
        self.metrics
            .time(self.dependency, "session_knows", call)
            .await
    }
}

#[async_trait]
impl LoginThrottle for Timed<dyn LoginThrottle> {
    async fn failures(&self, key: &str, since_ms: i64) -> anyhow::Result<(u32, Option<i64>)> {
        let call = self.inner.failures(key, since_ms);
        self.metrics
            .time(self.dependency, "throttle_failures", call)
            .await
    }
    async fn record_failure(&self, key: &str, at_ms: i64, window_ms: i64) -> anyhow::Result<()> {
        let call = self.inner.record_failure(key, at_ms, window_ms);
        self.metrics
            .time(self.dependency, "throttle_record_failure", call)
            .await
    }
    async fn clear(&self, key: &str) -> anyhow::Result<()> {
        let call = self.inner.clear(key);
        self.metrics
            .time(self.dependency, "throttle_clear", call)
            .await
    }
}
