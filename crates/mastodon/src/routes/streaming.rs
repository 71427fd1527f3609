//! The streaming API as Mastodon clients use it, over Server-Sent Events: the user's
//! stream is Chirp's two live streams (home and notifications) read as the user and told
//! again in Mastodon's events (`update` with a Status, `delete` with an id,
//! `notification` with a Notification).

use std::pin::Pin;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use chirp_core::model::Post;
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::entities::{notification, status, ChirpNotification, Links};
use crate::error::MastoResult;
use crate::request::Req;
use crate::{Caller, MastodonState};

/// `GET /api/v1/streaming/health`.
pub async fn health() -> Response {
    let mut res = "OK".into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

/// One event of Chirp's stream.
#[derive(Debug, Default, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// Reads Server-Sent Events out of a byte stream: each event is its `event:` and its
/// `data:` lines (joined by new lines); comments and `id:` are left out.
#[derive(Default)]
pub struct SseReader {
    buf: Vec<u8>,
    current: SseEvent,
}

impl SseReader {
    /// The events `chunk` completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.current.event.is_empty() || !self.current.data.is_empty() {
                    out.push(std::mem::take(&mut self.current));
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.current.event = value.to_owned(),
                "data" => {
                    if !self.current.data.is_empty() {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                }
                _ => {}
            }
        }
        out
    }
}

/// Mastodon's event (its name and payload) for one of Chirp's, or `None` for one it has
/// no such event for.
pub fn translate(e: &SseEvent, links: Links<'_>) -> Option<(&'static str, String)> {
    match e.event.as_str() {
        "post" => {
            let post: Post = serde_json::from_str(&e.data).ok()?;
            Some(("update", status(&post, links).to_string()))
        }
        "delete" => {
            let v: Value = serde_json::from_str(&e.data).ok()?;
            Some(("delete", v.get("id")?.as_str()?.to_owned()))
        }
        "notification" => {
            let n: ChirpNotification = serde_json::from_str(&e.data).ok()?;
            Some(("notification", notification(&n, links).to_string()))
        }
        _ => None,
    }
}

/// One event in Server-Sent Events' form.
fn sse(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// Mastodon's events of one of Chirp's live streams, a batch per chunk read (empty for a
/// chunk of keep-alive comments).
pub type Events =
    Pin<Box<dyn Stream<Item = Result<Vec<(&'static str, String)>, std::io::Error>> + Send>>;

/// Chirp's live stream `kind` (`home` or `notifications`) of `me`, told in Mastodon's
/// events.
pub async fn chirp_events(
    s: &MastodonState,
    req: &Req,
    me: &Caller,
    kind: &str,
) -> MastoResult<Events> {
    let res = s
        .call(
            req,
            Some(me),
            Method::GET,
            &format!("/api/v1/streaming?stream={kind}"),
            None,
            Vec::new(),
        )
        .await?;
    if !res.status().is_success() {
        return Err(crate::refusal(res).await);
    }
    let base = req.base.clone();
    let mut reader = SseReader::default();
    let events = res.into_body().into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        Ok(reader
            .push(&chunk)
            .iter()
            .filter_map(|e| translate(e, Links { base: &base }))
            .collect())
    });
    Ok(Box::pin(events))
}

/// The Chirp streams a Mastodon stream name is made of, as far as `me`'s token may read
/// them (the notifications need `read:notifications`, as on Mastodon): `None` for a
/// stream Chirp does not have, an empty list for one the token may not read at all.
pub fn chirp_kinds(stream: &str, me: &Caller) -> Option<Vec<&'static str>> {
    let notifications = me.scopes.grants("read:notifications");
    match stream {
        "user" if notifications => Some(vec!["home", "notifications"]),
        "user" => Some(vec!["home"]),
        "user:notification" if notifications => Some(vec!["notifications"]),
        "user:notification" => Some(Vec::new()),
        _ => None,
    }
}

/// The request with its token from `?access_token=` when it has none in `Authorization`
/// (browsers' `EventSource` and WebSocket cannot send that header).
pub fn with_query_token(req: &Req, other: Option<&str>) -> Req {
    let token = req
        .token
        .clone()
        .or_else(|| req.params.get("access_token").map(str::to_owned))
        .or_else(|| other.map(str::to_owned));
    Req {
        path: req.path.clone(),
        query: Vec::new(),
        headers: req.headers.clone(),
        params: req.params.clone(),
        token,
        client: req.client,
        base: req.base.clone(),
    }
}

async fn stream_of(s: &MastodonState, req: &Req, stream: &str) -> MastoResult<Response> {
    let authorized = with_query_token(req, None);
    let me = s.caller(&authorized, "read:statuses").await?;
    let kinds = chirp_kinds(stream, &me).unwrap_or_default();
    if kinds.is_empty() {
        return Err(crate::error::MastoError::outside_scopes());
    }
    let mut streams = Vec::new();
    for kind in kinds {
        // Each ends with an error item, so that the first of them to end ends the whole
        // (`select_all` would go on with the other): the client reconnects to both.
        let ended =
            futures::stream::iter([Err(std::io::Error::other("a stream of Chirp's ended"))]);
        streams.push(chirp_events(s, &authorized, &me, kind).await?.chain(ended));
    }
    let opened =
        futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b":)\n\n")) });
    let merged = futures::stream::select_all(streams)
        .take_while(|r| futures::future::ready(r.is_ok()))
        .map(|batch| {
            let batch = batch?;
            // A chunk of comments only (the keep-alive) keeps this connection alive too.
            if batch.is_empty() {
                return Ok(Bytes::from_static(b":)\n\n"));
            }
            let text: String = batch.iter().map(|(name, data)| sse(name, data)).collect();
            Ok(Bytes::from(text))
        });
    let body = Body::from_stream(
        opened
            .chain(merged)
            .take_until(s.closing.clone().cancelled_owned()),
    );
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

/// `GET /api/v1/streaming/user`: the home timeline and the notifications.
pub async fn user(State(s): State<MastodonState>, req: Req) -> MastoResult<Response> {
    stream_of(&s, &req, "user").await
}

/// `GET /api/v1/streaming/user/notification`: the notifications alone.
pub async fn user_notifications(State(s): State<MastodonState>, req: Req) -> MastoResult<Response> {
    stream_of(&s, &req, "user:notification").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_across_chunks_without_comments_or_ids() {
        let mut r = SseReader::default();
        assert!(r.push(b": open\n\nid: 5\nevent: del").is_empty());
        let got = r.push(b"ete\ndata: {\"id\":\"5\"}\n\n: keep-alive\n\n");
        assert_eq!(
            got,
            [SseEvent {
                event: "delete".into(),
                data: "{\"id\":\"5\"}".into()
            }]
        );
        let links = Links { base: "http://x" };
        assert_eq!(translate(&got[0], links), Some(("delete", "5".to_owned())));
        assert_eq!(
            translate(
                &SseEvent {
                    event: "other".into(),
                    data: "{}".into()
                },
                links
            ),
            None
        );
    }
}
