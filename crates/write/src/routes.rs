//! WriteService's routes: create, edit and delete posts.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{patch, post};
use axum::{Json, Router};
use chirp_core::http::{ApiJson, AuthUser, PathId};
use chirp_core::token::TokenVerifier;
use chirp_core::{ApiError, ApiResult, Id};
use serde::Deserialize;

use crate::domain::IdempotencyKey;
use crate::service::WriteService;

#[derive(Clone)]
pub struct WriteState {
    pub posts: Arc<WriteService>,
    pub verifier: TokenVerifier,
}

impl FromRef<WriteState> for TokenVerifier {
    fn from_ref(s: &WriteState) -> Self {
        s.verifier.clone()
    }
}

/// With `serve_reads`, also `GET /api/v1/posts/{id}` (answered from the posts store the
/// writes go to), so that a gateway unable to route by method (a Kubernetes Ingress) can
/// send every `/api/v1/posts/{id}` here. `chirp all` leaves that route to ReadService.
pub fn router(state: WriteState, serve_reads: bool) -> Router {
    let one = if serve_reads {
        axum::routing::get(show).patch(edit).delete(delete)
    } else {
        patch(edit).delete(delete)
    };
    Router::new()
        .route("/api/v1/posts", post(create))
        .route("/api/v1/posts/{id}", one)
        .with_state(state)
}

async fn show(State(s): State<WriteState>, PathId(id): PathId) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.posts.post(id).await?))
}

#[derive(Deserialize)]
struct CreateBody {
    text: String,
    reply_to: Option<Id>,
}

async fn create(
    State(s): State<WriteState>,
    caller: AuthUser,
    headers: HeaderMap,
    ApiJson(b): ApiJson<CreateBody>,
) -> ApiResult<impl IntoResponse> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))
                .and_then(|k| IdempotencyKey::parse(k).map_err(ApiError::BadRequest))?,
        ),
    };
    let created = s.posts.create(caller.id, &b.text, b.reply_to, key).await?;
    let replayed = if created.replayed { "true" } else { "false" };
    Ok((
        StatusCode::CREATED,
        [("idempotent-replayed", replayed)],
        Json(created.post),
    ))
}

#[derive(Deserialize)]
struct EditBody {
    text: String,
}

async fn edit(
    State(s): State<WriteState>,
    caller: AuthUser,
    PathId(id): PathId,
    ApiJson(b): ApiJson<EditBody>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.posts.edit(caller.id, id, &b.text).await?))
}

async fn delete(
    State(s): State<WriteState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.posts.delete(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
