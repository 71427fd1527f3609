//! Timelines (home, hashtag), notifications, favourites, search and markers.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chirp_core::model::Post;
use serde::Deserialize;
use serde_json::{json, Value};

use super::accounts::{id_segment, search_accounts};
use crate::entities::{chirp_types, notification, status, ChirpNotification};
use crate::error::{MastoError, MastoResult};
use crate::paging::{answer, at_offset, offset, walk, Page, Paging};
use crate::request::links;
use crate::request::Req;
use crate::MastodonState;

type St = State<MastodonState>;

/// `GET /api/v1/timelines/home`.
pub async fn home(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "read:statuses").await?;
    let paging = Paging::of(&req, 20, 40)?;
    let page = walk::<Post>(&s, &req, Some(&me), "/api/v1/timelines/home", paging, |p| {
        p.id.0
    })
    .await?;
    let items = page.items.iter().map(|p| status(p, links(&req))).collect();
    Ok(answer(&req, items, page.next, page.prev, paging.limit))
}

/// The search query of a hashtag: `#tag` matches the posts whose tags hold it.
fn tag_query(tag: &str) -> MastoResult<String> {
    let tag = tag.trim_start_matches('#');
    if tag.is_empty() || !tag.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(MastoError::not_found());
    }
    Ok(form_urlencoded::Serializer::new(String::new())
        .append_pair("q", &format!("#{tag}"))
        .finish())
}

/// `GET /api/v1/timelines/tag/:hashtag`: the posts with the tag, through search.
pub async fn tag(State(s): St, Path(tag): Path<String>, req: Req) -> MastoResult<Response> {
    let me = s.maybe_caller(&req, "read:statuses").await?;
    let paging = Paging::of(&req, 20, 40)?;
    let path = format!("/api/v1/search/posts?{}", tag_query(&tag)?);
    let page = walk::<Post>(&s, &req, me.as_ref(), &path, paging, |p| p.id.0).await?;
    let items = page.items.iter().map(|p| status(p, links(&req))).collect();
    Ok(answer(&req, items, page.next, page.prev, paging.limit))
}

/// `GET /api/v1/favourites`: what the caller liked, most recent like first.
pub async fn favourites(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "read:favourites").await?;
    let paging = Paging {
        since_id: None,
        min_id: None,
        ..Paging::of(&req, 20, 40)?
    };
    let path = format!("/api/v1/users/{}/likes", me.user.id);
    let page = walk::<Post>(&s, &req, Some(&me), &path, paging, |p| p.id.0).await?;
    let items = page.items.iter().map(|p| status(p, links(&req))).collect();
    Ok(answer(&req, items, page.next, None, paging.limit))
}

/// Chirp's `types` for Mastodon's `types[]` and `exclude_types[]`: `None` when nothing
/// can match (every asked-for type is one Chirp never makes).
fn chirp_filter(req: &Req) -> Option<Vec<&'static str>> {
    let all = ["follow", "like", "repost", "mention", "reply"];
    let wanted: Vec<&str> = req.params.list("types");
    let mut kinds: Vec<&'static str> = if wanted.is_empty() {
        all.to_vec()
    } else {
        wanted
            .iter()
            .flat_map(|t| chirp_types(t).iter().copied())
            .collect()
    };
    let excluded: Vec<&'static str> = req
        .params
        .list("exclude_types")
        .iter()
        .flat_map(|t| chirp_types(t).iter().copied())
        .collect();
    kinds.retain(|k| !excluded.contains(k));
    kinds.dedup();
    (!kinds.is_empty()).then_some(kinds)
}

/// `GET /api/v1/notifications`.
pub async fn notifications(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "read:notifications").await?;
    let paging = Paging::of(&req, 40, 80)?;
    let Some(kinds) = chirp_filter(&req) else {
        return Ok(answer(&req, Vec::new(), None, None, paging.limit));
    };
    let path = format!("/api/v1/notifications?types={}", kinds.join(","));
    let page = walk::<ChirpNotification>(&s, &req, Some(&me), &path, paging, |n| n.id.0).await?;
    // Only those by one account, when asked (Chirp's list has no such filter: a page may
    // come short, and its `Link` goes on where it stopped).
    let by = req.params.id("account_id")?;
    let items = page
        .items
        .iter()
        .filter(|n| by.is_none_or(|a| n.actor.id == a))
        .map(|n| notification(n, links(&req)))
        .collect();
    Ok(answer(&req, items, page.next, page.prev, paging.limit))
}

/// `GET /api/v1/notifications/:id`: the one notification with that id, read where it
/// lies in the caller's list.
pub async fn notification_by_id(
    State(s): St,
    Path(id): Path<String>,
    req: Req,
) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    let me = s.caller(&req, "read:notifications").await?;
    let cursor = chirp_core::page::Cursor(id.saturating_add(1)).encode();
    let page: Page<ChirpNotification> = s
        .get(
            &req,
            Some(&me),
            &format!("/api/v1/notifications?limit=1&cursor={cursor}"),
        )
        .await?;
    let found = page
        .items
        .into_iter()
        .find(|n| n.id.0 == id)
        .ok_or_else(MastoError::not_found)?;
    Ok(Json(notification(&found, links(&req))).into_response())
}

