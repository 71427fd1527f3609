//! Errors as Mastodon sends them: `application/json`, `{"error": "..."}`, with Mastodon's
//! statuses. Client libraries read only that shape, never a problem document.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chirp_auth::oauth::OAuthError;
use chirp_core::ApiError;
use serde_json::json;

#[derive(Debug)]
pub struct MastoError {
    pub status: StatusCode,
    pub error: String,
    /// OAuth's `error_description`, on the OAuth endpoints.
    pub description: Option<String>,
    pub retry_after: Option<Duration>,
}

pub type MastoResult<T> = Result<T, MastoError>;

impl MastoError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        MastoError {
            status,
            error: error.into(),
            description: None,
            retry_after: None,
        }
    }

    pub fn not_found() -> Self {
        MastoError::new(StatusCode::NOT_FOUND, "Record not found")
    }

    pub fn unprocessable(error: impl Into<String>) -> Self {
        MastoError::new(StatusCode::UNPROCESSABLE_ENTITY, error)
    }

    pub fn bad_request(error: impl Into<String>) -> Self {
        MastoError::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn unauthorized() -> Self {
        MastoError::new(StatusCode::UNAUTHORIZED, "The access token is invalid")
    }

    pub fn outside_scopes() -> Self {
        MastoError::new(
            StatusCode::FORBIDDEN,
            "This action is outside the authorized scopes",
        )
    }

    /// An OAuth endpoint's refusal: `{"error": code, "error_description"}`.
    pub fn oauth(e: OAuthError) -> Self {
        match e {
            OAuthError::Api(e) => e.into(),
            e => MastoError {
                status: e.status(),
                error: e.code().to_owned(),
                description: Some(e.to_string()),
                retry_after: None,
            },
        }
    }
}

impl From<ApiError> for MastoError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        let retry_after = match &e {
            ApiError::TooManyRequests { retry_after, .. } | ApiError::Busy { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        };
        let error = match &e {
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "the Mastodon API failed");
                "internal error".to_owned()
            }
            ApiError::Unavailable { source, .. } => {
                tracing::warn!(error = format!("{source:#}"), "a dependency is unavailable");
                e.to_string()
            }
            ApiError::NotFound(_) => "Record not found".to_owned(),
            _ => e.to_string(),
        };
        MastoError {
            status,
            error,
            description: None,
            retry_after,
        }
    }
}

impl From<OAuthError> for MastoError {
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::Api(e) => e.into(),
            OAuthError::InvalidClient => MastoError::unauthorized(),
            other => MastoError::unprocessable(other.to_string()),
        }
    }
}

impl IntoResponse for MastoError {
    fn into_response(self) -> Response {
        let body = match &self.description {
            Some(d) => json!({"error": self.error, "error_description": d}),
            None => json!({"error": self.error}),
        };
        let mut res = (self.status, Json(body)).into_response();
        if let Some(after) = self.retry_after {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(after.as_secs().max(1)),
            );
        }
        res
    }
}
