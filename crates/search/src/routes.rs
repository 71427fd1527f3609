//! SearchService's routes.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::response::IntoResponse;
use axum::{Json, Router};
use chirp_core::http::{ApiQuery, MaybeAuthUser};
use chirp_core::model::{Post, User};
use chirp_core::page::{Page, PageParams, PageRequest};
use chirp_core::token::TokenVerifier;
use chirp_core::ApiResult;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::SearchService;

#[derive(Clone)]
pub struct SearchState {
    pub search: Arc<SearchService>,
    /// Verifies the token a caller may send (for the `viewer` state and what blocks hide).
    pub verifier: TokenVerifier,
}

impl FromRef<SearchState> for TokenVerifier {
    fn from_ref(s: &SearchState) -> Self {
        s.verifier.clone()
    }
}

/// SearchService's routes and their part of the OpenAPI document.
pub fn routes() -> OpenApiRouter<SearchState> {
    OpenApiRouter::new()
        .routes(routes!(posts))
        .routes(routes!(users))
}

pub fn router(state: SearchState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchParams {
    /// The words to find.
    #[param(required = true, min_length = 1, example = "chirp")]
    q: Option<String>,
    /// Items per page.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    cursor: Option<String>,
}

impl SearchParams {
    fn page(&self) -> ApiResult<PageRequest> {
        PageRequest::try_from(PageParams {
            limit: self.limit.clone(),
            cursor: self.cursor.clone(),
        })
    }
}

/// Posts that hold every word of `q` (ignoring case; `#tag` finds the hashtag), newest
/// first. With a token, each post carries the caller's `viewer` state, and the posts of
/// those the caller blocks or who block the caller are left out (a page is still full).
#[utoipa::path(
    get,
    path = "/api/v1/search/posts",
    tag = "search",
    operation_id = "search_posts",
    params(SearchParams),
    responses((status = 200, description = "A page of posts", body = Page<Post>)),
)]
async fn posts(
    State(s): State<SearchState>,
    caller: MaybeAuthUser,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<impl IntoResponse> {
    let viewer = caller.0.map(|c| c.id);
    Ok(Json(
        s.search.posts(p.q.as_deref(), p.page()?, viewer).await?,
    ))
}

/// Users whose handle or display name begins with `q`.
#[utoipa::path(
    get,
    path = "/api/v1/search/users",
    tag = "search",
    operation_id = "search_users",
    params(SearchParams),
    responses((status = 200, description = "A page of users", body = Page<User>)),
)]
async fn users(
    State(s): State<SearchState>,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.search.users(p.q.as_deref(), p.page()?).await?))
}
