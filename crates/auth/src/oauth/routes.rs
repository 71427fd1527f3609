//! AuthService's OAuth routes, on its internal API (`/internal/v1/oauth/*`): only the
//! Mastodon facade calls them, which speaks OAuth to the apps. Answers are JSON; a
//! refusal is `{"error", "error_description"}` with OAuth's code, or for a refusal of
//! AuthService's own (a wrong password, a limit, a store down) its problem type.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chirp_core::http::ApiJson;
use chirp_core::ApiError;
use serde::{Deserialize, Serialize};

use super::{Authorization, NewApp, OAuthError, Revocation, TokenRequest, UserGrant};
use crate::service::AuthService;

/// What the facade reads of an error of the internal OAuth routes.
#[derive(Debug, Serialize, Deserialize)]
pub struct OAuthErrorBody {
    pub error: String,
    pub error_description: String,
}

impl OAuthError {
    pub fn status(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthError::Api(e) => e.status(),
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (error, retry_after) = match &self {
            OAuthError::Api(e) => {
                if status.is_server_error() {
                    tracing::warn!(error = format!("{e:#}"), "an OAuth request failed");
                }
                let retry = match e {
                    ApiError::TooManyRequests { retry_after, .. }
                    | ApiError::Busy { retry_after, .. } => Some(retry_after.as_secs().max(1)),
                    _ => None,
                };
                (e.type_slug().to_owned(), retry)
            }
            other => (other.code().to_owned(), None),
        };
        let error_description = match &self {
            OAuthError::Api(ApiError::Internal(_)) => "internal error".to_owned(),
            other => other.to_string(),
        };
        // A problem document (the internal listener's layers pass only those on), with
        // OAuth's two members beside its own.
        let body = serde_json::json!({
            "type": format!("/problems/oauth-{}", error.replace('_', "-")),
            "title": error,
            "status": status.as_u16(),
            "detail": error_description,
            "error": error,
            "error_description": error_description,
        });
        let mut res = (status, Json(body)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(chirp_core::error::PROBLEM_JSON),
        );
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

type Auth = State<Arc<AuthService>>;

async fn create_app(State(auth): Auth, ApiJson(new): ApiJson<NewApp>) -> Response {
    match auth.create_app(new).await {
        Ok(app) => Json(app).into_response(),
        Err(e) => OAuthError::Api(e).into_response(),
    }
}

async fn app(State(auth): Auth, Path(client_id): Path<String>) -> Response {
    match auth.app(&client_id).await {
        Ok(app) => Json(app).into_response(),
        Err(e) => OAuthError::Api(e).into_response(),
    }
}

#[derive(Deserialize)]
struct Check {
    client_id: String,
    redirect_uri: String,
    #[serde(default)]
    scope: String,
}

async fn check(State(auth): Auth, ApiJson(c): ApiJson<Check>) -> Response {
    match auth
        .check_authorization(&c.client_id, &c.redirect_uri, &c.scope)
        .await
    {
        Ok(app) => Json(app).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Serialize, Deserialize)]
pub struct Code {
    pub code: String,
}

async fn authorize(State(auth): Auth, ApiJson(a): ApiJson<Authorization>) -> Response {
    match auth.authorize(a).await {
        Ok(code) => Json(Code { code }).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn token(State(auth): Auth, ApiJson(req): ApiJson<TokenRequest>) -> Response {
    match auth.token(req).await {
        Ok(grant) => Json(grant).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn grant_user(State(auth): Auth, ApiJson(g): ApiJson<UserGrant>) -> Response {
    match auth.grant_user(g).await {
        Ok(grant) => Json(grant).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn revoke(State(auth): Auth, ApiJson(r): ApiJson<Revocation>) -> Response {
    match auth.revoke_token(r).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Serialize, Deserialize)]
pub struct Presented {
    pub token: String,
}

async fn introspect(State(auth): Auth, ApiJson(p): ApiJson<Presented>) -> Response {
    match auth.introspect(&p.token).await {
        Ok(found) => Json(found).into_response(),
        Err(e) => OAuthError::Api(e).into_response(),
    }
}

/// The OAuth routes of AuthService's internal API.
pub fn internal_router(auth: Arc<AuthService>) -> Router {
    Router::new()
        .route("/internal/v1/oauth/apps", post(create_app))
        .route("/internal/v1/oauth/apps/{client_id}", get(app))
        .route("/internal/v1/oauth/check", post(check))
        .route("/internal/v1/oauth/authorize", post(authorize))
        .route("/internal/v1/oauth/token", post(token))
        .route("/internal/v1/oauth/grant", post(grant_user))
        .route("/internal/v1/oauth/revoke", post(revoke))
        .route("/internal/v1/oauth/introspect", post(introspect))
        .with_state(auth)
}
