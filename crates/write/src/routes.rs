//! WriteService's routes: create, edit and delete posts; like and unlike them.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use chirp_core::http::{ApiJson, AuthUser, PathId};
use chirp_core::model::Post;
use chirp_core::openapi::ProblemSchema;
use chirp_core::token::TokenVerifier;
use chirp_core::{ApiError, ApiResult, Id};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
/// WriteService's routes and their part of the OpenAPI document (the read of a post is
/// ReadService's there).
pub fn routes() -> OpenApiRouter<WriteState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(edit, delete))
        .routes(routes!(like, unlike))
        .routes(routes!(repost, unrepost))
}

pub fn router(state: WriteState, serve_reads: bool) -> Router {
    let (mut router, _) = routes().split_for_parts();
    if serve_reads {
        router = router.route("/api/v1/posts/{id}", axum::routing::get(show));
    }
    router.with_state(state)
}

async fn show(State(s): State<WriteState>, PathId(id): PathId) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.posts.post(id).await?))
}

#[derive(Deserialize, ToSchema)]
struct CreateBody {
    /// 1 to 280 characters, not only white space; no control characters but new lines
    /// and tabs, no bidirectional overrides or isolates.
    #[schema(min_length = 1, max_length = 280, example = "hello #chirp")]
    text: String,
    /// The post this one replies to.
    reply_to: Option<Id>,
}

/// Post. With an `Idempotency-Key`, the same key from the same user answers the first
/// post again (`Idempotent-Replayed: true`) instead of posting twice.
#[utoipa::path(
    post,
    path = "/api/v1/posts",
    tag = "posts",
    operation_id = "create_post",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters", max_length = 255, pattern = "^[!-~]{1,255}$")),
    request_body = CreateBody,
    responses(
        (status = 201, description = "The post", body = Post,
            headers(
                ("Location" = String, description = "The post's address"),
                ("Idempotent-Replayed" = String, description = "`true` when this answers an earlier post with the same key"),
            ),
            links(
                ("GetPost" = (operation_id = "get_post", parameters(("id" = "$response.body#/id")))),
                ("EditPost" = (operation_id = "edit_post", parameters(("id" = "$response.body#/id")))),
                ("DeletePost" = (operation_id = "delete_post", parameters(("id" = "$response.body#/id")))),
                ("LikePost" = (operation_id = "like_post", parameters(("id" = "$response.body#/id")))),
                ("UnlikePost" = (operation_id = "unlike_post", parameters(("id" = "$response.body#/id")))),
                ("RepostPost" = (operation_id = "repost_post", parameters(("id" = "$response.body#/id")))),
                ("PostLikes" = (operation_id = "post_likes", parameters(("id" = "$response.body#/id")))),
                ("PostReplies" = (operation_id = "post_replies", parameters(("id" = "$response.body#/id")))),
                ("PostAncestors" = (operation_id = "post_ancestors", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 403, description = "`reply_to` is by someone who blocks the caller, or whom the caller blocks", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The Idempotency-Key made a post that has since been deleted", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Invalid text, or `reply_to` names no live post", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
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
    let location = format!("/api/v1/posts/{}", created.post.id);
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, location),
            (
                HeaderName::from_static("idempotent-replayed"),
                replayed.to_owned(),
            ),
        ],
        Json(created.post),
    ))
}

#[derive(Deserialize, ToSchema)]
struct EditBody {
    /// The new text, as for a new post.
    #[schema(min_length = 1, max_length = 280)]
    text: String,
}

/// Edit one's own post.
#[utoipa::path(
    patch,
    path = "/api/v1/posts/{id}",
    tag = "posts",
    operation_id = "edit_post",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The post")),
    request_body = EditBody,
    responses(
        (status = 200, description = "The post as edited", body = Post),
        (status = 403, description = "Someone else's post", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Invalid text, or the post is a repost (which has no text to edit)", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn edit(
    State(s): State<WriteState>,
    caller: AuthUser,
    PathId(id): PathId,
    ApiJson(b): ApiJson<EditBody>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.posts.edit(caller.id, id, &b.text).await?))
}

/// Delete one's own post.
#[utoipa::path(
    delete,
    path = "/api/v1/posts/{id}",
    tag = "posts",
    operation_id = "delete_post",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The post")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Someone else's post", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn delete(
    State(s): State<WriteState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.posts.delete(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Like a post. Idempotent; liking one's own post is allowed.
#[utoipa::path(
    post,
    path = "/api/v1/posts/{id}/like",
    tag = "reactions",
    operation_id = "like_post",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The post")),
    responses(
        (status = 204, description = "The caller likes the post"),
        (status = 403, description = "The post is by someone who blocks the caller, or whom the caller blocks", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such post, or deleted", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn like(
    State(s): State<WriteState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.posts.like(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Repost a post (a repost's original, for a repost): a post of the caller's own, with
/// no text, that reaches the caller's followers. Reposting what the caller reposted
/// already answers that repost (200); reposting one's own post is allowed.
#[utoipa::path(
    post,
    path = "/api/v1/posts/{id}/repost",
    tag = "reactions",
    operation_id = "repost_post",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The post to repost")),
    responses(
        (status = 201, description = "The repost, with the original in `repost_of`", body = Post,
            headers(("Location" = String, description = "The repost's address")),
            links(
                ("GetRepost" = (operation_id = "get_post", parameters(("id" = "$response.body#/id")))),
                ("DeleteRepost" = (operation_id = "delete_post", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 200, description = "The caller's repost of it from before", body = Post),
        (status = 403, description = "The post is by someone who blocks the caller, or whom the caller blocks", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such post, or deleted", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn repost(
    State(s): State<WriteState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<impl IntoResponse> {
    let (post, new) = s.posts.repost(caller.id, id).await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/api/v1/posts/{}", post.id);
    Ok((status, [(header::LOCATION, location)], Json(post)))
}

/// Take back the caller's repost of a post (`{id}` is the original's; a repost's id
/// names its original). The repost leaves every timeline. Idempotent.
#[utoipa::path(
    delete,
    path = "/api/v1/posts/{id}/repost",
    tag = "reactions",
    operation_id = "unrepost_post",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The reposted post")),
    responses((status = 204, description = "The caller does not repost the post")),
)]
async fn unrepost(
    State(s): State<WriteState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.posts.unrepost(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take back a like. Idempotent.
#[utoipa::path(
    delete,
    path = "/api/v1/posts/{id}/like",
    tag = "reactions",
    operation_id = "unlike_post",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The post")),
    responses((status = 204, description = "The caller does not like the post")),
)]
async fn unlike(
    State(s): State<WriteState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.posts.unlike(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
