//! ReadService's routes: users, posts, home and user timelines.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chirp_core::http::{ApiQuery, AuthUser, PathId};
use chirp_core::page::{PageParams, PageRequest};
use chirp_core::token::TokenVerifier;
use chirp_core::{ApiError, ApiResult};
use serde::Deserialize;

use crate::service::ReadService;

#[derive(Clone)]
pub struct ReadState {
    pub read: Arc<ReadService>,
    pub verifier: TokenVerifier,
}

impl FromRef<ReadState> for TokenVerifier {
    fn from_ref(s: &ReadState) -> Self {
        s.verifier.clone()
    }
}

pub fn router(state: ReadState) -> Router {
    Router::new()
        .route("/api/v1/users", get(user_by_handle))
        .route("/api/v1/users/{id}", get(user))
        .route("/api/v1/users/{id}/posts", get(user_posts))
        .route("/api/v1/posts/{id}", get(post))
        .route("/api/v1/timelines/home", get(home))
        .with_state(state)
}

#[derive(Deserialize)]
struct HandleQuery {
    handle: Option<String>,
}

async fn user_by_handle(
    State(s): State<ReadState>,
    ApiQuery(q): ApiQuery<HandleQuery>,
) -> ApiResult<impl IntoResponse> {
    let handle = q
        .handle
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ApiError::BadRequest("the handle query parameter is required".into()))?;
    Ok(Json(s.read.user_by_handle(&handle).await?))
}

async fn user(State(s): State<ReadState>, PathId(id): PathId) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.read.user(id).await?))
}

async fn post(State(s): State<ReadState>, PathId(id): PathId) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.read.post(id).await?))
}

async fn user_posts(
    State(s): State<ReadState>,
    PathId(id): PathId,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.read.user_posts(id, PageRequest::try_from(p)?).await?,
    ))
}

async fn home(
    State(s): State<ReadState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        s.read.home(caller.id, PageRequest::try_from(p)?).await?,
    ))
}

/// The internal API other services call (never routed by the gateway): hydration.
pub fn internal_router(read: Arc<ReadService>) -> Router {
    use axum::routing::post;
    use chirp_core::peers::Directory;
    use chirp_core::peers_http::Ids;

    async fn users(
        State(r): State<Arc<ReadService>>,
        ApiJsonIds(ids): ApiJsonIds,
    ) -> ApiResult<impl IntoResponse> {
        Ok(Json(r.users(&ids).await?))
    }
    async fn posts(
        State(r): State<Arc<ReadService>>,
        ApiJsonIds(ids): ApiJsonIds,
    ) -> ApiResult<impl IntoResponse> {
        Ok(Json(r.posts(&ids).await?))
    }
    struct ApiJsonIds(Vec<chirp_core::Id>);
    impl<S: Send + Sync> axum::extract::FromRequest<S> for ApiJsonIds {
        type Rejection = ApiError;
        async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
            let chirp_core::http::ApiJson(Ids { ids }) =
                chirp_core::http::ApiJson::<Ids>::from_request(req, state).await?;
            Ok(ApiJsonIds(ids))
        }
    }
    Router::new()
        .route("/internal/v1/users", post(users))
        .route("/internal/v1/posts", post(posts))
        .with_state(read)
}
