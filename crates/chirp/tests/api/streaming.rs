//! Live streams (API.md, "Notifications and live updates"): Server-Sent Events of the home
//! timeline and of notifications, read by a real HTTP client as a browser's EventSource
//! would: the token in the header or the query, `id:` on every event, `Last-Event-ID`
//! replay, hybrid-fanout authors, the keep-alive comments, a client too slow to keep up
//! (disconnected, holding back no one), and the error statuses.

use std::time::Duration;

use chirp_core::limits::Limit;
use chirp_testkit::api::sum_of;
use chirp_testkit::sse::{SseEnd, SseEvent, SseItem, SseStream};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// An open stream, read event by event.
struct Stream(SseStream);

/// How long a live event may take to arrive: API.md's bound for what is eventual.
const LIVE: Duration = EVENTUALLY;

impl Stream {
    /// The next event (comment lines, the keep-alives, are passed over), or `None` if
    /// none comes within `within` or the stream ends.
    async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        match self.0.next_event(deadline).await {
            Ok(e) => e,
            Err(SseEnd::Ended) => None,
            Err(SseEnd::Broke(e)) => panic!("the stream broke: {e}"),
        }
    }

    /// How many comment lines (the keep-alives) arrive within `within`; fails on an event.
    async fn comments_within(&mut self, within: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + within;
        let mut comments = 0;
        loop {
            match self.0.next_item(deadline).await {
                Ok(Some(SseItem::Comment)) => comments += 1,
                Ok(Some(SseItem::Event(e))) => panic!("not a comment: {e:?}"),
                Ok(None) => return comments,
                Err(e) => panic!("the stream ended: {e:?}"),
            }
        }
    }

    /// The next event; fails, saying which, if the stream ends (the server closed it)
    /// or none comes within the bound.
    async fn next(&mut self) -> SseEvent {
        let deadline = tokio::time::Instant::now() + LIVE;
        match self.0.next_event(deadline).await {
            Ok(Some(e)) => e,
            Ok(None) => panic!("no event within {LIVE:?}"),
            Err(SseEnd::Ended) => panic!("the stream ended before the next event"),
            Err(SseEnd::Broke(e)) => panic!("the stream broke: {e}"),
        }
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
        Stream(SseStream::new(res))
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
    let mut stream = Stream(SseStream::new(res));
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

#[tokio::test]
async fn an_idle_stream_gets_a_comment_line_at_each_keep_alive_interval() {
    let app = spawn_app_with(|s| s.stream_keep_alive_secs = 1).await;
    let ann = app.signup("ann").await;
    let mut stream = app.open_stream(&ann, "?stream=notifications", None).await;
    // A comment at once, as soon as the stream is open (before any keep-alive is due).
    let opened = stream.comments_within(Duration::from_millis(500)).await;
    assert_eq!(opened, 1, "the opening comment");
    // Nothing happens to ann for 3.5 s: a comment each second, and nothing else. (At
    // least two: a late timer on a busy machine may put the third past the end; at most
    // four: one per interval, not a flood.)
    let comments = stream.comments_within(Duration::from_millis(3500)).await;
    assert!((2..=4).contains(&comments), "{comments} comment lines");
}

/// Opens a home stream on a raw connection that holds little, and reads only the answer's
/// head: from then on the client reads nothing. Little: a receive buffer of a few KiB,
/// and segments of 1,000 bytes (on loopback they are 64 KiB, and the server's send buffer
/// starts at ten of them: megabytes).
/// A home stream's request head, with the token in its header.
fn home_stream_request(token: &str) -> String {
    format!(
        "GET /api/v1/streaming?stream=home HTTP/1.1\r\nHost: chirp\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    )
}

async fn open_unread_stream(app: &TestApp, who: &TestUser) -> tokio::net::TcpStream {
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_tcp_mss(1000).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut conn = tokio::net::TcpStream::from_std(socket.into()).unwrap();
    conn.write_all(home_stream_request(&who.access).as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut conn).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    conn
}

#[tokio::test]
async fn a_client_that_does_not_read_is_disconnected_and_holds_back_no_one() {
    let app = spawn_app_with(|s| {
        s.stream_buffer = 64;
        s.limits.write_limit_per_user = Limit::OFF;
        s.limits.write_limit_per_address = Limit::OFF;
        s.limits.request_limit_per_address = Limit::OFF;
    })
    .await;
    let (ann, cat, bob) = (
        app.signup("ann").await,
        app.signup("cat").await,
        app.signup("bob").await,
    );
    app.follow(&ann, &bob).await;
    app.follow(&cat, &bob).await;
    let mut slow = open_unread_stream(&app, &ann).await;
    let mut fast = app.open_stream(&cat, "?stream=home", None).await;
    // More than the stream's buffer, the server's HTTP write buffer and the two sockets'
    // buffers hold: 800 events of about 600 bytes (280 of them were on their way when
    // this test was written).
    const POSTS: usize = 800;
    let filler = "so that each event is a few hundred bytes long ".repeat(4);
    // The reader who keeps up reads as the posts are made.
    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while ids.len() < POSTS {
            ids.push(fast.next().await.id);
        }
        ids
    });
    let mut posts = Vec::new();
    for i in 0..POSTS {
        posts.push(app.post_id(&bob, &format!("post {i}, {filler}")).await);
    }
    // It gets every post, in order, none missing.
    assert_eq!(reader.await.unwrap(), posts);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert_eq!(
        sum_of(&metrics, "chirp_stream_slow_disconnects_total"),
        1.0,
        "one stream was closed as too slow"
    );
    // The slow client, reading at last, gets what was on its way, then the end of the
    // stream (the chunked answer's last chunk): short of every post.
    let mut got = Vec::new();
    let ended = tokio::time::timeout(EVENTUALLY, async {
        let mut buf = vec![0u8; 65536];
        loop {
            let n = slow.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            if n == 0 || got.ends_with(b"\r\n0\r\n\r\n") {
                return;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the slow stream did not end");
    let text = String::from_utf8_lossy(&got);
    let received = text.matches("event: post").count();
    assert!(
        received < POSTS,
        "the slow client was sent all {received} posts"
    );
    eprintln!("the slow client had {received} of {POSTS} posts on their way");
}

/// Items a stream holds in the burst tests.
const BURST_BUFFER: u64 = 4;
/// Items made at once in the burst tests: ten times what a stream holds.
const BURST: usize = 40;

/// An app whose streams hold [`BURST_BUFFER`] items, without write limits.
async fn burst_app() -> TestApp {
    spawn_app_with(|s| {
        s.stream_buffer = BURST_BUFFER;
        s.limits.write_limit_per_user = Limit::OFF;
        s.limits.write_limit_per_address = Limit::OFF;
        s.limits.request_limit_per_address = Limit::OFF;
    })
    .await
}

/// What a reader of a burst got: the events, and why it stopped short, if it did.
type Burst = (Vec<SseEvent>, Option<String>);

/// Reads [`BURST`] events from `stream` as they come; stops short if the stream ends,
/// breaks, or has no event within the bound.
fn read_burst(mut stream: Stream) -> tokio::task::JoinHandle<Burst> {
    tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < BURST {
            let deadline = tokio::time::Instant::now() + LIVE;
            let stopped = match stream.0.next_event(deadline).await {
                Ok(Some(e)) => {
                    got.push(e);
                    continue;
                }
                Ok(None) => format!("no event within {LIVE:?}"),
                Err(SseEnd::Ended) => "the stream ended".to_owned(),
                Err(SseEnd::Broke(e)) => format!("the stream broke: {e}"),
            };
            return (got, Some(stopped));
        }
        (got, None)
    })
}

/// That a client reading as events came got [`BURST`] of them, all of `kind`, and that
/// no stream was closed as too slow: the events.
async fn whole_burst(
    app: &TestApp,
    reader: tokio::task::JoinHandle<Burst>,
    kind: &str,
) -> Vec<SseEvent> {
    let (got, stopped) = reader.await.unwrap();
    let slow = sum_of(
        &app.get("/metrics", None).await.text().await.unwrap(),
        "chirp_stream_slow_disconnects_total",
    );
    assert_eq!(
        (got.len(), stopped, slow),
        (BURST, None, 0.0),
        "events received, why the reading stopped, streams closed as too slow"
    );
    assert!(got.iter().all(|e| e.event == kind), "{got:?}");
    got
}

// A stream holds 4 items; 40 posts (or likes) made at once reach the log close
// together, and the live streams take them in batches (when two or more come in one,
// as they do in the embedded shape, the old code closed the stream). A client that
// reads as they come gets every one: a stream is closed as too slow when its client
// does not read, not because a batch came faster than its connection is written to.

#[tokio::test]
async fn a_burst_of_posts_longer_than_the_buffer_reaches_a_client_that_reads() {
    let app = burst_app().await;
    let (cat, bob) = (app.signup("cat").await, app.signup("bob").await);
    app.follow(&cat, &bob).await;
    let reader = read_burst(app.open_stream(&cat, "?stream=home", None).await);
    let texts: Vec<String> = (0..BURST).map(|i| format!("burst {i}")).collect();
    let mut posts = futures::future::join_all(texts.iter().map(|t| app.post_id(&bob, t))).await;
    let got = whole_burst(&app, reader, "post").await;
    let mut got: Vec<String> = got.into_iter().map(|e| e.id).collect();
    posts.sort();
    got.sort();
    assert_eq!(got, posts);
}

#[tokio::test]
async fn a_burst_of_notifications_longer_than_the_buffer_reaches_a_client_that_reads() {
    let app = burst_app().await;
    let (cat, bob) = (app.signup("cat").await, app.signup("bob").await);
    let mut posts = Vec::new();
    for i in 0..BURST {
        posts.push(app.post_id(&cat, &format!("like {i}")).await);
    }
    let reader = read_burst(app.open_stream(&cat, "?stream=notifications", None).await);
    let paths: Vec<String> = posts
        .iter()
        .map(|p| format!("/api/v1/posts/{p}/like"))
        .collect();
    let likes = paths
        .iter()
        .map(|p| app.act(&bob, reqwest::Method::POST, p));
    for res in futures::future::join_all(likes).await {
        assert!(res.status().is_success(), "{}", res.status());
    }
    let got = whole_burst(&app, reader, "notification").await;
    // Bob's like of each of the posts.
    let mut liked: Vec<String> = got
        .iter()
        .map(|e| {
            assert_eq!(
                (&e.data["type"], &e.data["actor"]["id"]),
                (&json!("like"), &json!(bob.id))
            );
            e.data["post"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    liked.sort();
    posts.sort();
    assert_eq!(liked, posts);
}

/// A raw connection to the app's own listener (not a gateway's).
async fn connect(app: &TestApp) -> tokio::net::TcpStream {
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    tokio::net::TcpStream::connect(addr).await.unwrap()
}

/// Reads an answer's head (up to its blank line), lower-cased.
async fn read_head(conn: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        conn.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_lowercase()
}

/// An answer head's `content-length` (the head lower-cased).
fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a length")
        .trim()
        .parse()
        .unwrap()
}

/// Reads until `needle` has arrived (or the connection ends, or the bound passes).
async fn read_until(conn: &mut tokio::net::TcpStream, needle: &str) -> String {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(LIVE, async {
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf).await.unwrap_or(0);
            got.extend_from_slice(&buf[..n]);
            if n == 0 || String::from_utf8_lossy(&got).contains(needle) {
                return;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

async fn open_streams(app: &TestApp) -> f64 {
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    sum_of(&metrics, "chirp_streams_open")
}

/// A stream asked for on a connection of its own is served without the general HTTP
/// connection (which costs four times the stream while it waits): the same answer, its
/// body in chunks, `connection: close`, and the stream given back when the client goes.
#[tokio::test]
async fn a_stream_on_a_connection_of_its_own_is_answered_in_chunks_and_ends_with_it() {
    let app = spawn_app_with(|_| {}).await;
    let (ann, bob) = (app.signup("ann").await, app.signup("bob").await);
    app.follow(&ann, &bob).await;
    let mut conn = connect(&app).await;
    let request = format!(
        "GET /api/v1/streaming?stream=home&access_token={} HTTP/1.1\r\nHost: chirp\r\n\r\n",
        ann.access
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut conn).await;
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    for line in [
        "content-type: text/event-stream",
        "transfer-encoding: chunked",
        "connection: close",
        "x-accel-buffering: no",
        "x-content-type-options: nosniff",
        "date: ",
    ] {
        assert!(head.contains(line), "{line} is not in {head}");
    }
    assert_eq!(open_streams(&app).await, 1.0);
    // The opening comment comes first, at once, in a chunk of its own.
    let opened = read_until(&mut conn, "\n\n\r\n").await;
    assert!(opened.ends_with("\r\n: open\n\n\r\n"), "{opened}");
    let post = app.post_id(&bob, "on a connection of its own").await;
    // One chunk: its size in hex, then the event (ending in a blank line), then CRLF.
    let got = read_until(&mut conn, "\n\n\r\n").await;
    let (size, rest) = got.split_once("\r\n").expect("a chunk");
    let size = usize::from_str_radix(size, 16).expect("a chunk's size");
    assert!(
        rest[..size].starts_with(&format!("event: post\nid: {post}\n")),
        "{got}"
    );
    // The client goes: its stream is closed with it, not at the next keep-alive.
    drop(conn);
    let closed = tokio::time::timeout(LIVE, async {
        while open_streams(&app).await != 0.0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "the stream outlived its client");
    // A client that sends on a stream's connection (a request after it, though the answer
    // said the connection closes) is not read from for ever: it is closed.
    let mut conn = connect(&app).await;
    conn.write_all(request.as_bytes()).await.unwrap();
    read_head(&mut conn).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: chirp\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(LIVE, conn.read_to_end(&mut rest)).await;
    assert!(
        matches!(ended, Ok(Ok(_))),
        "the connection stayed open: {ended:?}"
    );
}

/// A stream's request refused on a connection of its own gets the same problem document
/// as anywhere, with its length, and the connection is closed.
#[tokio::test]
async fn a_refused_stream_on_a_connection_of_its_own_gets_its_problem_and_the_end() {
    let app = spawn_app_with(|_| {}).await;
    let ann = app.signup("ann").await;
    for (query, status) in [
        (format!("?stream=public&access_token={}", ann.access), "400"),
        ("?stream=home&access_token=nonsense".to_owned(), "401"),
    ] {
        let mut conn = connect(&app).await;
        let request = format!("GET /api/v1/streaming{query} HTTP/1.1\r\nHost: chirp\r\n\r\n");
        conn.write_all(request.as_bytes()).await.unwrap();
        let head = read_head(&mut conn).await;
        assert!(head.starts_with(&format!("http/1.1 {status} ")), "{head}");
        assert!(
            head.contains("content-type: application/problem+json"),
            "{head}"
        );
        assert!(head.contains("connection: close"), "{head}");
        let length = content_length(&head);
        let mut body = Vec::new();
        conn.read_to_end(&mut body).await.unwrap();
        assert_eq!(body.len(), length);
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"].to_string(), status);
    }
}

/// A stream asked for on a connection that has served a request already is served by the
/// general HTTP connection, the same stream (and the connection is kept).
#[tokio::test]
async fn a_stream_after_another_request_on_its_connection_is_served_too() {
    let app = spawn_app_with(|_| {}).await;
    let (ann, bob) = (app.signup("ann").await, app.signup("bob").await);
    app.follow(&ann, &bob).await;
    let mut conn = connect(&app).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: chirp\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut conn).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let length = content_length(&head);
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await.unwrap();
    conn.write_all(home_stream_request(&ann.access).as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut conn).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    let post = app.post_id(&bob, "on a kept connection").await;
    let got = read_until(&mut conn, &format!("id: {post}")).await;
    assert!(got.contains(&format!("event: post\nid: {post}\n")), "{got}");
}
