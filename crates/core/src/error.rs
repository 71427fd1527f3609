//! The one error type of the public API. Each variant is a status of API.md; the
//! response is an RFC 9457 problem document. Internal causes are logged, never sent.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed JSON, wrong field types, bad query parameters.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing, expired or invalid token; wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such user, post or route.
    #[error("{0}")]
    NotFound(String),
    /// 409: the handle or email is taken.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 408: the client did not send its request body in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// 415: a body that does not say it is JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid.
    #[error("{0}")]
    Unprocessable(String),
    /// 429: try again after the given time.
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after: Duration,
    },
    /// 503: the server takes no more work of this kind at the moment; try again after
    /// the given time.
    #[error("{detail}")]
    Busy {
        detail: String,
        retry_after: Duration,
    },
    /// 503: a dependency the request needs is down; names it.
    #[error("{dependency} is unavailable")]
    Unavailable {
        dependency: &'static str,
        #[source]
        source: anyhow::Error,
    },
    /// 500: a bug. The cause is logged, the client sees a generic message.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy { .. } | ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn unavailable(dependency: &'static str, source: impl Into<anyhow::Error>) -> Self {
        ApiError::Unavailable {
            dependency,
            source: source.into(),
        }
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(source.into())
    }

    pub fn type_slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::RequestTimeout(_) => "request-timeout",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Unprocessable(_) => "validation-failed",
            ApiError::TooManyRequests { .. } => "rate-limited",
            ApiError::Busy { .. } => "busy",
            ApiError::Unavailable { .. } => "dependency-unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// Builds a problem response; used by [`ApiError`] and by the scaffold's own answers.
pub fn problem_response(status: StatusCode, type_slug: &str, detail: String) -> Response {
    let kind = format!("/problems/{type_slug}");
    let body = Problem {
        kind: &kind,
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut res = (status, bytes).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::Unavailable { dependency, source } => {
                tracing::warn!(
                    dependency,
                    error = format!("{source:#}"),
                    "dependency unavailable"
                );
                format!("{dependency} is unavailable; try again later")
            }
            ApiError::Internal(source) => {
                tracing::error!(error = format!("{source:#}"), "internal error");
                "an internal error occurred".to_owned()
            }
            other => other.to_string(),
        };
        let mut res = problem_response(status, self.type_slug(), detail);
        if let ApiError::TooManyRequests { retry_after, .. } | ApiError::Busy { retry_after, .. } =
            &self
        {
            let secs = retry_after.as_secs().max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
