//! AuthService's routes: `/api/v1/auth/*` and the JWKS.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use chirp_core::http::extract::TrustForwardedFor;
use chirp_core::http::{ApiJson, AuthUser, ClientAddr};
use chirp_core::model::User;
use chirp_core::openapi::ProblemSchema;
use chirp_core::token::Jwks;
use chirp_core::token::TokenVerifier;
use chirp_core::ApiResult;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::{AuthService, Export, SignupRequest, Tokens};

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

/// AuthService's routes and their part of the OpenAPI document.
pub fn routes() -> OpenApiRouter<AuthState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me, update_me, delete_me))
        .routes(routes!(export))
        .routes(routes!(jwks))
}

pub fn router(state: AuthState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

#[derive(Deserialize, ToSchema)]
struct SignupBody {
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
    #[schema(min_length = 1, max_length = 50)]
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

/// Sign up: a new account and a session of it. At most so many per client address (429);
/// 503 `busy` when too many passwords are being hashed at once.
#[utoipa::path(
    post,
    path = "/api/v1/auth/signup",
    tag = "auth",
    request_body = SignupBody,
    responses(
        (status = 201, description = "The account, and tokens of its first session", body = Tokens,
            headers(
                ("Cache-Control" = String, description = "no-store"),
                ("Location" = String, description = "The user's address"),
            ),
            links(
                ("GetUser" = (operation_id = "get_user", parameters(("id" = "$response.body#/user/id")))),
                ("UserPosts" = (operation_id = "user_posts", parameters(("id" = "$response.body#/user/id")))),
                ("Followers" = (operation_id = "followers", parameters(("id" = "$response.body#/user/id")))),
                ("Following" = (operation_id = "following", parameters(("id" = "$response.body#/user/id")))),
                ("UserLikes" = (operation_id = "user_likes", parameters(("id" = "$response.body#/user/id")))),
            )),
        (status = 409, description = "The handle or email is taken", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
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
    let location = format!("/api/v1/users/{}", tokens.user.id);
    Ok((
        [(header::LOCATION, location)],
        tokens_response(StatusCode::CREATED, tokens),
    ))
}

#[derive(Deserialize, ToSchema)]
struct LoginBody {
    /// A handle or an email, ignoring case.
    #[schema(example = "alice")]
    login: String,
    password: String,
}

/// Log in with a handle or email and a password. An unknown login and a wrong password
/// get the same 401; attempts are limited per account and per client address (429).
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Tokens of a new session", body = Tokens,
            headers(("Cache-Control" = String, description = "no-store"))),
        (status = 401, description = "Wrong login or password", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn login(
    State(s): State<AuthState>,
    ClientAddr(client): ClientAddr,
    ApiJson(b): ApiJson<LoginBody>,
) -> ApiResult<impl IntoResponse> {
    let tokens = s.auth.login(&b.login, &b.password, client).await?;
    Ok(tokens_response(StatusCode::OK, tokens))
}

#[derive(Deserialize, ToSchema)]
struct RefreshBody {
    refresh_token: String,
}

/// Trade a refresh token for new tokens. The old one stops working; presenting one already
/// used revokes its whole session (401).
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "New tokens of the same session", body = Tokens,
            headers(("Cache-Control" = String, description = "no-store"))),
        (status = 401, description = "The refresh token is unknown, used, expired or revoked", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn refresh(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<RefreshBody>,
) -> ApiResult<impl IntoResponse> {
    let tokens = s.auth.refresh(&b.refresh_token).await?;
    Ok(tokens_response(StatusCode::OK, tokens))
}

/// End the session of a refresh token (an unknown token ends nothing, quietly). Access
/// tokens already issued stay valid until they expire.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    request_body = RefreshBody,
    responses((status = 204, description = "The session is over")),
)]
async fn logout(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<RefreshBody>,
) -> ApiResult<StatusCode> {
    s.auth.logout(&b.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything Chirp holds about the caller, as one JSON document: the account (profile
/// and e-mail; never a password hash or a token), every live post, the posts liked,
/// follows both ways, blocks and mutes, each list newest first.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me/export",
    tag = "auth",
    operation_id = "export_me",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's data", body = Export)),
)]
async fn export(State(s): State<AuthState>, caller: AuthUser) -> ApiResult<impl IntoResponse> {
    let doc = s.auth.export(caller.id).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(doc)))
}

/// The caller.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "The user of the access token", body = User)),
)]
async fn me(State(s): State<AuthState>, caller: AuthUser) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.auth.user(caller.id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    /// 1 to 50 characters.
    #[schema(min_length = 1, max_length = 50)]
    display_name: Option<String>,
    /// 0 to 160 characters; `""` clears it.
    #[schema(max_length = 160)]
    bio: Option<String>,
}

/// Change the caller's display name or bio (each only when present). Posts show the new
/// display name within 5 s.
#[utoipa::path(
    patch,
    path = "/api/v1/auth/me",
    tag = "auth",
    request_body = ProfileBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller as they now are", body = User),
        (status = 422, description = "Invalid display name or bio", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn update_me(
    State(s): State<AuthState>,
    caller: AuthUser,
    ApiJson(b): ApiJson<ProfileBody>,
) -> ApiResult<impl IntoResponse> {
    let user = s
        .auth
        .update_profile(caller.id, b.display_name.as_deref(), b.bio.as_deref())
        .await?;
    Ok(Json(user))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    /// The account's password.
    #[schema(max_length = 1024)]
    password: String,
}

/// Delete the caller's account, for good. Its sessions and access tokens stop working at
/// once; its profile, posts, reposts, likes, follows, blocks and mutes leave every
/// timeline, count, search result and list within 5 s; its handle and e-mail can be used
/// again at once. Wrong password 401 (counted like a failed login).
#[utoipa::path(
    delete,
    path = "/api/v1/auth/me",
    tag = "auth",
    request_body = DeleteBody,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The account is deleted"),
        (status = 401, description = "Wrong password, or the token is not valid", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn delete_me(
    State(s): State<AuthState>,
    caller: AuthUser,
    ApiJson(b): ApiJson<DeleteBody>,
) -> ApiResult<impl IntoResponse> {
    s.auth.delete_account(caller.id, &b.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys that verify access tokens.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "auth",
    responses((status = 200, description = "The key set", body = Jwks,
        headers(("Cache-Control" = String, description = "public, max-age=300")))),
)]
async fn jwks(State(s): State<AuthState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(s.auth.verifier.jwks()),
    )
}
