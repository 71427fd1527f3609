//! AuthService's logic: signup, refresh rotation with reuse detection, logout (login, with
//! its limits, is `login.rs`). Storage is behind the ports; this file decides.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chirp_core::events::{Event, EventBody, EventStamp};
use chirp_core::http::metrics::CounterMetric;
use chirp_core::http::Telemetry;
use chirp_core::limits::{address_key, count_attempt, Limit, Limiter};
use chirp_core::model::User;
use chirp_core::peers::Directory;
use chirp_core::time::{now_ms, rfc3339};
use chirp_core::token::{sign, Claims, TokenVerifier, ISSUER};
use chirp_core::{ApiError, ApiResult, Id, IdGenerator};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::domain::{Bio, DisplayName, Email, Handle, Password};
use crate::keys::SigningKeys;
use crate::passwords::PasswordHashing;
use crate::ports::{
    CreateError, Identity, IdentityStore, ProfileChange, ProfileStore, PublicProfile, Rotation,
    SessionStore, TokenRef,
};

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Logins tried on one account (failed, or being checked) per window.
    pub login_per_account: Limit,
    /// Logins tried from one client address (failed, or being checked) per window.
    pub login_per_address: Limit,
    /// Signups from one client address per window.
    pub signup_per_address: Limit,
}

impl Default for AuthConfig {
    fn default() -> Self {
        let quarter_hour = Duration::from_secs(15 * 60);
        AuthConfig {
            access_ttl: quarter_hour,
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            login_per_account: Limit::new(10, quarter_hour),
            login_per_address: Limit::new(100, quarter_hour),
            signup_per_address: Limit::new(5, Duration::from_secs(30 * 60)),
        }
    }
}

/// Tokens of a session, and its user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tokens {
    pub user: User,
    /// An EdDSA JWT: `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Single-use: trade it at `/api/v1/auth/refresh` for the next tokens.
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds the access token is valid for.
    pub expires_in: u64,
}

pub struct SignupRequest {
    pub handle: String,
    pub email: String,
    pub password: String,
    pub display_name: Option<String>,
}

/// Logins by outcome: success, failure (wrong login or password), throttled.
#[derive(Clone, Default)]
pub struct LoginMetrics {
    pub success: CounterMetric,
    pub failure: CounterMetric,
    pub throttled: CounterMetric,
}

impl LoginMetrics {
    pub fn new(telemetry: &Telemetry) -> Self {
        let logins = |outcome| {
            telemetry.counter_with(
                "logins",
                "Login attempts, by outcome",
                &[("service", "auth"), ("outcome", outcome)],
            )
        };
        LoginMetrics {
            success: logins("success"),
            failure: logins("failure"),
            throttled: logins("throttled"),
        }
    }
}

/// The answer of `GET /api/v1/auth/me/export`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Export {
    /// When it was made (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub exported_at: String,
    pub user: User,
    pub email: String,
    #[serde(flatten)]
    pub data: chirp_core::model::UserData,
}

pub struct AuthService {
    pub logins: LoginMetrics,
    pub config: AuthConfig,
    pub identities: Arc<dyn IdentityStore>,
    pub profiles: Arc<dyn ProfileStore>,
    pub sessions: Arc<dyn SessionStore>,
    /// Attempts at logins and signups, per account and per client address.
    pub limiter: Arc<dyn Limiter>,
    /// Users with their counts, for the `user` of a token response.
    pub directory: Arc<dyn Directory>,
    pub passwords: PasswordHashing,
    /// The key set; the first key signs. `verifier` knows every key of it.
    pub keys: SigningKeys,
    pub verifier: TokenVerifier,
    pub ids: Arc<IdGenerator>,
    /// Told after each commit that wrote to the outbox.
    pub outbox_wake: Arc<Notify>,
    /// OAuth apps and tokens, for the Mastodon API (`None` where it is not served).
    pub oauth: Option<Arc<dyn crate::oauth::OAuthStore>>,
}

fn handle_taken() -> ApiError {
    ApiError::Conflict("that handle is taken".into())
}

fn email_taken() -> ApiError {
    ApiError::Conflict("that email is already registered".into())
}

