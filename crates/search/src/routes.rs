//! SearchService's routes.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chirp_core::http::ApiQuery;
use chirp_core::page::{PageParams, PageRequest};
use chirp_core::ApiResult;
use serde::Deserialize;

use crate::service::SearchService;

pub fn router(search: Arc<SearchService>) -> Router {
    Router::new()
        .route("/api/v1/search/posts", get(posts))
        .route("/api/v1/search/users", get(users))
        .with_state(search)
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
    limit: Option<String>,
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

async fn posts(
    State(s): State<Arc<SearchService>>,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.posts(p.q.as_deref(), p.page()?).await?))
}

async fn users(
    State(s): State<Arc<SearchService>>,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.users(p.q.as_deref(), p.page()?).await?))
}
