//! ReadService's routes: users, posts, home and user timelines, threads, likes.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::response::IntoResponse;
use axum::{Json, Router};
use chirp_core::http::{ApiQuery, AuthUser, MaybeAuthUser, PathId};
use chirp_core::model::{Post, Shown, User};
use chirp_core::openapi::ProblemSchema;
use chirp_core::page::{Page, PageParams, PageRequest};
use chirp_core::token::TokenVerifier;
use chirp_core::{ApiError, ApiResult, Id};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// ReadService's routes and their part of the OpenAPI document.
pub fn routes() -> OpenApiRouter<ReadState> {
    OpenApiRouter::new()
        .routes(routes!(user_by_handle))
        .routes(routes!(user))
        .routes(routes!(user_posts))
        .routes(routes!(post))
        .routes(routes!(home))
        .routes(routes!(replies))
        .routes(routes!(ancestors))
        .routes(routes!(likers))
        .routes(routes!(reposters))
        .routes(routes!(liked))
}

/// The posts a thread shows above a post.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Ancestors {
    /// Root first; at most 40, none above a deleted post.
    #[schema(value_type = Vec<Post>)]
    items: Vec<Shown>,
}

fn viewer(caller: MaybeAuthUser) -> Option<Id> {
    caller.0.map(|u| u.id)
}

pub fn router(state: ReadState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HandleQuery {
    /// The handle, ignoring case.
    #[param(required = true, pattern = "^[A-Za-z0-9_]{1,30}$", example = "alice")]
    handle: Option<String>,
}

/// A user, by handle.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "get_user_by_handle",
    params(HandleQuery),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = "No such user", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
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

/// A user.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "get_user",
    params(("id" = Id, Path, description = "The user")),
    responses((status = 200, description = "The user", body = User)),
)]
async fn user(State(s): State<ReadState>, PathId(id): PathId) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.read.user(id).await?))
}

/// A post.
#[utoipa::path(
    get,
    path = "/api/v1/posts/{id}",
    tag = "posts",
    operation_id = "get_post",
    params(("id" = Id, Path, description = "The post")),
    responses((status = 200, description = "The post (with the caller's `viewer` state when a token is sent)", body = Post)),
)]
async fn post(
    State(s): State<ReadState>,
    caller: MaybeAuthUser,
    PathId(id): PathId,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.read.post(id, viewer(caller)).await?))
}

/// A user's posts, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/posts",
    tag = "users",
    operation_id = "user_posts",
    params(("id" = Id, Path, description = "The user"), PageParams),
    responses((status = 200, description = "A page of posts", body = Page<Post>)),
)]
async fn user_posts(
    State(s): State<ReadState>,
    caller: MaybeAuthUser,
    PathId(id): PathId,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<impl IntoResponse> {
    let req = PageRequest::try_from(p)?;
    Ok(Json(s.read.user_posts(id, req, viewer(caller)).await?))
}

/// The direct replies to a post, oldest first (a conversation reads down).
#[utoipa::path(
    get,
    path = "/api/v1/posts/{id}/replies",
    tag = "posts",
    operation_id = "post_replies",
    params(("id" = Id, Path, description = "The post"), PageParams),
    responses((status = 200, description = "A page of replies, oldest first", body = Page<Post>)),
)]
async fn replies(
    State(s): State<ReadState>,
    caller: MaybeAuthUser,
    PathId(id): PathId,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<impl IntoResponse> {
    let req = PageRequest::try_from(p)?;
    Ok(Json(s.read.replies(id, req, viewer(caller)).await?))
}

/// The posts a post replies to, root first.
#[utoipa::path(
    get,
    path = "/api/v1/posts/{id}/ancestors",
    tag = "posts",
    operation_id = "post_ancestors",
    params(("id" = Id, Path, description = "The post")),
    responses((status = 200, description = "The chain above the post, root first", body = Ancestors)),
)]
async fn ancestors(
    State(s): State<ReadState>,
    caller: MaybeAuthUser,
    PathId(id): PathId,
) -> ApiResult<impl IntoResponse> {
    let items = s.read.ancestors(id, viewer(caller)).await?;
    Ok(Json(Ancestors { items }))
}

/// Who liked a post, most recent like first.
#[utoipa::path(
    get,
    path = "/api/v1/posts/{id}/likes",
    tag = "reactions",
    operation_id = "post_likes",
    params(("id" = Id, Path, description = "The post"), PageParams),
    responses((status = 200, description = "A page of users", body = Page<User>)),
)]
async fn likers(
    State(s): State<ReadState>,
    PathId(id): PathId,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.read.likers(id, PageRequest::try_from(p)?).await?))
}

/// Who reposted a post, most recent repost first.
#[utoipa::path(
    get,
    path = "/api/v1/posts/{id}/reposts",
    tag = "reactions",
    operation_id = "post_reposts",
    params(("id" = Id, Path, description = "The post"), PageParams),
    responses((status = 200, description = "A page of users", body = Page<User>)),
)]
async fn reposters(
    State(s): State<ReadState>,
    PathId(id): PathId,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.read.reposters(id, PageRequest::try_from(p)?).await?))
}

/// What a user liked, most recent like first.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/likes",
    tag = "reactions",
    operation_id = "user_likes",
    params(("id" = Id, Path, description = "The user"), PageParams),
    responses((status = 200, description = "A page of posts", body = Page<Post>)),
)]
async fn liked(
    State(s): State<ReadState>,
    caller: MaybeAuthUser,
    PathId(id): PathId,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<impl IntoResponse> {
    let req = PageRequest::try_from(p)?;
    Ok(Json(s.read.liked(id, req, viewer(caller)).await?))
}

/// The caller's home timeline: their own posts and those of whom they follow, newest
/// first.
#[utoipa::path(
    get,
    path = "/api/v1/timelines/home",
    tag = "timelines",
    operation_id = "home_timeline",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, description = "A page of posts", body = Page<Post>)),
)]
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
    use chirp_core::peers_http::{Ids, PostIds};

    async fn users(
        State(r): State<Arc<ReadService>>,
        ApiJsonIds(ids): ApiJsonIds,
    ) -> ApiResult<impl IntoResponse> {
        Ok(Json(r.users(&ids).await?))
    }
    async fn posts(
        State(r): State<Arc<ReadService>>,
        chirp_core::http::ApiJson(b): chirp_core::http::ApiJson<PostIds>,
    ) -> ApiResult<impl IntoResponse> {
        Ok(Json(match b.viewer {
            Some(viewer) => r.posts_seen_by(&b.ids, viewer).await?,
            None => r.posts(&b.ids).await?,
        }))
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
    async fn user_data(
        State(r): State<Arc<ReadService>>,
        PathId(id): PathId,
    ) -> ApiResult<impl IntoResponse> {
        Ok(Json(r.user_data(id).await?))
    }
    #[derive(serde::Deserialize)]
    struct HomeQuery {
        limit: usize,
    }
    async fn home(
        State(r): State<Arc<ReadService>>,
        PathId(id): PathId,
        chirp_core::http::ApiQuery(q): chirp_core::http::ApiQuery<HomeQuery>,
    ) -> ApiResult<impl IntoResponse> {
        let limit = q.limit.clamp(1, chirp_core::page::MAX_LIMIT);
        Ok(Json(Directory::home(&*r, id, limit).await?))
    }
    Router::new()
        .route(
            "/internal/v1/users/{id}/data",
            axum::routing::get(user_data),
        )
        .route("/internal/v1/users/{id}/home", axum::routing::get(home))
        .route("/internal/v1/users", post(users))
        .route("/internal/v1/posts", post(posts))
        .with_state(read)
}
