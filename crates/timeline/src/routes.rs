//! TimelineService's routes: only the internal API (never routed by the gateway), since
//! clients read home timelines through ReadService.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chirp_core::http::{ApiJson, ApiQuery, PathId};
use chirp_core::page::{InternalPageQuery, PageRequest};
use chirp_core::peers::{TimelineEntry, Timelines};
use chirp_core::peers_http::{Deliveries, Delivery};
use chirp_core::{ApiError, ApiResult, Id};

use crate::service::TimelineService;

pub fn internal_router(timelines: Arc<TimelineService>) -> Router {
    Router::new()
        .route("/internal/v1/timelines/{id}", get(page))
        .route("/internal/v1/timelines/deliver", post(deliver))
        .route("/internal/v1/timelines/deliveries", post(deliveries))
        .route("/internal/v1/timelines/retract", post(retract))
        .route(
            "/internal/v1/timelines/{id}/backfill/{followee}",
            post(backfill),
        )
        .route("/internal/v1/timelines/{id}/purge/{followee}", post(purge))
        .with_state(timelines)
}

async fn page(
    State(t): State<Arc<TimelineService>>,
    PathId(user): PathId,
    ApiQuery(q): ApiQuery<InternalPageQuery>,
) -> ApiResult<Json<Vec<Id>>> {
    let page = PageRequest::try_from(q)?;
    Ok(Json(Timelines::page(t.as_ref(), user, page).await?))
}

async fn deliver(
    State(t): State<Arc<TimelineService>>,
    ApiJson(d): ApiJson<Delivery>,
) -> ApiResult<StatusCode> {
    let entry = TimelineEntry {
        post: d.post,
        author: d.author,
    };
    t.deliver(&d.users, entry).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn deliveries(
    State(t): State<Arc<TimelineService>>,
    ApiJson(d): ApiJson<Deliveries>,
) -> ApiResult<StatusCode> {
    let timelines = d
        .resolve()
        .ok_or_else(|| ApiError::BadRequest("an entry index out of range".into()))?;
    t.deliver_each(&timelines).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn retract(
    State(t): State<Arc<TimelineService>>,
    ApiJson(d): ApiJson<Delivery>,
) -> ApiResult<StatusCode> {
    t.retract(&d.users, d.post).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn pair(raw: (String, String)) -> ApiResult<(Id, Id)> {
    let bad = || ApiError::NotFound("no such user".into());
    Ok((
        raw.0.parse().map_err(|_| bad())?,
        raw.1.parse().map_err(|_| bad())?,
    ))
}

async fn backfill(
    State(t): State<Arc<TimelineService>>,
    Path(raw): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (follower, followee) = pair(raw)?;
    t.backfill(follower, followee).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn purge(
    State(t): State<Arc<TimelineService>>,
    Path(raw): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (follower, followee) = pair(raw)?;
    t.purge(follower, followee).await?;
    Ok(StatusCode::NO_CONTENT)
}
