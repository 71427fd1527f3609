//! Browser sessions: the refresh token lives in a cookie no script can read (`HttpOnly`,
//! `SameSite=Lax`, `Secure` over HTTPS, sent only to these routes), and the page holds
//! only access tokens, in memory, from these routes. Each route is one call to
//! AuthService's public API; its answer (a 401, a 409 for a taken handle, a 429, a 503)
//! reaches the page as AuthService gave it.
//!
//! Cross-site request forgery: a state-changing request here must carry the
//! [`CSRF_HEADER`] (a header that a form cannot send and that a script of another site
//! can send only after a CORS preflight, which nothing here grants), and a browser that
//! says where the request comes from (`Sec-Fetch-Site`) must say this site. The
//! `SameSite=Lax` cookie is a third line: another site's POST does not carry it.

use axum::extract::FromRequestParts;
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chirp_core::http::{ApiJson, ClientAddr};
use chirp_core::model::User;
use chirp_core::openapi::ProblemSchema;
use chirp_core::ApiError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth_api::{AuthAnswer, AuthCall};
use crate::WebState;

/// The header every session request must carry (any value).
pub const CSRF_HEADER: &str = "x-chirp-csrf";

/// The cookie that holds the refresh token.
pub const COOKIE: &str = "chirp_refresh";

/// Where the browser sends the cookie: the session routes, and nothing else.
const COOKIE_PATH: &str = "/web/session";

/// How long the browser keeps the cookie: AuthService's refresh sessions last 30 days
/// (an earlier end is a 401 on the next refresh, which signs the page out).
const COOKIE_MAX_AGE_SECS: u64 = 30 * 24 * 3600;

pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::new()
        .routes(routes!(login, logout))
        .routes(routes!(signup))
        .routes(routes!(refresh))
}

/// What the page gets: the user and an access token; never the refresh token.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WebSession {
    pub user: User,
    /// An EdDSA JWT for `Authorization: Bearer`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds the access token is valid for.
    pub expires_in: u64,
}

/// AuthService's tokens, as its public API sends them.
#[derive(Deserialize)]
struct Tokens {
    user: User,
    access_token: String,
    refresh_token: String,
    token_type: String,
    expires_in: u64,
}

#[derive(Serialize, Deserialize, ToSchema)]
struct LoginForm {
    /// A handle or an email, ignoring case.
    #[schema(example = "alice")]
    login: String,
    password: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
struct SignupForm {
    /// 3 to 30 of `A-Z a-z 0-9 _`, unique ignoring case.
    #[schema(pattern = "^[A-Za-z0-9_]{3,30}$", example = "alice")]
    handle: String,
    /// An email address, unique ignoring case (at most 254 characters).
    #[schema(max_length = 254, example = "alice@example.com")]
    email: String,
    /// 8 to 1024 characters.
    #[schema(min_length = 8, max_length = 1024, example = "correct horse battery")]
    password: String,
    /// 1 to 50 characters; the handle when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 50)]
    display_name: Option<String>,
}

/// The browser's request, as far as the session routes need it.
struct Caller {
    client: ClientAddr,
    connect_info: Option<ConnectInfo<SocketAddr>>,
    /// Whether the page was served over HTTPS (the cookie is then `Secure`).
    https: bool,
}

/// A session request's caller, once the CSRF checks have passed (403 otherwise).
impl FromRequestParts<WebState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, ApiError> {
        same_site(&parts.headers)?;
        let client = ClientAddr::from_request_parts(parts, state).await?;
        let https = state.trust_forwarded_for.0
            && parts
                .headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https"));
        Ok(Caller {
            client,
            connect_info: parts.extensions.get::<ConnectInfo<SocketAddr>>().copied(),
            https,
        })
    }
}

impl Caller {
    fn call(&self, path: &'static str, body: Bytes) -> AuthCall {
        AuthCall {
            path,
            body,
            client: self.client.0,
            connect_info: self.connect_info,
        }
    }
}

