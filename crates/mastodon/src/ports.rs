//! What the facade calls: Chirp's public API ([`ChirpApi`]) for everything a user does,
//! and AuthService's OAuth ([`OAuthApi`]) for apps and tokens. Each has two adapters: in
//! process (`chirp all`: the API's own router, AuthService itself) and over HTTP
//! (`chirp mastodon`: the gateway, AuthService's public and internal APIs).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use axum::Router;
use chirp_auth::oauth::routes::{Code, OAuthErrorBody, Presented};
use chirp_auth::oauth::{
    AppView, Authorization, Introspection, NewApp, OAuthError, Revocation, TokenGrant,
    TokenRequest, UserGrant,
};
use chirp_auth::AuthService;
use chirp_core::peers_http::INTERNAL_SECRET_HEADER;
use chirp_core::ApiError;
use futures::TryStreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::ServiceExt;

/// A request to Chirp's public API, on behalf of a client.
pub struct ApiCall {
    pub method: Method,
    /// Path and query, e.g. `/api/v1/timelines/home?limit=20`.
    pub uri: String,
    /// The user's access token (AuthService's JWT), if the call is theirs.
    pub token: Option<String>,
    pub body: Option<serde_json::Value>,
    /// Headers passed on as they are (`Idempotency-Key`, `Last-Event-ID`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The client's address, for the API's limits.
    pub client: Option<IpAddr>,
}

impl ApiCall {
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        ApiCall {
            method,
            uri: uri.into(),
            token: None,
            body: None,
            headers: Vec::new(),
            client: None,
        }
    }

    fn headers(&self) -> HeaderMap {
        self.headers_with_client(true)
    }

    fn headers_with_client(&self, client: bool) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(token) = &self.token {
            if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {token}")) {
                v.set_sensitive(true);
                headers.insert(header::AUTHORIZATION, v);
            }
        }
        if self.body.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if let (Some(ip), true) = (self.client, client) {
            if let Ok(v) = HeaderValue::from_str(&ip.to_string()) {
                headers.insert("x-forwarded-for", v);
            }
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        headers
    }

    fn body(&self) -> Vec<u8> {
        self.body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default()
    }
}

/// Chirp's public API. An answer of any status is an answer (the caller reads its problem
/// document); an API that cannot be reached is a 503 naming it.
#[async_trait]
pub trait ChirpApi: Send + Sync {
    async fn call(&self, call: ApiCall) -> Result<Response<Body>, ApiError>;
}

/// The public API's router in this process (`chirp all`).
pub struct InProcessApi {
    routes: Router,
}

impl InProcessApi {
    pub fn new(routes: Router) -> Self {
        InProcessApi { routes }
    }
}

#[async_trait]
impl ChirpApi for InProcessApi {
    async fn call(&self, call: ApiCall) -> Result<Response<Body>, ApiError> {
        let mut req = Request::builder()
            .method(call.method.clone())
            .uri(&call.uri)
            .body(Body::from(call.body()))
            .map_err(ApiError::internal)?;
        *req.headers_mut() = call.headers_with_client(call.uri.starts_with("/api/v1/auth/"));
        // The client was counted once, as the facade's request, against the API's request
        // limits; its calls in process are not counted again (one request is many calls),
        // except AuthService's, whose signup and login limits are per address.
        if let (Some(ip), true) = (call.client, call.uri.starts_with("/api/v1/auth/")) {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(ip, 0)));
        }
        match self.routes.clone().oneshot(req).await {
            Ok(res) => Ok(res),
            Err(never) => match never {},
        }
    }
}

/// The public API over HTTP: the gateway for most calls, and AuthService itself for its
/// own (`/api/v1/auth/*`), so that its login and signup limits see the client's address
/// (a gateway would append this process's own).
pub struct HttpApi {
    http: reqwest::Client,
    streams: reqwest::Client,
    api: String,
    auth: String,
}

