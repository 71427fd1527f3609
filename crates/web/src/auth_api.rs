//! AuthService's public API as the session routes call it: a port with two adapters, the
//! routes themselves in process (`chirp all`) and the same routes over HTTP (`chirp web`
//! in front of AuthService or the gateway). Either way the call is a public API request,
//! and the answer is AuthService's own, status and problem document included.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use chirp_core::ApiError;
use tower::ServiceExt;

/// A call to `POST {path}` with a JSON body, on behalf of a browser at `client`.
pub struct AuthCall {
    /// A path of AuthService's, e.g. `/api/v1/auth/login`.
    pub path: &'static str,
    pub body: Bytes,
    /// The browser's address, for AuthService's throttles (sent as `X-Forwarded-For`).
    pub client: Option<IpAddr>,
    /// The connection the browser's request came on, for the in-process call.
    pub connect_info: Option<ConnectInfo<SocketAddr>>,
}

/// AuthService's answer.
pub struct AuthAnswer {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub retry_after: Option<HeaderValue>,
    pub body: Bytes,
}

/// Answers are small (tokens, or a problem document); a bigger one is a broken peer.
const ANSWER_LIMIT: usize = 64 * 1024;

#[async_trait]
pub trait AuthApi: Send + Sync {
    /// Sends `call`; an AuthService that cannot be reached is a 503 naming it.
    async fn call(&self, call: AuthCall) -> Result<AuthAnswer, ApiError>;
}

/// AuthService's routes in this process.
pub struct InProcessAuthApi {
    routes: Router,
}

impl InProcessAuthApi {
    pub fn new(routes: Router) -> Self {
        InProcessAuthApi { routes }
    }
}

#[async_trait]
impl AuthApi for InProcessAuthApi {
    async fn call(&self, call: AuthCall) -> Result<AuthAnswer, ApiError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(call.path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(ip) = call.client {
            req = req.header("x-forwarded-for", ip.to_string());
        }
        let mut req = req
            .body(Body::from(call.body))
            .map_err(ApiError::internal)?;
        if let Some(info) = call.connect_info {
            req.extensions_mut().insert(info);
        }
        let res = match self.routes.clone().oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        };
        let (parts, body) = res.into_parts();
        let body = axum::body::to_bytes(body, ANSWER_LIMIT)
            .await
            .map_err(|e| ApiError::unavailable("auth", e))?;
        Ok(AuthAnswer {
            status: parts.status,
            content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
            retry_after: parts.headers.get(header::RETRY_AFTER).cloned(),
            body,
        })
    }
}

/// AuthService's public API at AuthService's own base URL. Not through a gateway: it
/// would append this process's address to `X-Forwarded-For`, and AuthService, taking
/// the last address there, would throttle every browser's logins as one client's.
pub struct HttpAuthApi {
    http: reqwest::Client,
    base: String,
}

impl HttpAuthApi {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            // Signing up and logging in hash a password (argon2id, about 50 ms, queued when
            // many run at once): 10 s is a service that has stopped answering.
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(HttpAuthApi {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }
}

#[async_trait]
impl AuthApi for HttpAuthApi {
    async fn call(&self, call: AuthCall) -> Result<AuthAnswer, ApiError> {
        let mut req = self
            .http
            .post(format!("{}{}", self.base, call.path))
            .header(header::CONTENT_TYPE, "application/json")
            .body(call.body);
        if let Some(ip) = call.client {
            req = req.header("x-forwarded-for", ip.to_string());
        }
        let res = req
            .send()
            .await
            .map_err(|e| ApiError::unavailable("auth", e))?;
        let status = res.status();
        // A proxy's own 5xx (AuthService down behind a gateway) is AuthService being down.
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            return Err(ApiError::unavailable(
                "auth",
                anyhow::anyhow!("AuthService answered {status}"),
            ));
        }
        let content_type = res.headers().get(header::CONTENT_TYPE).cloned();
        let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
        let too_big = |n: u64| {
            ApiError::unavailable("auth", anyhow::anyhow!("an answer of {n} bytes or more"))
        };
        if let Some(n) = res.content_length().filter(|n| *n > ANSWER_LIMIT as u64) {
            return Err(too_big(n));
        }
        let mut res = res;
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| ApiError::unavailable("auth", e))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > ANSWER_LIMIT {
                return Err(too_big(body.len() as u64));
            }
        }
        let body = Bytes::from(body);
        Ok(AuthAnswer {
            status,
            content_type,
            retry_after,
            body,
        })
    }
}
