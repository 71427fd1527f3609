//! Pagination the Mastodon way over Chirp's cursors. Chirp's lists are newest first and a
//! cursor means "strictly below this key", which is what `max_id` means: `max_id=K` is
//! Chirp's cursor of `K`, and a page's `next_cursor` is the `max_id` of its next page.
//! `since_id` and `min_id` (newer than) are read by walking down from the top to them.

use axum::http::{header, HeaderValue, Response};
use axum::response::IntoResponse;
use axum::Json;
use chirp_core::page::Cursor;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{MastoError, MastoResult};
use crate::request::Req;
use crate::{Caller, MastodonState};

/// A page of one of Chirp's lists.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The most pages of Chirp's read to find where a `since_id` or `min_id` is.
const MAX_WALK: usize = 10;

#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: usize,
    pub max_id: Option<u64>,
    pub since_id: Option<u64>,
    pub min_id: Option<u64>,
}

fn id_param(req: &Req, name: &str) -> MastoResult<Option<u64>> {
    match req.params.get(name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| MastoError::bad_request(format!("{name} must be an id"))),
    }
}

impl Paging {
    /// The paging of `req`; `limit` defaults to `default` and is held to `max` (Mastodon
    /// takes a larger one as its largest).
    pub fn of(req: &Req, default: usize, max: usize) -> MastoResult<Paging> {
        let limit = match req.params.get("limit") {
            None => default,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| MastoError::bad_request("limit must be a number"))?
                .clamp(1, max),
        };
        Ok(Paging {
            limit,
            max_id: id_param(req, "max_id")?,
            since_id: id_param(req, "since_id")?,
            min_id: id_param(req, "min_id")?,
        })
    }
}

/// `path` with Chirp's `limit` and `cursor` added (`path` may have a query already).
fn chirp_uri(path: &str, limit: usize, below: Option<u64>) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    match below {
        Some(k) => format!("{path}{sep}limit={limit}&cursor={}", Cursor(k).encode()),
        None => format!("{path}{sep}limit={limit}"),
    }
}

fn cursor_key(cursor: Option<&str>) -> MastoResult<Option<u64>> {
    cursor
        .map(|c| Cursor::decode(c).map(|c| c.0).map_err(MastoError::from))
        .transpose()
}

/// A page of a Mastodon list read from Chirp's list at `path`: its items, the `max_id`
/// of the next page (none at the end) and the `min_id` of the previous one.
pub struct Walked<T> {
    pub items: Vec<T>,
    pub next: Option<u64>,
    pub prev: Option<u64>,
}

/// Reads the page `paging` asks for from Chirp's list at `path`, whose items are ordered
/// by `key` (their id). `since_id` and `min_id` walk down from the top to the first
/// item at or below them, at most [`MAX_WALK`] pages.
pub async fn walk<T: DeserializeOwned>(
    state: &MastodonState,
    req: &Req,
    who: Option<&Caller>,
    path: &str,
    paging: Paging,
    key: fn(&T) -> u64,
) -> MastoResult<Walked<T>> {
    let floor = paging.min_id.or(paging.since_id);
    let Some(floor) = floor else {
        let page: Page<T> = state
            .get(req, who, &chirp_uri(path, paging.limit, paging.max_id))
            .await?;
        let next = cursor_key(page.next_cursor.as_deref())?;
        let prev = page.items.first().map(key);
        return Ok(Walked {
            items: page.items,
            next,
            prev,
        });
    };
    let mut newer = Vec::new();
    let mut below = paging.max_id;
    for _ in 0..MAX_WALK {
        let page: Page<T> = state.get(req, who, &chirp_uri(path, 40, below)).await?;
        let mut reached = false;
        for item in page.items {
            if key(&item) <= floor {
                reached = true;
                break;
            }
            newer.push(item);
        }
        below = cursor_key(page.next_cursor.as_deref())?;
        if reached || below.is_none() {
            break;
        }
    }
    let items: Vec<T> = if paging.min_id.is_some() {
        // The items just above `min_id`: the oldest of those newer than it.
        let skip = newer.len().saturating_sub(paging.limit);
        newer.into_iter().skip(skip).collect()
    } else {
        newer.into_iter().take(paging.limit).collect()
    };
    let next = items.last().map(key);
    let prev = items.first().map(key).or(Some(floor));
    Ok(Walked { items, next, prev })
}

/// Mastodon's answer for a page: the items as a plain array, and a `Link` header with
/// the next (`max_id`) and previous (`min_id`) pages, absolute, keeping the request's
/// other parameters.
pub fn answer(
    req: &Req,
    items: Vec<Value>,
    next: Option<u64>,
    prev: Option<u64>,
    limit: usize,
) -> Response<axum::body::Body> {
    let mut links = Vec::new();
    let link = |name: &str, id: u64| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &req.query {
            if !matches!(k.as_str(), "max_id" | "min_id" | "since_id" | "limit") {
                q.append_pair(k, v);
            }
        }
        q.append_pair("limit", &limit.to_string());
        q.append_pair(name, &id.to_string());
        format!("<{}{}?{}>", req.base, req.path, q.finish())
    };
    // A page that filtering emptied still leads on, if Chirp's list does.
    if let Some(next) = next {
        links.push(format!("{}; rel=\"next\"", link("max_id", next)));
    }
    if let Some(prev) = prev {
        links.push(format!("{}; rel=\"prev\"", link("min_id", prev)));
    }
    let mut res = Json(Value::Array(items)).into_response();
    if !links.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    res
}

/// Items `offset..offset + limit` of Chirp's list at `path` (Mastodon's search pages by
/// `offset`), read a page of 40 at a time, at most [`MAX_WALK`] pages.
pub async fn at_offset<T: DeserializeOwned>(
    state: &MastodonState,
    req: &Req,
    who: Option<&Caller>,
    path: &str,
    offset: usize,
    limit: usize,
) -> MastoResult<Vec<T>> {
    let mut items = Vec::new();
    let mut below = None;
    for _ in 0..MAX_WALK {
        let page: Page<T> = state.get(req, who, &chirp_uri(path, 40, below)).await?;
        items.extend(page.items);
        below = cursor_key(page.next_cursor.as_deref())?;
        if items.len() >= offset + limit || below.is_none() {
            break;
        }
    }
    Ok(items.into_iter().skip(offset).take(limit).collect())
}

/// The `offset` parameter (0 without it).
pub fn offset(req: &Req) -> MastoResult<usize> {
    match req.params.get("offset") {
        None => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| MastoError::bad_request("offset must be a number")),
    }
}