/// The CSRF checks of the module doc.
fn same_site(headers: &HeaderMap) -> Result<(), ApiError> {
    if !headers.contains_key(CSRF_HEADER) {
        return Err(ApiError::Forbidden(format!(
            "a session request must come from Chirp's pages (the {CSRF_HEADER} header)"
        )));
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    match site {
        None | Some("same-origin") => Ok(()),
        Some(other) => Err(ApiError::Forbidden(format!(
            "a session request must come from this site, not from `{other}`"
        ))),
    }
}

/// The refresh token of the request's cookie.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that stores `token` (or, with `None`, deletes the cookie).
fn set_cookie(token: Option<&str>, https: bool) -> Result<HeaderValue, ApiError> {
    let (value, max_age) = match token {
        Some(t) => (t, COOKIE_MAX_AGE_SECS),
        None => ("", 0),
    };
    // A cookie value is printable ASCII without `"`, `,`, `;`, `\` and space (RFC 6265).
    if !value
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"\",;\\".contains(&b))
    {
        return Err(ApiError::internal(anyhow::anyhow!(
            "a refresh token that cannot be a cookie value"
        )));
    }
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .map_err(ApiError::internal)
}

fn no_store(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// AuthService's answer as it came (a refusal keeps its status, problem and `Retry-After`).
fn passed_on(answer: AuthAnswer) -> Response {
    let mut res = (answer.status, answer.body).into_response();
    let h = res.headers_mut();
    if let Some(ct) = answer.content_type {
        h.insert(header::CONTENT_TYPE, ct);
    }
    if let Some(ra) = answer.retry_after {
        h.insert(header::RETRY_AFTER, ra);
    }
    res
}

/// What a refusal of AuthService's does to the cookie.
#[derive(Clone, Copy, PartialEq)]
enum OnRefusal {
    /// Keep it (a wrong password does not end the session the browser may have).
    Keep,
    /// Delete it (a refused refresh: its session is over).
    Delete,
}

/// A session begun or renewed: the access token to the page, the refresh token to the
/// cookie. Anything but success is passed on.
fn session_answer(
    answer: AuthAnswer,
    caller: &Caller,
    status: StatusCode,
    on_refusal: OnRefusal,
) -> Response {
    if !answer.status.is_success() {
        let refused = answer.status == StatusCode::UNAUTHORIZED && on_refusal == OnRefusal::Delete;
        let mut res = passed_on(answer);
        if refused {
            if let Ok(clear) = set_cookie(None, caller.https) {
                res.headers_mut().append(header::SET_COOKIE, clear);
            }
        }
        no_store(&mut res);
        return res;
    }
    let tokens: Tokens = match serde_json::from_slice(&answer.body) {
        Ok(t) => t,
        Err(e) => {
            return ApiError::unavailable("auth", anyhow::anyhow!("tokens that do not parse: {e}"))
                .into_response()
        }
    };
    let cookie = match set_cookie(Some(&tokens.refresh_token), caller.https) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let session = WebSession {
        user: tokens.user,
        access_token: tokens.access_token,
        token_type: tokens.token_type,
        expires_in: tokens.expires_in,
    };
    let mut res = (status, axum::Json(session)).into_response();
    res.headers_mut().append(header::SET_COOKIE, cookie);
    no_store(&mut res);
    res
}

fn json<T: Serialize>(value: &T) -> Result<Bytes, ApiError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

/// Sign in: a new session, its refresh token kept in the cookie.
#[utoipa::path(
    post,
    operation_id = "web_login",
    path = "/web/session",
    tag = "web",
    request_body = LoginForm,
    params(("X-Chirp-Csrf" = String, Header, description = "Any value: proves the request comes from Chirp's pages")),
    responses(
        (status = 200, description = "The session's user and first access token; the refresh token is in the `chirp_refresh` cookie", body = WebSession,
            headers(("Set-Cookie" = String, description = "chirp_refresh (HttpOnly, SameSite=Lax, Path=/web/session)"))),
        (status = 401, description = "Wrong login or password", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not from Chirp's pages (no X-Chirp-Csrf header, or another site)", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn login(
    State(s): State<WebState>,
    caller: Caller,
    ApiJson(form): ApiJson<LoginForm>,
) -> Result<Response, ApiError> {
    begin(&s, &caller, "/api/v1/auth/login", &form, StatusCode::OK).await
}

/// A new session from AuthService's `path` (log in, sign up), answered with `status`.
async fn begin<F: Serialize>(
    s: &WebState,
    caller: &Caller,
    path: &'static str,
    form: &F,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let answer = s.auth.call(caller.call(path, json(form)?)).await?;
    Ok(session_answer(answer, caller, status, OnRefusal::Keep))
}

/// Sign up: a new account, and a session of it as [`login`] begins one.
#[utoipa::path(
    post,
    operation_id = "web_signup",
    path = "/web/signup",
    tag = "web",
    request_body = SignupForm,
    params(("X-Chirp-Csrf" = String, Header, description = "Any value: proves the request comes from Chirp's pages")),
    responses(
        (status = 201, description = "The new account's user and first access token; the refresh token is in the `chirp_refresh` cookie", body = WebSession,
            headers(("Set-Cookie" = String, description = "chirp_refresh (HttpOnly, SameSite=Lax, Path=/web/session)"))),
        (status = 403, description = "Not from Chirp's pages", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The handle or email is taken", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn signup(
    State(s): State<WebState>,
    caller: Caller,
    ApiJson(form): ApiJson<SignupForm>,
) -> Result<Response, ApiError> {
    begin(
        &s,
        &caller,
        "/api/v1/auth/signup",
        &form,
        StatusCode::CREATED,
    )
    .await
}

#[derive(Serialize)]
struct RefreshBody<'a> {
    refresh_token: &'a str,
}

/// A new access token for the session of the cookie (whose refresh token is rotated).
#[utoipa::path(
    post,
    operation_id = "web_refresh",
    path = "/web/session/refresh",
    tag = "web",
    params(("X-Chirp-Csrf" = String, Header, description = "Any value: proves the request comes from Chirp's pages")),
    responses(
        (status = 200, description = "A new access token; the cookie holds the next refresh token", body = WebSession),
        (status = 401, description = "No session, or one that has ended (the cookie is deleted)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not from Chirp's pages", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn refresh(
    State(s): State<WebState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(token) = cookie_token(&headers) else {
        let mut res = ApiError::Unauthorized("not signed in".into()).into_response();
        no_store(&mut res);
        return Ok(res);
    };
    let body = json(&RefreshBody {
        refresh_token: &token,
    })?;
    let answer = s
        .auth
        .call(caller.call("/api/v1/auth/refresh", body))
        .await?;
    Ok(session_answer(
        answer,
        &caller,
        StatusCode::OK,
        OnRefusal::Delete,
    ))
}

/// Sign out: AuthService ends the cookie's session (its refresh tokens stop working) and
/// the cookie is deleted. Without a session, nothing to end (204 all the same).
#[utoipa::path(
    delete,
    operation_id = "web_logout",
    path = "/web/session",
    tag = "web",
    params(("X-Chirp-Csrf" = String, Header, description = "Any value: proves the request comes from Chirp's pages")),
    responses(
        (status = 204, description = "The session is over; the cookie is deleted"),
        (status = 403, description = "Not from Chirp's pages", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn logout(
    State(s): State<WebState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = cookie_token(&headers) {
        let body = json(&RefreshBody {
            refresh_token: &token,
        })?;
        let answer = s
            .auth
            .call(caller.call("/api/v1/auth/logout", body))
            .await?;
        // Keep the cookie while the session could not be ended: the page says so, and
        // signing out again can still end it.
        if !answer.status.is_success() {
            let mut res = passed_on(answer);
            no_store(&mut res);
            return Ok(res);
        }
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, set_cookie(None, caller.https)?);
    no_store(&mut res);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_lax_and_secure_over_https() {
        let c = set_cookie(Some("abc-_.~"), true).unwrap();
        let c = c.to_str().unwrap();
        assert!(c.starts_with("chirp_refresh=abc-_.~;"), "{c}");
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/web/session"] {
            assert!(c.contains(part), "{c} lacks {part}");
        }
        let plain = set_cookie(Some("abc"), false).unwrap();
        assert!(!plain.to_str().unwrap().contains("Secure"));
        let gone = set_cookie(None, false).unwrap();
        assert!(gone.to_str().unwrap().contains("Max-Age=0"));
        assert!(set_cookie(Some("a;b"), false).is_err());
    }

    #[test]
    fn the_token_is_read_from_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; chirp_refresh=tok; b=2"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("tok"));
        h.insert(header::COOKIE, HeaderValue::from_static("chirp_refresh="));
        assert_eq!(cookie_token(&h), None);
    }

    #[test]
    fn a_request_without_the_header_or_from_another_site_is_refused() {
        let mut h = HeaderMap::new();
        assert!(same_site(&h).is_err());
        h.insert(CSRF_HEADER, HeaderValue::from_static("1"));
        assert!(same_site(&h).is_ok());
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_site(&h).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_site(&h).is_ok());
    }
}
