//! NotificationService's routes: the caller's notifications, their unread count, and the
//! read mark.

use std::sync::Arc;

use std::collections::HashSet;
use std::convert::Infallible;

use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::{Json, Router};
use chirp_core::http::{ApiJson, ApiQuery, AuthUser, PathId};
use chirp_core::openapi::ProblemSchema;
use chirp_core::page::{Page, PageParams, PageRequest};
use chirp_core::token::TokenVerifier;
use chirp_core::ApiError;
use chirp_core::{ApiResult, Id};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::Kind;
use crate::live::{Frame, StreamKind};
use crate::service::{Notification, NotificationService};

#[derive(Clone)]
pub struct NotificationState {
    pub notifications: Arc<NotificationService>,
    pub verifier: TokenVerifier,
}

impl FromRef<NotificationState> for TokenVerifier {
    fn from_ref(s: &NotificationState) -> Self {
        s.verifier.clone()
    }
}

/// The paths of the live streams, for the listener that serves them without hyper's
/// connection (`chirp_core::http::serve`); a test in this module holds it to the route.
pub const STREAM_PATHS: &[&str] = &["/api/v1/streaming"];

/// NotificationService's routes and their part of the OpenAPI document.
pub fn routes() -> OpenApiRouter<NotificationState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(unread_count))
        .routes(routes!(mark_read))
        .routes(routes!(clear))
        .routes(routes!(dismiss))
        .routes(routes!(streaming))
}

pub fn router(state: NotificationState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only these kinds, separated by commas (every kind without it).
    #[param(
        pattern = "^(follow|like|repost|reply|mention)(,(follow|like|repost|reply|mention))*$",
        example = "like,reply"
    )]
    types: Option<String>,
    /// Items per page.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    cursor: Option<String>,
}

/// The caller's notifications, newest first: a new follower, a like or a repost of their
/// post, a reply to it, a mention. Never of their own actions, nor from those they block
/// or mute (or who block them).
#[utoipa::path(
    get,
    path = "/api/v1/notifications",
    tag = "notifications",
    operation_id = "notifications",
    security(("bearer" = [])),
    params(ListParams),
    responses((status = 200, description = "A page of notifications", body = Page<Notification>)),
)]
async fn list(
    State(s): State<NotificationState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<impl IntoResponse> {
    let kinds = match p.types.as_deref() {
        None => Vec::new(),
        Some(raw) => Kind::parse_list(raw)?,
    };
    let req = PageRequest::try_from(PageParams {
        limit: p.limit,
        cursor: p.cursor,
    })?;
    Ok(Json(s.notifications.list(caller.id, kinds, req).await?))
}

#[derive(Serialize, ToSchema)]
struct UnreadCount {
    /// Notifications newer than the read mark.
    count: u64,
}

/// How many of the caller's notifications are unread.
#[utoipa::path(
    get,
    path = "/api/v1/notifications/unread_count",
    tag = "notifications",
    operation_id = "notifications_unread_count",
    security(("bearer" = [])),
    responses((status = 200, description = "The unread count", body = UnreadCount)),
)]
async fn unread_count(
    State(s): State<NotificationState>,
    caller: AuthUser,
) -> ApiResult<impl IntoResponse> {
    let count = s.notifications.unread_count(caller.id).await?;
    Ok(Json(UnreadCount { count }))
}

#[derive(Deserialize, ToSchema)]
struct ReadBody {
    /// This notification and every older one are read.
    up_to: Id,
}