impl HttpApi {
    pub fn new(api: &str, auth: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            // Signing up hashes a password (argon2id, about 50 ms, queued when many run
            // at once): 10 s is an API that has stopped answering.
            .timeout(Duration::from_secs(10))
            .build()?;
        // A live stream's answer lasts as long as the client stays.
        let streams = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(HttpApi {
            http,
            streams,
            api: api.trim_end_matches('/').to_owned(),
            auth: auth.trim_end_matches('/').to_owned(),
        })
    }
}

#[async_trait]
impl ChirpApi for HttpApi {
    async fn call(&self, call: ApiCall) -> Result<Response<Body>, ApiError> {
        let (client, base) = match call.uri.as_str() {
            u if u.starts_with("/api/v1/streaming") => (&self.streams, &self.api),
            u if u.starts_with("/api/v1/auth/") => (&self.http, &self.auth),
            _ => (&self.http, &self.api),
        };
        let res = client
            .request(call.method.clone(), format!("{base}{}", call.uri))
            .headers(call.headers())
            .body(call.body())
            .send()
            .await
            // Without the URL, whose query may hold a search or a handle (never logged).
            .map_err(|e| ApiError::unavailable("chirp-api", e.without_url()))?;
        let status = res.status();
        // A gateway's own 5xx (the service behind it down) is that service unavailable.
        if status.is_server_error() && status != reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Err(ApiError::unavailable(
                "chirp-api",
                anyhow::anyhow!("the API answered {status}"),
            ));
        }
        let mut out = Response::builder().status(status);
        for name in [header::CONTENT_TYPE, header::RETRY_AFTER, header::LINK] {
            if let Some(v) = res.headers().get(&name) {
                out = out.header(name, v.clone());
            }
        }
        let body = Body::from_stream(res.bytes_stream().map_err(std::io::Error::other));
        out.body(body).map_err(ApiError::internal)
    }
}

