//! Extractors whose rejections are problem documents with the statuses of API.md.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::http::serve::BodyReadTimeout;
use crate::id::Id;
use crate::token::{TokenError, TokenVerifier};

/// A JSON object body: 400 when it is not an object, does not parse or has wrong types, 413 over the limit, 415
/// when it says it is something other than JSON, 408 when it does not arrive in time.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(ct) = req.headers().get(CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if !(essence == "application/json" || essence.ends_with("+json")) {
                return Err(ApiError::UnsupportedMediaType(
                    "the body must be application/json".into(),
                ));
            }
        }
        // Within the listener's deadline for a body (a client that trickles one would hold
        // its connection and its handler for ever).
        let deadline = req.extensions().get::<BodyReadTimeout>().map(|t| t.0);
        let read = Bytes::from_request(req, state);
        let read = match deadline {
            Some(deadline) => tokio::time::timeout(deadline, read).await.map_err(|_| {
                ApiError::RequestTimeout(format!(
                    "the body did not arrive within {} s",
                    deadline.as_secs()
                ))
            })?,
            None => read.await,
        };
        let bytes = read.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(ref inner)
                if inner.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::PayloadTooLarge("the body is over the size limit".into())
            }
            other => ApiError::BadRequest(other.body_text()),
        })?;
        // Every body of the API is an object. Without this check a body such as `[..]`
        // or `null` would be read into a struct whose fields are all optional (serde takes
        // a sequence for a struct), and do what an empty object does.
        if !is_json_object(&bytes) {
            return Err(ApiError::BadRequest(
                "the body must be a JSON object".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
    }
}

/// Whether `body` starts, after JSON's white space, with the `{` of an object.
fn is_json_object(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| *b == b'{')
}

/// Query parameters: 400 when they do not fit `T`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// An id in the path. Something that is not an id names no resource: 404.
pub struct PathId(pub Id);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("no such resource".into()))?;
        raw.parse()
            .map(PathId)
            .map_err(|_| ApiError::NotFound(format!("no resource with id {raw:?}")))
    }
}

/// The caller, from a valid access token.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: Id,
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser
where
    TokenVerifier: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // Already checked (by the rate limits, which count writes per user).
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(*user);
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::Unauthorized("an access token is required".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::Unauthorized("use 'Authorization: Bearer <token>'".into()))?;
        let verifier = TokenVerifier::from_ref(state);
        AuthUser::from_token(token, &verifier, parts).await
    }
}

impl AuthUser {
    /// The caller of an access token given some other way than the `Authorization`
    /// header (a stream's `?access_token=`, for browsers' `EventSource`), checked as the
    /// header's is.
    pub async fn from_token(
        token: &str,
        verifier: &TokenVerifier,
        parts: &Parts,
    ) -> Result<Self, ApiError> {
        let now = crate::time::now_ms() / 1000;
        match verifier.verify_fetching(token, now).await {
            Ok((id, claims)) => {
                // A revocation store that cannot be reached revokes nothing, as a limiter
                // that cannot be reached limits nothing: the request needs its own
                // stores, and a deleted account's profile, which its writes need, is
                // gone already.
                match verifier.is_revoked(id, &claims).await {
                    Ok(false) => {}
                    Ok(true) => {
                        return Err(ApiError::Unauthorized(
                            "the account of this access token no longer exists".into(),
                        ))
                    }
                    Err(e) => tracing::warn!(
                        error = format!("{e:#}"),
                        "the token revocations could not be read; not checking"
                    ),
                }
                // The request log names the user.
                if let Some(slot) = parts.extensions.get::<crate::http::layers::RequestUser>() {
                    let _ = slot.0.set(id.get());
                }
                Ok(AuthUser { id })
            }
            Err(e @ TokenError::Expired) => Err(ApiError::Unauthorized(e.to_string())),
            Err(_) => Err(ApiError::Unauthorized("the access token is invalid".into())),
        }
    }
}

/// The caller if the request carries a token (which must then be valid: 401 if not), for
/// public routes that answer more to a signed-in caller (a post's `viewer` state).
#[derive(Debug, Clone, Copy)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeAuthUser
where
    TokenVerifier: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(MaybeAuthUser(None));
        }
        AuthUser::from_request_parts(parts, state)
            .await
            .map(|u| MaybeAuthUser(Some(u)))
    }
}

/// Whether to believe `X-Forwarded-For` (only behind a proxy that sets it).
#[derive(Debug, Clone, Copy, Default)]
pub struct TrustForwardedFor(pub bool);

/// The client's address: the peer, or with [`TrustForwardedFor`] in the state, the last
/// address the proxy appended to `X-Forwarded-For`.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr
where
    TrustForwardedFor: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if TrustForwardedFor::from_ref(state).0 {
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|s| s.trim().parse::<IpAddr>().ok())
                .next_back();
            if forwarded.is_some() {
                return Ok(ClientAddr(forwarded));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(ClientAddr(peer))
    }
}

#[cfg(test)]
mod body_tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Optional {
        #[allow(dead_code)]
        text: Option<String>,
    }

    async fn read(body: &'static str) -> Result<ApiJson<Optional>, ApiError> {
        let req = Request::builder()
            .header(CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body))
            .unwrap();
        ApiJson::<Optional>::from_request(req, &()).await
    }

    /// serde reads a struct from an array too: `["hi"]` would be `{"text": "hi"}`.
    #[tokio::test]
    async fn only_an_object_is_a_body() {
        for bad in ["[null]", "[\"hi\"]", "null", "[]", "\"x\"", "1", "", " \n"] {
            assert!(
                matches!(read(bad).await, Err(ApiError::BadRequest(_))),
                "{bad:?} was taken"
            );
        }
        for good in ["{}", " \r\n\t{\"text\": \"hi\"}"] {
            assert!(read(good).await.is_ok(), "{good:?} was refused");
        }
    }
}
