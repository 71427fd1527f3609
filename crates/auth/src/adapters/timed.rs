//! Any identity, profile or session store, with every call timed into the
//! dependency metrics.

use async_trait::async_trait;
use chirp_core::events::{Event, EventStamp};
use chirp_core::store::StoreResult;
pub use chirp_core::timed::Timed;
use chirp_core::Id;

use crate::oauth::{AuthCode, OAuthApp, OAuthStore, OAuthToken};
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

#[async_trait]
impl OAuthStore for Timed<dyn OAuthStore> {
    async fn create_app(&self, app: &OAuthApp) -> StoreResult<()> {
        self.time("oauth_create_app", self.inner().create_app(app))
            .await
    }
    async fn app(&self, client_id: &str) -> StoreResult<Option<OAuthApp>> {
        self.time("oauth_app", self.inner().app(client_id)).await
    }
    async fn app_by_id(&self, id: Id) -> StoreResult<Option<OAuthApp>> {
        self.time("oauth_app_by_id", self.inner().app_by_id(id))
            .await
    }
    async fn save_code(&self, code: &AuthCode) -> StoreResult<()> {
        self.time("oauth_save_code", self.inner().save_code(code))
            .await
    }
    async fn take_code(&self, hash: &[u8; 32]) -> StoreResult<Option<AuthCode>> {
        self.time("oauth_take_code", self.inner().take_code(hash))
            .await
    }
    async fn save_token(&self, token: &OAuthToken) -> StoreResult<()> {
        self.time("oauth_save_token", self.inner().save_token(token))
            .await
    }
    async fn token(&self, access_hash: &[u8; 32]) -> StoreResult<Option<OAuthToken>> {
        self.time("oauth_token", self.inner().token(access_hash))
            .await
    }
    async fn refresh(
        &self,
        app: Id,
        refresh_hash: &[u8; 32],
        next: &OAuthToken,
    ) -> StoreResult<Option<OAuthToken>> {
        self.time(
            "oauth_refresh",
            self.inner().refresh(app, refresh_hash, next),
        )
        .await
    }
    async fn revoke(&self, app: Id, hash: &[u8; 32]) -> StoreResult<()> {
        self.time("oauth_revoke", self.inner().revoke(app, hash))
            .await
    }
    async fn revoke_user(&self, user: Id) -> StoreResult<()> {
        self.time("oauth_revoke_user", self.inner().revoke_user(user))
            .await
    }
}