/// AuthService's OAuth: apps, codes, tokens.
#[async_trait]
pub trait OAuthApi: Send + Sync {
    async fn create_app(&self, new: NewApp) -> Result<AppView, OAuthError>;
    async fn app(&self, client_id: &str) -> Result<AppView, OAuthError>;
    /// Whether an authorization request is one the sign-in page may show.
    async fn check(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> Result<AppView, OAuthError>;
    async fn authorize(&self, a: Authorization) -> Result<String, OAuthError>;
    async fn token(&self, req: TokenRequest) -> Result<TokenGrant, OAuthError>;
    async fn grant_user(&self, grant: UserGrant) -> Result<TokenGrant, OAuthError>;
    async fn revoke(&self, r: Revocation) -> Result<(), OAuthError>;
    async fn introspect(&self, token: &str) -> Result<Introspection, OAuthError>;
}

/// AuthService in this process.
pub struct InProcessOAuth(pub Arc<AuthService>);

#[async_trait]
impl OAuthApi for InProcessOAuth {
    async fn create_app(&self, new: NewApp) -> Result<AppView, OAuthError> {
        Ok(self.0.create_app(new).await?)
    }
    async fn app(&self, client_id: &str) -> Result<AppView, OAuthError> {
        Ok(self.0.app(client_id).await?)
    }
    async fn check(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> Result<AppView, OAuthError> {
        self.0
            .check_authorization(client_id, redirect_uri, scope)
            .await
    }
    async fn authorize(&self, a: Authorization) -> Result<String, OAuthError> {
        self.0.authorize(a).await
    }
    async fn token(&self, req: TokenRequest) -> Result<TokenGrant, OAuthError> {
        self.0.token(req).await
    }
    async fn grant_user(&self, grant: UserGrant) -> Result<TokenGrant, OAuthError> {
        self.0.grant_user(grant).await
    }
    async fn revoke(&self, r: Revocation) -> Result<(), OAuthError> {
        self.0.revoke_token(r).await
    }
    async fn introspect(&self, token: &str) -> Result<Introspection, OAuthError> {
        Ok(self.0.introspect(token).await?)
    }
}

/// AuthService's internal OAuth routes over HTTP.
pub struct HttpOAuth {
    http: reqwest::Client,
    base: String,
}

impl HttpOAuth {
    /// The client of AuthService's internal API at `base`, with the services' secret.
    pub fn new(base: &str, secret: Option<&str>) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(secret) = secret {
            let mut value = HeaderValue::from_str(secret)?;
            value.set_sensitive(true);
            headers.insert(INTERNAL_SECRET_HEADER, value);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            // Authorizing checks a password (argon2id).
            .timeout(Duration::from_secs(10))
            .default_headers(headers)
            .build()?;
        Ok(HttpOAuth {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    async fn call<R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<R, OAuthError> {
        let down = |e: anyhow::Error| OAuthError::Api(ApiError::unavailable("auth", e));
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let res = req.send().await.map_err(|e| down(e.into()))?;
        let status = res.status();
        let retry_after = res
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let bytes = res.bytes().await.map_err(|e| down(e.into()))?;
        if status.is_success() {
            let bytes: &[u8] = if status == reqwest::StatusCode::NO_CONTENT {
                b"null"
            } else {
                &bytes
            };
            return serde_json::from_slice(bytes).map_err(|e| down(e.into()));
        }
        let Ok(err) = serde_json::from_slice::<OAuthErrorBody>(&bytes) else {
            return Err(down(anyhow::anyhow!("AuthService answered {status}")));
        };
        let d = err.error_description;
        Err(match err.error.as_str() {
            "invalid_request" => OAuthError::InvalidRequest(d),
            "invalid_client" => OAuthError::InvalidClient,
            "invalid_grant" => OAuthError::InvalidGrant(d),
            "unsupported_grant_type" => OAuthError::UnsupportedGrantType,
            "invalid_scope" => OAuthError::InvalidScope(d),
            _ => OAuthError::Api(match status.as_u16() {
                400 => ApiError::BadRequest(d),
                401 => ApiError::Unauthorized(d),
                404 => ApiError::NotFound(d),
                422 => ApiError::Unprocessable(d),
                429 => ApiError::TooManyRequests {
                    detail: d,
                    retry_after: Duration::from_secs(retry_after.unwrap_or(1)),
                },
                _ => ApiError::unavailable("auth", anyhow::anyhow!("{status}: {d}")),
            }),
        })
    }
}

fn post<T: Serialize>(body: &T) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(body).unwrap_or_default())
}

#[async_trait]
impl OAuthApi for HttpOAuth {
    async fn create_app(&self, new: NewApp) -> Result<AppView, OAuthError> {
        self.call(Method::POST, "/internal/v1/oauth/apps", post(&new))
            .await
    }
    async fn app(&self, client_id: &str) -> Result<AppView, OAuthError> {
        // Client ids are base64url: nothing to escape in a path.
        if !client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(OAuthError::Api(ApiError::NotFound("no such app".into())));
        }
        let path = format!("/internal/v1/oauth/apps/{client_id}");
        self.call(Method::GET, &path, None).await
    }
    async fn check(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> Result<AppView, OAuthError> {
        let body = serde_json::json!({
            "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
        });
        self.call(Method::POST, "/internal/v1/oauth/check", post(&body))
            .await
    }
    async fn authorize(&self, a: Authorization) -> Result<String, OAuthError> {
        let code: Code = self
            .call(Method::POST, "/internal/v1/oauth/authorize", post(&a))
            .await?;
        Ok(code.code)
    }
    async fn token(&self, req: TokenRequest) -> Result<TokenGrant, OAuthError> {
        self.call(Method::POST, "/internal/v1/oauth/token", post(&req))
            .await
    }
    async fn grant_user(&self, grant: UserGrant) -> Result<TokenGrant, OAuthError> {
        self.call(Method::POST, "/internal/v1/oauth/grant", post(&grant))
            .await
    }
    async fn revoke(&self, r: Revocation) -> Result<(), OAuthError> {
        self.call(Method::POST, "/internal/v1/oauth/revoke", post(&r))
            .await
    }
    async fn introspect(&self, token: &str) -> Result<Introspection, OAuthError> {
        let body = Presented {
            token: token.to_owned(),
        };
        self.call(Method::POST, "/internal/v1/oauth/introspect", post(&body))
            .await
    }
}
