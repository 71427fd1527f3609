//! UserGraphService's routes: follow, unfollow, followers, following.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chirp_core::http::{ApiQuery, AuthUser, PathId};
use chirp_core::model::User;
use chirp_core::openapi::ProblemSchema;
use chirp_core::page::{Page, PageParams, PageRequest};
use chirp_core::token::TokenVerifier;
use chirp_core::ApiResult;
use chirp_core::Id;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// UserGraphService's routes and their part of the OpenAPI document.
pub fn routes() -> OpenApiRouter<GraphState> {
    OpenApiRouter::new()
        .routes(routes!(follow, unfollow))
        .routes(routes!(followers))
        .routes(routes!(following))
}

pub fn router(state: GraphState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

/// Follow a user (again: no change).
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/follow",
    tag = "graph",
    operation_id = "follow",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The user to follow")),
    responses(
        (status = 204, description = "Followed"),
        (status = 422, description = "Following oneself", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn follow(
    State(s): State<GraphState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.graph.follow(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop following a user (not following: no change).
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/follow",
    tag = "graph",
    operation_id = "unfollow",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The user to stop following")),
    responses(
        (status = 204, description = "Not following"),
        (status = 422, description = "Unfollowing oneself", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn unfollow(
    State(s): State<GraphState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.graph.unfollow(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who follows a user, newest follow first.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/followers",
    tag = "graph",
    operation_id = "followers",
    params(("id" = Id, Path, description = "The user"), PageParams),
    responses((status = 200, description = "A page of users", body = Page<User>)),
)]
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

/// Whom a user follows, newest follow first.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/following",
    tag = "graph",
    operation_id = "following",
    params(("id" = Id, Path, description = "The user"), PageParams),
    responses((status = 200, description = "A page of users", body = Page<User>)),
)]
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

/// The internal API other services call (never routed by the gateway): the graph as
/// fanout, timelines and reads need it.
pub fn internal_router(graph: Arc<GraphService>) -> Router {
    use chirp_core::http::ApiJson;
    use chirp_core::page::InternalPageQuery;
    use chirp_core::peers::SocialGraph;
    use chirp_core::peers_http::{CountsWire, GraphPageWire, Ids};
    use chirp_core::Id;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Above {
        above: Option<u64>,
    }
    /// Who follows a user, newest follow first.
    #[utoipa::path(
    get,
    path = "/api/v1/users/{id}/followers",
    tag = "graph",
    operation_id = "followers",
    params(("id" = Id, Path, description = "The user"), PageParams),
    responses((status = 200, description = "A page of users", body = Page<User>)),
)]
    async fn followers(
        State(g): State<Arc<GraphService>>,
        PathId(id): PathId,
        ApiQuery(q): ApiQuery<InternalPageQuery>,
    ) -> ApiResult<impl IntoResponse> {
        let page = PageRequest::try_from(q)?;
        Ok(Json(GraphPageWire::from(
            SocialGraph::followers(g.as_ref(), id, page).await?,
        )))
    }
    async fn followees(
        State(g): State<Arc<GraphService>>,
        PathId(id): PathId,
        ApiQuery(q): ApiQuery<Above>,
    ) -> ApiResult<Json<Vec<Id>>> {
        Ok(Json(match q.above {
            Some(t) => g.followees_above(id, t).await?,
            None => g.all_followees(id).await?,
        }))
    }
    async fn counts(
        State(g): State<Arc<GraphService>>,
        ApiJson(b): ApiJson<Ids>,
    ) -> ApiResult<Json<CountsWire>> {
        let c = g.counts(&b.ids).await?;
        Ok(Json(
            c.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ))
    }
    Router::new()
        .route("/internal/v1/graph/{id}/followers", get(followers))
        .route("/internal/v1/graph/{id}/followees", get(followees))
        .route("/internal/v1/graph/counts", post(counts))
        .with_state(graph)
}
