//! UserGraphService's routes: follow, unfollow, followers, following.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chirp_core::http::{ApiQuery, AuthUser, PathId};
use chirp_core::page::{PageParams, PageRequest};
use chirp_core::token::TokenVerifier;
use chirp_core::ApiResult;

use crate::service::{GraphService, Side};

#[derive(Clone)]
pub struct GraphState {
    pub graph: Arc<GraphService>,
    pub verifier: TokenVerifier,
}

impl FromRef<GraphState> for TokenVerifier {
    fn from_ref(s: &GraphState) -> Self {
        s.verifier.clone()
    }
}

pub fn router(state: GraphState) -> Router {
    Router::new()
        .route("/api/v1/users/{id}/follow", post(follow).delete(unfollow))
        .route("/api/v1/users/{id}/followers", get(followers))
        .route("/api/v1/users/{id}/following", get(following))
        .with_state(state)
}

async fn follow(
    State(s): State<GraphState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.graph.follow(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unfollow(
    State(s): State<GraphState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.graph.unfollow(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn followers(
    State(s): State<GraphState>,
    PathId(id): PathId,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.graph
            .list(id, Side::Followers, PageRequest::try_from(p)?)
            .await?,
    ))
}

async fn following(
    State(s): State<GraphState>,
    PathId(id): PathId,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.graph
            .list(id, Side::Following, PageRequest::try_from(p)?)
            .await?,
    ))
}
