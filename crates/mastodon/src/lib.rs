//! The Mastodon client API and OAuth 2, as a facade over Chirp's services, on an origin
//! of its own (its paths collide with Chirp's `/api/v1`).
//!
//! It holds no data and decides nothing: each Mastodon request becomes calls to Chirp's
//! public API (in process in `chirp all`, through the gateway in `chirp mastodon`) with
//! an access token of the user, which AuthService gives for the Mastodon token the app
//! holds ([`ports::OAuthApi::introspect`]), and each answer becomes Mastodon's entities
//! ([`entities`]), errors (`{"error"}`) and `Link` headers.

pub mod entities;
pub mod error;
mod paging;
pub mod ports;
pub mod request;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Method, Response, StatusCode};
use axum::Router;
use chirp_auth::oauth::{AppView, Scopes};
use chirp_core::http::extract::TrustForwardedFor;
use chirp_core::model::User;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{MastoError, MastoResult};
use crate::ports::{ApiCall, ChirpApi, OAuthApi};
use crate::request::Req;

pub use ports::{HttpApi, HttpOAuth, InProcessApi, InProcessOAuth};

/// The paths of the live streams (served on connections of their own).
pub const STREAM_PATHS: &[&str] = &[
    "/api/v1/streaming/user",
    "/api/v1/streaming/user/notification",
];

/// What the facade's routes need.
#[derive(Clone)]
pub struct MastodonState {
    pub api: Arc<dyn ChirpApi>,
    pub oauth: Arc<dyn OAuthApi>,
    /// Whether `X-Forwarded-For` and `X-Forwarded-Proto` come from a proxy we trust.
    pub trust_forwarded_for: TrustForwardedFor,
    /// Cancelled when the process stops: the live streams and WebSockets end then (a
    /// WebSocket has left the HTTP server's hands, whose drain would not end it).
    pub closing: tokio_util::sync::CancellationToken,
}

/// The routes of the facade.
pub fn router(state: MastodonState) -> Router {
    // The sign-in page's style sheet and icon: the web client's own.
    routes::router()
        .with_state(state)
        .merge(chirp_web::assets::router())
}

/// Who is calling: the token's user and app, and what it may do.
pub struct Caller {
    pub user: User,
    /// AuthService's access token of the user, for Chirp's API.
    pub jwt: String,
    pub scopes: Scopes,
    pub app: AppView,
}

/// A token's app, with or without a user (an app's own token).
pub struct TokenOwner {
    pub app: AppView,
    pub user: Option<(User, String)>,
    pub scopes: Scopes,
}

impl MastodonState {
    /// The owner of the request's token; 401 without a valid one.
    pub async fn token_owner(&self, req: &Req) -> MastoResult<TokenOwner> {
        let token = req.token.as_deref().ok_or_else(MastoError::unauthorized)?;
        let found = self.oauth.introspect(token).await.map_err(|e| match e {
            chirp_auth::oauth::OAuthError::Api(chirp_core::ApiError::Unauthorized(_)) => {
                MastoError::unauthorized()
            }
            other => other.into(),
        })?;
        let scopes = Scopes::parse(&found.scopes).map_err(|_| MastoError::unauthorized())?;
        let user = match (found.user, found.access_token) {
            (Some(u), Some(jwt)) => Some((u, jwt)),
            _ => None,
        };
        Ok(TokenOwner {
            app: found.app,
            user,
            scopes,
        })
    }

    /// The request's user, whose token grants `scope`: 401 without a valid token, 403
    /// for a token without the scope, 422 for an app's own token (no user).
    pub async fn caller(&self, req: &Req, scope: &str) -> MastoResult<Caller> {
        let owner = self.token_owner(req).await?;
        if !owner.scopes.grants(scope) {
            return Err(MastoError::outside_scopes());
        }
        let Some((user, jwt)) = owner.user else {
            return Err(MastoError::unprocessable(
                "This method requires an authenticated user",
            ));
        };
        Ok(Caller {
            user,
            jwt,
            scopes: owner.scopes,
            app: owner.app,
        })
    }

    /// The request's user when it carries a token (a public read shows the caller's own
    /// likes and reposts), or nobody; an invalid token is still a 401.
    pub async fn maybe_caller(&self, req: &Req, scope: &str) -> MastoResult<Option<Caller>> {
        if req.token.is_none() {
            return Ok(None);
        }
        match self.caller(req, scope).await {
            Ok(c) => Ok(Some(c)),
            // An app's own token reads as nobody.
            Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Calls Chirp's API as `who`; the answer whatever its status.
    pub async fn call(
        &self,
        req: &Req,
        who: Option<&Caller>,
        method: Method,
        uri: &str,
        body: Option<Value>,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> MastoResult<Response<Body>> {
        let mut call = ApiCall::new(method, uri);
        call.token = who.map(|c| c.jwt.clone());
        call.body = body;
        call.headers = headers;
        call.client = req.client;
        Ok(self.api.call(call).await?)
    }

    /// Calls Chirp's API as `who` and reads its JSON answer; a refusal becomes
    /// Mastodon's error with Chirp's status and detail.
    pub async fn json<T: DeserializeOwned>(
        &self,
        req: &Req,
        who: Option<&Caller>,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> MastoResult<T> {
        let res = self.call(req, who, method, uri, body, Vec::new()).await?;
        read_json(res).await
    }

    /// A GET of Chirp's API as `who`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        req: &Req,
        who: Option<&Caller>,
        uri: &str,
    ) -> MastoResult<T> {
        self.json(req, who, Method::GET, uri, None).await
    }

    /// A change through Chirp's API whose answer has no body (204).
    pub async fn act(
        &self,
        req: &Req,
        who: &Caller,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> MastoResult<()> {
        let res = self
            .call(req, Some(who), method, uri, body, Vec::new())
            .await?;
        if res.status().is_success() {
            return Ok(());
        }
        Err(refusal(res).await)
    }
}

/// The largest answer of Chirp's API read whole (a page of 100 posts is about 100 KB).
const ANSWER_LIMIT: usize = 4 * 1024 * 1024;

pub(crate) async fn read_json<T: DeserializeOwned>(res: Response<Body>) -> MastoResult<T> {
    if !res.status().is_success() {
        return Err(refusal(res).await);
    }
    let bytes = axum::body::to_bytes(res.into_body(), ANSWER_LIMIT)
        .await
        .map_err(|e| chirp_core::ApiError::unavailable("chirp-api", e))?;
    let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
    serde_json::from_slice(bytes).map_err(|e| {
        MastoError::from(chirp_core::ApiError::internal(anyhow::anyhow!(
            "an answer of Chirp's API that does not read: {e}"
        )))
    })
}

/// Chirp's refusal (a problem document) as Mastodon's error.
pub(crate) async fn refusal(res: Response<Body>) -> MastoError {
    let status = res.status();
    let retry_after = res
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = axum::body::to_bytes(res.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let detail = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let error = match status {
        StatusCode::NOT_FOUND => "Record not found".to_owned(),
        _ => detail,
    };
    MastoError {
        status,
        error,
        description: None,
        retry_after,
    }
}