/// Mark a notification and every older one read (a mark never moves back).
#[utoipa::path(
    post,
    path = "/api/v1/notifications/read",
    tag = "notifications",
    operation_id = "notifications_read",
    security(("bearer" = [])),
    request_body = ReadBody,
    responses((status = 204, description = "Marked read")),
)]
async fn mark_read(
    State(s): State<NotificationState>,
    caller: AuthUser,
    ApiJson(b): ApiJson<ReadBody>,
) -> ApiResult<StatusCode> {
    s.notifications.mark_read(caller.id, b.up_to).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes every notification of the caller's.
#[utoipa::path(
    delete,
    path = "/api/v1/notifications",
    tag = "notifications",
    operation_id = "notifications_clear",
    security(("bearer" = [])),
    responses((status = 204, description = "Removed")),
)]
async fn clear(State(s): State<NotificationState>, caller: AuthUser) -> ApiResult<StatusCode> {
    s.notifications.dismiss(caller.id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes one notification of the caller's.
#[utoipa::path(
    delete,
    path = "/api/v1/notifications/{id}",
    tag = "notifications",
    operation_id = "notifications_dismiss",
    security(("bearer" = [])),
    params(("id" = Id, Path, description = "The notification")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "The caller has no notification of that id", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn dismiss(
    State(s): State<NotificationState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    s.notifications.dismiss(caller.id, Some(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StreamParams {
    /// What to stream: the caller's home timeline or notifications.
    #[param(required = true, pattern = "^(home|notifications)$", example = "home")]
    stream: Option<String>,
    /// The access token, for clients that cannot set a header (a browser's
    /// `EventSource`); never logged.
    access_token: Option<String>,
}

/// The caller of a stream: from the `Authorization` header, or else `?access_token=`.
struct StreamUser(AuthUser);

impl FromRequestParts<NotificationState> for StreamUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &NotificationState,
    ) -> Result<Self, ApiError> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return AuthUser::from_request_parts(parts, state)
                .await
                .map(StreamUser);
        }
        let ApiQuery(p) = ApiQuery::<StreamParams>::from_request_parts(parts, state).await?;
        let token = p
            .access_token
            .ok_or_else(|| ApiError::Unauthorized("an access token is required".into()))?;
        AuthUser::from_token(&token, &state.verifier, parts)
            .await
            .map(StreamUser)
    }
}

/// A live stream (Server-Sent Events) of the caller's home timeline (`event: post` for
/// each new item, `event: delete` with `{"id"}` for one that leaves it) or notifications
/// (`event: notification`). Each event's `id:` is its item's; a client that reconnects
/// with `Last-Event-ID` first gets what it missed (up to 100 items). A comment line at
/// once says the stream is open; one every 15 s keeps the connection open. A client that does not keep up (256 items waiting) is
/// disconnected, and replays when it reconnects. (Both figures are settings:
/// `--stream-keep-alive-secs`, `--stream-buffer`.)
#[utoipa::path(
    get,
    path = "/api/v1/streaming",
    tag = "notifications",
    operation_id = "streaming",
    security(("bearer" = [])),
    params(
        StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received", pattern = "^[0-9]{1,19}$"),
    ),
    responses(
        (status = 200, description = "The stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "No `stream`, an unknown one, or a `Last-Event-ID` that is not an id", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn streaming(
    State(s): State<NotificationState>,
    StreamUser(caller): StreamUser,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<StreamParams>,
) -> ApiResult<impl IntoResponse> {
    let kind = p
        .stream
        .as_deref()
        .and_then(StreamKind::parse)
        .ok_or_else(|| ApiError::BadRequest("stream must be home or notifications".into()))?;
    let last = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            // An id's own parser takes digits only.
            v.to_str()
                .ok()
                .and_then(|s| s.parse::<Id>().ok())
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be an id".into()))?,
        ),
    };
    let (replay, subscription) = s.notifications.stream(caller.id, kind, last).await?;
    // An item is sent once: an event and an id (a post, then its deletion, share one).
    let replayed: HashSet<(&'static str, Id)> = replay.iter().map(|f| (f.event, f.id)).collect();
    let live =
        futures::stream::unfold((subscription, replayed), |(mut sub, replayed)| async move {
            loop {
                let frame = sub.frames.recv().await?;
                if !replayed.contains(&(frame.event, frame.id)) {
                    return Some((frame, (sub, replayed)));
                }
            }
        });
    let replay = futures::stream::iter(replay.into_iter().map(Arc::new));
    let events = replay.chain(live).map(|f: Arc<Frame>| {
        Ok::<_, Infallible>(
            SseEvent::default()
                .event(f.event)
                .id(f.id.to_string())
                .data(&f.data),
        )
    });
    // A comment line at once: Firefox's fetch resolves on the first bytes of a body, not on
    // its head, so a page would otherwise learn that its stream is open only from the first
    // keep-alive, 15 s later.
    let opened =
        futures::stream::once(async { Ok::<_, Infallible>(SseEvent::default().comment("open")) });
    let sse = Sse::new(opened.chain(events))
        .keep_alive(KeepAlive::new().interval(s.notifications.live.settings.keep_alive));
    // NGINX passes the stream on as it comes (as its location for it says too).
    Ok(([(HeaderName::from_static("x-accel-buffering"), "no")], sse))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_paths_are_the_streaming_routes_paths() {
        let (_, api) = routes().split_for_parts();
        for path in STREAM_PATHS {
            assert!(api.paths.paths.contains_key(*path), "{path} is no route");
        }
    }
}
