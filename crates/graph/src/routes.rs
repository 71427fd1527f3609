//! UserGraphService's routes: follow, unfollow, followers, following; block, mute and
//! their lists; relationships.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chirp_core::http::{ApiQuery, AuthUser, PathId};
use chirp_core::model::{Relationship, User};
use chirp_core::openapi::ProblemSchema;
use chirp_core::page::{Page, PageParams, PageRequest};
use chirp_core::token::TokenVerifier;
use chirp_core::Id;
use chirp_core::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ports::Edge;
use crate::service::{GraphService, Side, MAX_RELATIONSHIPS};

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
        .routes(routes!(block, unblock))
        .routes(routes!(mute, unmute))
        .routes(routes!(blocks))
        .routes(routes!(mutes))
        .routes(routes!(relationships))
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
        (status = 403, description = "One of the two blocks the other", body = ProblemSchema, content_type = "application/problem+json"),
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

/// Block a user (again: no change). The follows between the two end, both ways; while
/// the block lasts, neither can follow the other, and each one's posts leave the other's
/// home timeline.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/block",
    tag = "graph",
    operation_id = "block",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The user to block")),
    responses(
        (status = 204, description = "Blocked"),
        (status = 422, description = "Blocking oneself", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn block(
    State(s): State<GraphState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.graph.block(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop blocking a user (not blocking: no change). Follows ended by the block stay ended.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/block",
    tag = "graph",
    operation_id = "unblock",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The user to stop blocking")),
    responses(
        (status = 204, description = "Not blocking"),
        (status = 422, description = "Unblocking oneself", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn unblock(
    State(s): State<GraphState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.graph.undo(Edge::Block, caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mute a user (again: no change): their posts leave the caller's home timeline while
/// the mute lasts. Nothing else changes.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/mute",
    tag = "graph",
    operation_id = "mute",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The user to mute")),
    responses(
        (status = 204, description = "Muted"),
        (status = 422, description = "Muting oneself", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn mute(
    State(s): State<GraphState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.graph.mute(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop muting a user (not muting: no change): their posts come back.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/mute",
    tag = "graph",
    operation_id = "unmute",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The user to stop muting")),
    responses(
        (status = 204, description = "Not muting"),
        (status = 422, description = "Unmuting oneself", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn unmute(
    State(s): State<GraphState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.graph.undo(Edge::Mute, caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whom the caller blocks, most recent first.
#[utoipa::path(
    get,
    path = "/api/v1/blocks",
    tag = "graph",
    operation_id = "blocks",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, description = "A page of users", body = Page<User>)),
)]
async fn blocks(
    State(s): State<GraphState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<impl IntoResponse> {
    let req = PageRequest::try_from(p)?;
    Ok(Json(s.graph.edges(Edge::Block, caller.id, req).await?))
}

/// Whom the caller mutes, most recent first.
#[utoipa::path(
    get,
    path = "/api/v1/mutes",
    tag = "graph",
    operation_id = "mutes",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, description = "A page of users", body = Page<User>)),
)]
async fn mutes(
    State(s): State<GraphState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<impl IntoResponse> {
    let req = PageRequest::try_from(p)?;
    Ok(Json(s.graph.edges(Edge::Mute, caller.id, req).await?))
}

/// The pattern of `ids`: 1 to 100 ids of 1 to 19 digits, separated by commas.
pub const IDS_PATTERN: &str = "^[0-9]{1,19}(,[0-9]{1,19}){0,99}$";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RelationshipsParams {
    /// The users, 1 to 100 ids separated by commas.
    #[param(
        required = true,
        pattern = "^[0-9]{1,19}(,[0-9]{1,19}){0,99}$",
        example = "7263011920384001,7263011920384002"
    )]
    ids: Option<String>,
}

/// `ids` as [`IDS_PATTERN`] has them: 400 otherwise.
fn parse_ids(raw: Option<&str>) -> ApiResult<Vec<Id>> {
    let bad = || {
        ApiError::BadRequest(format!(
            "ids must be 1 to {MAX_RELATIONSHIPS} user ids separated by commas"
        ))
    };
    let raw = raw.ok_or_else(bad)?;
    let ids = raw
        .split(',')
        .map(|part| {
            let digits =
                !part.is_empty() && part.len() <= 19 && part.bytes().all(|b| b.is_ascii_digit());
            if digits {
                part.parse::<Id>().map_err(|_| bad())
            } else {
                Err(bad())
            }
        })
        .collect::<ApiResult<Vec<Id>>>()?;
    if ids.len() > MAX_RELATIONSHIPS {
        return Err(bad());
    }
    Ok(ids)
}

#[derive(Serialize, ToSchema)]
struct Relationships {
    /// One per id asked, in the order asked.
    items: Vec<Relationship>,
}

/// What lies between the caller and each of up to 100 users, read at once from the
/// graph (immediate, not eventual).
#[utoipa::path(
    get,
    path = "/api/v1/relationships",
    tag = "graph",
    operation_id = "relationships",
    security(("bearer" = [])),
    params(RelationshipsParams),
    responses((status = 200, description = "One relationship per id, in the order asked", body = Relationships)),
)]
async fn relationships(
    State(s): State<GraphState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<RelationshipsParams>,
) -> ApiResult<impl IntoResponse> {
    let ids = parse_ids(p.ids.as_deref())?;
    let items = s.graph.relationships(caller.id, &ids).await?;
    Ok(Json(Relationships { items }))
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
    async fn hidden(
        State(g): State<Arc<GraphService>>,
        PathId(id): PathId,
    ) -> ApiResult<Json<chirp_core::peers::Hidden>> {
        Ok(Json(g.hidden_from(id).await?))
    }
    async fn home(
        State(g): State<Arc<GraphService>>,
        PathId(id): PathId,
        ApiQuery(q): ApiQuery<Above>,
    ) -> ApiResult<Json<chirp_core::peers::HomeContext>> {
        let threshold = q
            .above
            .ok_or_else(|| ApiError::BadRequest("above: required".into()))?;
        Ok(Json(g.home_context(id, threshold).await?))
    }
    async fn follows(
        State(g): State<Arc<GraphService>>,
        ApiJson(b): ApiJson<chirp_core::peers_http::Pairs>,
    ) -> ApiResult<Json<Vec<bool>>> {
        Ok(Json(g.follows(&b.pairs).await?))
    }
    async fn edges(
        State(g): State<Arc<GraphService>>,
        PathId(id): PathId,
    ) -> ApiResult<Json<chirp_core::peers::UserEdges>> {
        Ok(Json(g.edges_of(id).await?))
    }
    Router::new()
        .route("/internal/v1/graph/{id}/edges", get(edges))
        .route("/internal/v1/graph/follows", post(follows))
        .route("/internal/v1/graph/{id}/hidden", get(hidden))
        .route("/internal/v1/graph/{id}/home", get(home))
        .route("/internal/v1/graph/{id}/followers", get(followers))
        .route("/internal/v1/graph/{id}/followees", get(followees))
        .route("/internal/v1/graph/counts", post(counts))
        .with_state(graph)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_1_to_100_numbers_of_at_most_19_digits() {
        assert_eq!(parse_ids(Some("7,8,7")).unwrap(), [Id(7), Id(8), Id(7)]);
        let hundred = vec!["9223372036854775807"; 100].join(",");
        assert_eq!(parse_ids(Some(&hundred)).unwrap().len(), 100);
        let too_many = vec!["1"; 101].join(",");
        for bad in [
            None,
            Some(""),
            Some(","),
            Some("1,"),
            Some("1,,2"),
            Some("+1"),
            Some("1 "),
            Some("x"),
            Some("12345678901234567890"),
            Some(too_many.as_str()),
        ] {
            assert!(
                matches!(parse_ids(bad), Err(ApiError::BadRequest(_))),
                "{bad:?} was taken"
            );
        }
    }

    /// The attribute spells the pattern out (an attribute cannot name a constant): the two
    /// are the same.
    #[test]
    fn the_document_has_the_ids_pattern() {
        let doc = routes().split_for_parts().1.to_json().unwrap();
        assert!(
            doc.contains(&format!("\"pattern\":\"{IDS_PATTERN}\"")),
            "{doc}"
        );
    }
}