impl AuthService {
    /// A new account, and a session of it. `client` is the address it came from: each
    /// address may sign up so many accounts per window (counted once the input is valid,
    /// before the password is hashed).
    pub async fn signup(&self, req: SignupRequest, client: Option<IpAddr>) -> ApiResult<Tokens> {
        let invalid = |e: crate::domain::Invalid| ApiError::Unprocessable(e.0);
        let handle = Handle::parse(&req.handle).map_err(invalid)?;
        let email = Email::parse(&req.email).map_err(invalid)?;
        let password = Password::parse(&req.password).map_err(invalid)?;
        let display_name = match &req.display_name {
            Some(d) => DisplayName::parse(d).map_err(invalid)?,
            None => DisplayName::from_handle(&handle),
        };
        if let Some(ip) = client {
            let key = format!("signup:address:{}", address_key(ip));
            let limit = self.config.signup_per_address;
            let detail = "too many signups from this address; try again later";
            count_attempt(&*self.limiter, &key, limit, now_ms(), detail).await?;
        }
        let hash = self.passwords.hash(password.expose().to_owned()).await?;
        let id = self.ids.next_id()?;
        let created_at_ms = now_ms();
        let identity = Identity {
            id,
            handle: handle.as_str().to_owned(),
            email: email.as_str().to_owned(),
            display_name: display_name.as_str().to_owned(),
            password_hash: hash,
            created_at_ms,
        };
        let event = Event {
            id: self.ids.next_id()?,
            version: 1,
            occurred_at_ms: created_at_ms,
            trace: chirp_core::traces::current(),
            body: EventBody::UserCreated {
                user_id: id,
                handle: identity.handle.clone(),
                display_name: identity.display_name.clone(),
                created_at_ms,
            },
        };
        match self.identities.insert(&identity).await {
            Ok(()) => {}
            Err(CreateError::HandleTaken) => return Err(handle_taken()),
            Err(CreateError::EmailTaken) => return Err(email_taken()),
            Err(CreateError::Store(e)) => return Err(e.into()),
        }
        // The session before the profile: the profile's event tells every other service
        // that the user exists, so nothing is published until the signup can answer. A
        // session store that is down takes the identity back, so that the same signup can
        // be tried again (not a 503 for an account that exists, and a 409 for its retry).
        let (session, refresh_token) = match self.start_session(id).await {
            Ok(started) => started,
            Err(e) => {
                self.take_identity_back(id).await;
                return Err(e);
            }
        };
        let profile = PublicProfile {
            id,
            handle: identity.handle.clone(),
            display_name: identity.display_name.clone(),
            bio: String::new(),
            created_at_ms,
        };
        if let Err(e) = self.profiles.create(&profile, &event).await {
            // Without its profile the account cannot be used: take the identity back so
            // that the same signup can be tried again.
            self.take_identity_back(id).await;
            self.abandon_session(id, session).await;
            return Err(e.into());
        }
        self.outbox_wake.notify_one();
        let user = User {
            id,
            handle: identity.handle,
            display_name: identity.display_name,
            bio: String::new(),
            created_at: rfc3339(created_at_ms),
            followers_count: 0,
            following_count: 0,
            posts_count: 0,
        };
        Ok(self.tokens(user, session, refresh_token))
    }

    pub async fn refresh(&self, refresh_token: &str) -> ApiResult<Tokens> {
        let invalid = || ApiError::Unauthorized("the refresh token is invalid".into());
        let old = token_ref(refresh_token).ok_or_else(invalid)?;
        let (new_token, new_ref) = new_refresh_token(old.session);
        let now = now_ms();
        let expires = now + self.config.refresh_ttl.as_millis() as i64;
        match self.sessions.rotate(&old, &new_ref, now, expires).await? {
            Rotation::Rotated { user, session } => {
                // A deleted account's sessions end with it.
                let user = match self.user(user).await {
                    Err(ApiError::NotFound(_)) => {
                        self.sessions.revoke(session).await?;
                        return Err(invalid());
                    }
                    other => other?,
                };
                Ok(self.tokens(user, session, new_token))
            }
            Rotation::Reused { session } => {
                tracing::warn!(session = %session, "refresh token reused; session revoked");
                self.sessions.revoke(session).await?;
                Err(invalid())
            }
            Rotation::Invalid => Err(invalid()),
        }
    }

    /// Ends the session of `refresh_token`. Unknown tokens end nothing, quietly.
    pub async fn logout(&self, refresh_token: &str) -> ApiResult<()> {
        let Some(token) = token_ref(refresh_token) else {
            return Ok(());
        };
        if self.sessions.knows(&token).await? {
            self.sessions.revoke(token.session).await?;
        }
        Ok(())
    }

