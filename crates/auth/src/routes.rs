//! AuthService's routes: `/api/v1/auth/*` and the JWKS.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chirp_core::http::extract::TrustForwardedFor;
use chirp_core::http::{ApiJson, AuthUser, ClientAddr};
use chirp_core::token::TokenVerifier;
use chirp_core::ApiResult;
use serde::Deserialize;

use crate::service::{AuthService, SignupRequest, Tokens};

#[derive(Clone)]
pub struct AuthState {
    pub auth: Arc<AuthService>,
    pub trust_forwarded_for: TrustForwardedFor,
}

impl FromRef<AuthState> for TokenVerifier {
    fn from_ref(s: &AuthState) -> Self {
        s.auth.verifier.clone()
    }
}

impl FromRef<AuthState> for TrustForwardedFor {
    fn from_ref(s: &AuthState) -> Self {
        s.trust_forwarded_for
    }
}

pub fn router(state: AuthState) -> Router {
    Router::new()
        .route("/api/v1/auth/signup", post(signup))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(state)
}

#[derive(Deserialize)]
struct SignupBody {
    handle: String,
    email: String,
    password: String,
    display_name: Option<String>,
}

/// Responses that carry tokens: no cache, shared or private, may keep them (RFC 6749 5.1).
fn tokens_response(status: StatusCode, tokens: Tokens) -> impl IntoResponse {
    let no_store = [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    (status, no_store, Json(tokens))
}

async fn signup(
    State(s): State<AuthState>,
    ClientAddr(client): ClientAddr,
    ApiJson(b): ApiJson<SignupBody>,
) -> ApiResult<impl IntoResponse> {
    let request = SignupRequest {
        handle: b.handle,
        email: b.email,
        password: b.password,
        display_name: b.display_name,
    };
    let tokens = s.auth.signup(request, client).await?;
    Ok(tokens_response(StatusCode::CREATED, tokens))
}

#[derive(Deserialize)]
struct LoginBody {
    login: String,
    password: String,
}

async fn login(
    State(s): State<AuthState>,
    ClientAddr(client): ClientAddr,
    ApiJson(b): ApiJson<LoginBody>,
) -> ApiResult<impl IntoResponse> {
    let tokens = s.auth.login(&b.login, &b.password, client).await?;
    Ok(tokens_response(StatusCode::OK, tokens))
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<RefreshBody>,
) -> ApiResult<impl IntoResponse> {
    let tokens = s.auth.refresh(&b.refresh_token).await?;
    Ok(tokens_response(StatusCode::OK, tokens))
}

async fn logout(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<RefreshBody>,
) -> ApiResult<StatusCode> {
    s.auth.logout(&b.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(s): State<AuthState>, caller: AuthUser) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.auth.user(caller.id).await?))
}

async fn jwks(State(s): State<AuthState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(s.auth.verifier.jwks()),
    )
}
