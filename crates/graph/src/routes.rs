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