#[derive(Deserialize)]
struct Count {
    count: u64,
}

/// `GET /api/v1/notifications/unread_count`.
pub async fn unread_count(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "read:notifications").await?;
    let c: Count = s
        .get(&req, Some(&me), "/api/v1/notifications/unread_count")
        .await?;
    Ok(Json(json!({"count": c.count})).into_response())
}

/// `GET /api/v2/search`: accounts by handle or name, statuses by their words, and the
/// hashtag the query names.
pub async fn search(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "read:search").await?;
    let q = req.params.get("q").unwrap_or("").trim().to_owned();
    let kind = req.params.get("type");
    let limit = Paging::of(&req, 20, 40)?.limit;
    let wants = |k: &str| kind.is_none_or(|t| t == k);
    let accounts = if wants("accounts") {
        search_accounts(&s, &req, &me).await?
    } else {
        Vec::new()
    };
    let statuses: Vec<Value> = if wants("statuses") && !q.is_empty() {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &q)
            .finish();
        let path = format!("/api/v1/search/posts?{query}");
        let found: Vec<Post> = at_offset(&s, &req, Some(&me), &path, offset(&req)?, limit).await?;
        found.iter().map(|p| status(p, links(&req))).collect()
    } else {
        Vec::new()
    };
    let tag = q.trim_start_matches('#');
    let hashtags: Vec<Value> = if wants("hashtags")
        && !tag.is_empty()
        && tag.chars().all(|c| c.is_alphanumeric() || c == '_')
    {
        let name = tag.to_lowercase();
        vec![
            json!({"name": name, "url": links(&req).tag(&name), "history": [], "following": false}),
        ]
    } else {
        Vec::new()
    };
    Ok(
        Json(json!({"accounts": accounts, "statuses": statuses, "hashtags": hashtags}))
            .into_response(),
    )
}

/// `GET /api/v1/markers`: the notifications marker is where Chirp's read mark is (the
/// newest notification read); Chirp keeps no position in the home timeline.
pub async fn markers(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "read:statuses").await?;
    let wanted = req.params.list("timeline");
    let mut out = serde_json::Map::new();
    if wanted.is_empty() || wanted.contains(&"notifications") {
        if let Some(marker) = notifications_marker(&s, &req, &me).await? {
            out.insert("notifications".into(), marker);
        }
    }
    Ok(Json(Value::Object(out)).into_response())
}

async fn notifications_marker(
    s: &MastodonState,
    req: &Req,
    me: &crate::Caller,
) -> MastoResult<Option<Value>> {
    // The newest notification read: every older one is read too.
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let uri = match &cursor {
            Some(c) => format!("/api/v1/notifications?limit=100&cursor={c}"),
            None => "/api/v1/notifications?limit=100".to_owned(),
        };
        let page: Page<ChirpNotification> = s.get(req, Some(me), &uri).await?;
        if let Some(n) = page.items.iter().find(|n| n.read) {
            return Ok(Some(json!({
                "last_read_id": n.id.to_string(),
                "version": 1,
                "updated_at": n.created_at,
            })));
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(None)
}

/// `POST /api/v1/markers`: `notifications[last_read_id]` marks that notification and
/// every older one read.
pub async fn set_markers(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "write:statuses").await?;
    let mut out = serde_json::Map::new();
    if let Some(id) = req.params.get("notifications[last_read_id]") {
        let id = id
            .parse::<u64>()
            .map_err(|_| MastoError::unprocessable("last_read_id must be an id"))?;
        s.act(
            &req,
            &me,
            Method::POST,
            "/api/v1/notifications/read",
            Some(json!({"up_to": id.to_string()})),
        )
        .await?;
        out.insert(
            "notifications".into(),
            json!({"last_read_id": id.to_string(), "version": 1,
                   "updated_at": chirp_core::time::rfc3339(chirp_core::time::now_ms())}),
        );
    }
    Ok(Json(Value::Object(out)).into_response())
}

/// `POST /api/v1/notifications/clear`.
pub async fn clear_notifications(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "write:notifications").await?;
    s.act(&req, &me, Method::DELETE, "/api/v1/notifications", None)
        .await?;
    Ok(Json(json!({})).into_response())
}

/// `POST /api/v1/notifications/:id/dismiss` (and the older `POST
/// /api/v1/notifications/dismiss` with `id`).
pub async fn dismiss_notification(
    State(s): St,
    id: Option<Path<String>>,
    req: Req,
) -> MastoResult<Response> {
    let me = s.caller(&req, "write:notifications").await?;
    let raw = match &id {
        Some(Path(id)) => id.as_str(),
        None => req.params.get("id").ok_or_else(MastoError::not_found)?,
    };
    let id = id_segment(raw)?;
    s.act(
        &req,
        &me,
        Method::DELETE,
        &format!("/api/v1/notifications/{id}"),
        None,
    )
    .await?;
    Ok(Json(json!({})).into_response())
}