    /// Changes the caller's display name and bio (each when given); the user as they now
    /// are. Every field is checked before anything is written.
    pub async fn update_profile(
        &self,
        id: Id,
        display_name: Option<&str>,
        bio: Option<&str>,
    ) -> ApiResult<User> {
        let invalid = |e: crate::domain::Invalid| ApiError::Unprocessable(e.0);
        let change = ProfileChange {
            display_name: display_name
                .map(DisplayName::parse)
                .transpose()
                .map_err(invalid)?
                .map(|d| d.as_str().to_owned()),
            bio: bio
                .map(Bio::parse)
                .transpose()
                .map_err(invalid)?
                .map(|b| b.as_str().to_owned()),
        };
        let stamp = EventStamp {
            id: self.ids.next_id()?,
            occurred_at_ms: now_ms(),
            trace: chirp_core::traces::current(),
        };
        let Some(profile) = self.profiles.update(id, &change, &stamp).await? else {
            return Err(ApiError::Unauthorized(
                "the account no longer exists".into(),
            ));
        };
        self.outbox_wake.notify_one();
        // The counts come from the directory; the profile as written, so that the answer
        // shows the change even where the directory reads a replica.
        let mut user = self.user(id).await?;
        user.display_name = profile.display_name;
        user.bio = profile.bio;
        Ok(user)
    }

    pub async fn user(&self, id: Id) -> ApiResult<User> {
        self.directory
            .users(&[id])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::NotFound("no such user".into()))
    }

    /// Everything Chirp holds about `caller`: the account (profile and e-mail, never the
    /// password's hash or a token) and, from the other services, posts, likes, follows
    /// both ways, blocks and mutes.
    pub async fn export(&self, caller: Id) -> ApiResult<Export> {
        let (user, identity) = self.account(caller).await?;
        let data = self.directory.user_data(caller).await?;
        Ok(Export {
            exported_at: chirp_core::time::rfc3339(chirp_core::time::now_ms()),
            user,
            email: identity.email,
            data,
        })
    }

    /// `caller`'s user and identity: the user's 404 when it has no profile, 401 when it
    /// has no identity.
    pub(crate) async fn account(&self, caller: Id) -> ApiResult<(User, Identity)> {
        let user = self.user(caller).await?;
        let identity = self
            .identities
            .find_by_login(&user.handle)
            .await?
            .filter(|i| i.id == caller)
            .ok_or_else(|| ApiError::Unauthorized("no such account".into()))?;
        Ok((user, identity))
    }

    pub(crate) async fn open_session(&self, user: User) -> ApiResult<Tokens> {
        let (session, token) = self.start_session(user.id).await?;
        Ok(self.tokens(user, session, token))
    }

    /// A new session of `user`: its id and its first refresh token.
    async fn start_session(&self, user: Id) -> ApiResult<(Id, String)> {
        let session = self.ids.next_id()?;
        let (token, token_ref) = new_refresh_token(session);
        let expires = now_ms() + self.config.refresh_ttl.as_millis() as i64;
        self.sessions.start(user, &token_ref, expires).await?;
        Ok((session, token))
    }

    /// Removes the identity of a signup that could not finish.
    async fn take_identity_back(&self, id: Id) {
        if let Err(undo) = self.identities.remove(id).await {
            tracing::error!(user = %id, error = format!("{undo:#}"), "the identity of a failed signup remains");
        }
    }

    /// Ends a session whose token was never handed out (its signup failed). One left
    /// behind cannot be used, since nobody holds its token, and it expires with its TTL.
    async fn abandon_session(&self, user: Id, session: Id) {
        if let Err(e) = self.sessions.revoke(session).await {
            tracing::warn!(user = %user, session = %session, error = format!("{e:#}"), "the session of a failed signup remains until it expires");
        }
    }

    fn tokens(&self, user: User, session: Id, refresh_token: String) -> Tokens {
        let now = now_ms() / 1000;
        let ttl = self.config.access_ttl.as_secs();
        let claims = Claims {
            iss: ISSUER.into(),
            sub: user.id.to_string(),
            iat: now,
            exp: now + ttl as i64,
            sid: session.to_string(),
        };
        Tokens {
            access_token: sign(self.keys.signing(), &claims),
            refresh_token,
            token_type: "Bearer",
            expires_in: ttl,
            user,
        }
    }
}

/// A new refresh token of `session`, `<session>.<32 random bytes, base64url>`, and what the
/// stores keep of it.
pub(crate) fn new_refresh_token(session: Id) -> (String, TokenRef) {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!("{session}.{}", URL_SAFE_NO_PAD.encode(raw));
    let hash = Sha256::digest(token.as_bytes()).into();
    (token, TokenRef { session, hash })
}

/// What the stores know a presented token by; `None` for anything not of our shape.
pub(crate) fn token_ref(token: &str) -> Option<TokenRef> {
    if token.len() > 128 {
        return None;
    }
    let (session, secret) = token.split_once('.')?;
    if secret.len() != 43 {
        return None;
    }
    Some(TokenRef {
        session: session.parse().ok()?,
        hash: Sha256::digest(token.as_bytes()).into(),
    })
}
