//! Live streams (API.md, "Notifications and live updates"): Server-Sent Events of the home
//! timeline and of notifications, read by a real HTTP client as a browser's EventSource
//! would: the token in the header or the query, `id:` on every event, `Last-Event-ID`
//! replay, hybrid-fanout authors, and the error statuses.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// One event of a stream.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    event: String,
    id: String,
    data: Value,
}

/// An open stream, read event by event.
struct Stream {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

/// How long a live event may take to arrive: API.md's bound for what is eventual.
const LIVE: Duration = EVENTUALLY;

impl Stream {
    /// The next event (comment lines, the keep-alives, are passed over), or `None` if
    /// none comes within `within`.
    async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut e = SseEvent {
                    event: "message".into(),
                    id: String::new(),
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        e.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        e.id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                e.data = serde_json::from_str(&data).expect("an event's data is JSON");
                return Some(e);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next()).await;
            match chunk {
                Ok(Some(Ok(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Some(Err(e))) => panic!("the stream broke: {e}"),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    async fn next(&mut self) -> SseEvent {
        self.next_within(LIVE)
            .await
            .expect("an event within the bound")
    }
}

impl TestApp {
    async fn open_stream(&self, who: &TestUser, query: &str, last: Option<&str>) -> Stream {
        let mut req = self
            .http
            .get(self.url(&format!("/api/v1/streaming{query}")))
            .bearer_auth(&who.access);
        if let Some(last) = last {
            req = req.header("Last-Event-ID", last);
        }
        let res = req.send().await.expect("the stream opens");
        assert_eq!(res.status(), StatusCode::OK);
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Stream {
            body: res.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }
}

#[tokio::test]
async fn a_followers_home_stream_gets_each_new_post_and_each_deletion_live() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    app.follow(&ann, &bob).await;
    let mut stream = app.open_stream(&ann, "?stream=home", None).await;
    // A post of someone ann does not follow, then one of bob's: only bob's comes.
    app.post_id(&cat, "not for ann").await;
    let post = app.post_id(&bob, "live from bob").await;
    let e = stream.next().await;
    assert_eq!((e.event.as_str(), e.id.as_str()), ("post", post.as_str()));
    assert_eq!(e.data["author"]["handle"], bob.handle.as_str());
    assert_eq!(e.data["text"], "live from bob");
    assert_eq!(e.data["viewer"], json!({"liked": false, "reposted": false}));
    // Ann's own post reaches her own home.
    let own = app.post_id(&ann, "mine").await;
    assert_eq!(stream.next().await.id, own);
    assert_eq!(
        app.delete(&bob, &post).await.status(),
        StatusCode::NO_CONTENT
    );
    let e = stream.next().await;
    assert_eq!(
        (e.event.as_str(), e.id.as_str(), &e.data),
        ("delete", post.as_str(), &json!({"id": post}))
    );
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_gets_exactly_what_it_missed() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.follow(&ann, &bob).await;
    let mut stream = app.open_stream(&ann, "?stream=home", None).await;
    let first = app.post_id(&bob, "one").await;
    assert_eq!(stream.next().await.id, first);
    drop(stream);
    // Missed while away: two posts (in the home timeline before the reconnect).
    let two = app.post_id(&bob, "two").await;
    let three = app.post_id(&bob, "three").await;
    eventually("the missed posts are home", || async {
        app.home_ids(&ann).await.contains(&three).then_some(())
    })
    .await;
    let mut stream = app.open_stream(&ann, "?stream=home", Some(&first)).await;
    assert_eq!(stream.next().await.id, two);
    assert_eq!(stream.next().await.id, three);
    let four = app.post_id(&bob, "four").await;
    assert_eq!(stream.next().await.id, four);
    // Nothing else: no item twice.
    assert_eq!(stream.next_within(Duration::from_millis(500)).await, None);
}

#[tokio::test]
async fn the_notification_stream_takes_the_token_in_the_query_and_replays_too() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let post = app.post_id(&ann, "like this").await;
    // As a browser's EventSource opens it: no header, the token in the query.
    let res = app
        .http
        .get(app.url(&format!(
            "/api/v1/streaming?stream=notifications&access_token={}",
            urlencode(&ann.access)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut stream = Stream {
        body: res.bytes_stream().boxed(),
        buffer: String::new(),
    };
    let like = format!("/api/v1/posts/{post}/like");
    app.act(&bob, reqwest::Method::POST, &like).await;
    let e = stream.next().await;
    assert_eq!(e.event, "notification");
    assert_eq!(e.data["type"], "like");
    assert_eq!(e.data["actor"]["id"], bob.id.as_str());
    assert_eq!(e.data["post"]["id"], post.as_str());
    assert_eq!(e.data["id"], e.id.as_str());
    let liked = e.id;
    drop(stream);
    app.follow(&bob, &ann).await;
    eventually("the follow is notified", || async {
        let page = app
            .get_json("/api/v1/notifications?types=follow", Some(&ann.access))
            .await;
        (!ids(&page).is_empty()).then_some(())
    })
    .await;
    let mut stream = app
        .open_stream(&ann, "?stream=notifications", Some(&liked))
        .await;
    let e = stream.next().await;
    assert_eq!(
        (e.event.as_str(), &e.data["type"]),
        ("notification", &json!("follow"))
    );
    assert_eq!(stream.next_within(Duration::from_millis(500)).await, None);
}

#[tokio::test]
async fn a_hybrid_fanout_authors_posts_reach_the_home_stream_too() {
    // Above one follower, an author is not fanned out: their posts are merged at read.
    let app = spawn_app_with(|s| s.celebrity_threshold = 1).await;
    let ann = app.signup("ann").await;
    let cat = app.signup("cat").await;
    let star = app.signup("star").await;
    app.follow(&ann, &star).await;
    app.follow(&cat, &star).await;
    let mut stream = app.open_stream(&ann, "?stream=home", None).await;
    let post = app.post_id(&star, "to my many followers").await;
    let e = stream.next().await;
    assert_eq!((e.event.as_str(), e.id.as_str()), ("post", post.as_str()));
}

#[tokio::test]
async fn a_stream_needs_a_valid_token_and_a_known_stream() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    for path in [
        "/api/v1/streaming?stream=home",
        "/api/v1/streaming?stream=home&access_token=not-a-token",
    ] {
        assert_problem(app.get(path, None).await, StatusCode::UNAUTHORIZED).await;
    }
    for query in ["", "?stream=", "?stream=public", "?stream=home&stream=x"] {
        let res = app
            .get(&format!("/api/v1/streaming{query}"), Some(&ann.access))
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
    let res = app
        .http
        .get(app.url("/api/v1/streaming?stream=home"))
        .bearer_auth(&ann.access)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST).await;
}
