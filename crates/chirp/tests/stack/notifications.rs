//! NotificationService, two processes of it, one killed while people act: every
//! notification owed exists exactly once after it restarts; a live stream open through
//! NGINX across the kill reconnects with `Last-Event-ID` and gets each of them exactly
//! once, and a stream on the other process gets each of them too, whichever process
//! stored it (the bus between them). And a home stream open through NGINX across a
//! restart of ReadService, then of UserGraphService, gets every post once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chirp_testkit::api::{expect, series_of, Api};
use chirp_testkit::sse::{SseEnd, SseStream};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::stack::*;

/// One action every this often.
const PACE: Duration = Duration::from_millis(50);

/// How long after the restart every notification may take: the restarted member's
/// partitions come back to it after the broker's rebalance (at most `REJOIN_AFTER` and a
/// round of the join, as for the fanout kill), then the backlog is handled.
const SETTLE: Duration = Duration::from_secs(20);

/// How long the killed process stays down: past its session in the consumer group (6 s).
/// On tansu, the stack's broker, a member started again while its dead predecessor's
/// session is still open is given partitions beside it, and those the dead member held are
/// never handed on (tansu does not rebalance when the session ends): seen here as follow
/// notifications never made, their partitions in no member's consumer lag (2 runs in
/// 11, with the restart 2 s after the kill). A Kafka broker rebalances when the session
/// ends.
const DOWN: Duration = Duration::from_secs(7);

/// What a notification is about: its type, who acted, and the post (if any).
type Owed = (String, String, Option<String>);

fn owed_of(n: &Value) -> Owed {
    (
        n["type"].as_str().unwrap_or_default().to_owned(),
        n["actor"]["id"].as_str().unwrap_or_default().to_owned(),
        n["post"]["id"].as_str().map(str::to_owned),
    )
}

/// What a [`watch`] has received so far, and how many times it opened the stream.
#[derive(Default)]
struct Watched {
    got: Vec<Value>,
    opened: usize,
}

/// Reads `who`'s `stream` (`home`: its posts; `notifications`) at `api` until stopped: whenever it ends
/// or cannot be opened (the service is down, NGINX answers 502), it opens it again with
/// `Last-Event-ID` set to the last id received, as a browser's EventSource does.
fn watch(
    api: &Api,
    who: &User,
    kind: &'static str,
    stop: CancellationToken,
) -> (Arc<Mutex<Watched>>, JoinHandle<()>) {
    let api = api.clone();
    let token = who.access.clone();
    let watched = Arc::new(Mutex::new(Watched::default()));
    let out = watched.clone();
    let task = tokio::spawn(async move {
        let mut last: Option<String> = None;
        while !stop.is_cancelled() {
            let mut req = api
                .http
                .get(api.url(&format!("/api/v1/streaming?stream={kind}")))
                .bearer_auth(&token)
                // The stream outlives the client's timeout for requests.
                .timeout(Duration::from_secs(3600));
            if let Some(id) = &last {
                req = req.header("Last-Event-ID", id);
            }
            let res = match req.send().await {
                Ok(res) if res.status() == StatusCode::OK => res,
                _ => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            };
            out.lock().unwrap().opened += 1;
            let mut stream = SseStream::new(res);
            while !stop.is_cancelled() {
                let deadline = Instant::now() + Duration::from_millis(200);
                match stream.next_event(deadline).await {
                    Ok(Some(e)) => {
                        let want = if kind == "home" {
                            "post"
                        } else {
                            "notification"
                        };
                        assert_eq!(e.event, want);
                        assert_eq!(e.data["id"].as_str(), Some(e.id.as_str()));
                        last = Some(e.id.clone());
                        out.lock().unwrap().got.push(e.data);
                    }
                    Ok(None) => {}
                    Err(SseEnd::Ended | SseEnd::Broke(_)) => break,
                }
            }
        }
    });
    (watched, task)
}

/// Every notification of `who`, walking every page; `None` while they cannot be read.
async fn listed(stack: &Stack, who: &User) -> Option<Vec<Value>> {
    let path = "/api/v1/notifications";
    stack
        .api
        .walk_items(path, Some(&who.access), 100, || async {})
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_process_killed_mid_stream_owes_each_notification_once() {
    let _turn = TURN.lock().await;
    let stack = Stack::up_with("notify-kill", &[("CHIRP_STACK_NOTIFICATIONS", "2")]).await;
    let star = signup(&stack, "star").await;
    let mut posts = Vec::new();
    for i in 0..3 {
        let post = stack
            .api
            .post(&star.access, &format!("like me {i}"))
            .await
            .unwrap();
        posts.push(post["id"].as_str().unwrap().to_owned());
    }
    let mut fans = Vec::new();
    for i in 0..16 {
        fans.push(signup(&stack, &format!("fan{i}")).await);
    }
    let stop = CancellationToken::new();
    let (through_gateway, gateway_task) = watch(&stack.api, &star, "notifications", stop.clone());
    let opened = |w: &Arc<Mutex<Watched>>| w.lock().unwrap().opened;
    let started = Instant::now();
    while opened(&through_gateway) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the stream did not open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The process NGINX gave the gateway's stream to is the one killed; the other holds
    // a stream of its own, opened on it directly.
    let mut holders = Vec::new();
    for part in ["notifications", "notifications2"] {
        if stack
            .counter(&part.to_uppercase(), "chirp_streams_open")
            .await
            > 0.0
        {
            holders.push(part);
        }
    }
    assert_eq!(holders.len(), 1, "the gateway's stream is on {holders:?}");
    let killed = holders[0];
    let survivor = if killed == "notifications" {
        "NOTIFICATIONS2"
    } else {
        "NOTIFICATIONS"
    };
    let survivor = Api::with_client(stack.service(survivor), stack.api.http.clone());
    let (on_survivor, survivor_task) = watch(&survivor, &star, "notifications", stop.clone());
    while opened(&on_survivor) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the stream did not open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every fan follows (the follows are keyed by the pair: the partitions of both
    // processes get some), then likes each post, while one process is killed and started
    // again: none of it needs NotificationService.
    let (followed_tx, followed_rx) = tokio::sync::oneshot::channel();
    let actions = {
        let (api, fans, posts, star) = (
            stack.api.clone(),
            fans.clone(),
            posts.clone(),
            star.id.clone(),
        );
        tokio::spawn(async move {
            let mut owed = HashSet::new();
            for fan in &fans {
                api.follow(&fan.access, &star).await.expect("a follow");
                owed.insert(("follow".to_owned(), fan.id.clone(), None));
                tokio::time::sleep(PACE).await;
            }
            let _ = followed_tx.send(());
            for fan in &fans {
                for post in &posts {
                    let path = format!("/api/v1/posts/{post}/like");
                    let res = api
                        .send(Method::POST, &path, Some(&fan.access), None)
                        .await
                        .unwrap();
                    expect(res, StatusCode::NO_CONTENT).await.expect("a like");
                    owed.insert(("like".to_owned(), fan.id.clone(), Some(post.clone())));
                    tokio::time::sleep(PACE).await;
                }
            }
            owed
        })
    };
    followed_rx.await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stack.ctl("kill", killed).await;
    tokio::time::sleep(DOWN).await;
    stack.ctl("start", killed).await;
    let owed = actions.await.unwrap();
    assert_eq!(owed.len(), 16 * 4);

    // Every notification owed, listed exactly once, and nothing else.
    let started = Instant::now();
    let list = loop {
        let list = listed(&stack, &star).await;
        if let Some(list) = &list {
            let have: HashSet<Owed> = list.iter().map(owed_of).collect();
            if owed.is_subset(&have) {
                break list.clone();
            }
        }
        if started.elapsed() > SETTLE {
            let have: HashSet<Owed> = list.iter().flatten().map(owed_of).collect();
            let missing: Vec<&Owed> = owed.difference(&have).collect();
            let mut lags = String::new();
            for name in ["NOTIFICATIONS", "NOTIFICATIONS2"] {
                let page = stack
                    .api
                    .metrics(&format!("{}/metrics", stack.service(name)))
                    .await
                    .unwrap_or_default();
                for (labels, v) in series_of(&page, "chirp_consumer_lag") {
                    lags.push_str(&format!("{name} {labels} {v}; "));
                }
            }
            panic!(
                "{} of {} notifications missing {SETTLE:?} after the last action: {missing:?}; consumer lag: {lags}",
                missing.len(),
                owed.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut counts: HashMap<Owed, usize> = HashMap::new();
    for n in &list {
        *counts.entry(owed_of(n)).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "notifications more than once: {twice:?}");
    assert_eq!(counts.len(), owed.len(), "notifications nobody owed");

    // Each stream gets each of them (within the same bound), and none twice (nor
    // anything else) in the second after.
    let listed_ids: HashSet<String> = list
        .iter()
        .filter_map(|n| n["id"].as_str().map(str::to_owned))
        .collect();
    let streamed_ids = |w: &Watched| -> Vec<String> {
        w.got
            .iter()
            .filter_map(|n| n["id"].as_str().map(str::to_owned))
            .collect()
    };
    for (name, watched) in [("gateway", &through_gateway), ("survivor", &on_survivor)] {
        loop {
            let got: HashSet<String> = streamed_ids(&watched.lock().unwrap()).into_iter().collect();
            if listed_ids.is_subset(&got) {
                break;
            }
            assert!(
                started.elapsed() < SETTLE,
                "the stream through the {name} missed {} of {} notifications",
                listed_ids.difference(&got).count(),
                listed_ids.len()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    gateway_task.await.unwrap();
    survivor_task.await.unwrap();
    for (name, watched) in [("gateway", &through_gateway), ("survivor", &on_survivor)] {
        let w = watched.lock().unwrap();
        let got = streamed_ids(&w);
        let unique: HashSet<String> = got.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            got.len(),
            "{name}: a notification streamed twice"
        );
        assert_eq!(
            unique, listed_ids,
            "{name}: notifications not listed were streamed"
        );
        eprintln!(
            "{name}: {} notifications streamed once each, over {} connections",
            got.len(),
            w.opened
        );
    }
    assert_eq!(opened(&on_survivor), 1, "the survivor's stream was closed");
    assert!(
        opened(&through_gateway) >= 2,
        "the gateway's stream was never reopened: the kill did not reach it"
    );
}

/// A home stream through the gateway while ReadService (which hydrates each new item for
/// the streams) is stopped and started again: what is posted meanwhile reaches the
/// stream, once. (The stream ends when an item cannot be sent, and the client's
/// reconnection replays it once ReadService answers.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_stream_gets_what_was_posted_while_read_service_was_down() {
    let opened = home_stream_across_a_restart("stream-read-restart", "read").await;
    assert!(
        opened >= 2,
        "the stream never ended: the post made while ReadService was down came live"
    );
}

/// The same across a restart of UserGraphService, which a stream needs only when it opens
/// (the follows of its reader are kept from the graph's events after that): the stream
/// gets every post, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_stream_gets_what_was_posted_while_user_graph_service_was_down() {
    home_stream_across_a_restart("stream-graph-restart", "graph").await;
}

/// Opens a home stream through the gateway, posts from a followed user before, while and
/// after `service` is stopped and started again, and checks that each post reached the
/// stream once, in order: how many times the stream was opened.
async fn home_stream_across_a_restart(name: &str, service: &str) -> usize {
    let _turn = TURN.lock().await;
    let stack = Stack::up(name, 1).await;
    let ann = signup(&stack, "ann").await;
    let bob = signup(&stack, "bob").await;
    stack.api.follow(&ann.access, &bob.id).await.unwrap();
    let stop = CancellationToken::new();
    let (watched, task) = watch(&stack.api, &ann, "home", stop.clone());
    let got = |w: &Arc<Mutex<Watched>>| -> Vec<String> {
        w.lock()
            .unwrap()
            .got
            .iter()
            .filter_map(|p| p["id"].as_str().map(str::to_owned))
            .collect()
    };
    let post = |text: &'static str| {
        let (api, token) = (stack.api.clone(), bob.access.clone());
        async move {
            let p = api
                .post(&token, text)
                .await
                .expect("a post (neither ReadService nor UserGraphService is on its path)");
            p["id"].as_str().unwrap().to_owned()
        }
    };
    let arrives = |ids: Vec<String>| {
        let watched = watched.clone();
        async move {
            let started = Instant::now();
            while !ids.iter().all(|id| got(&watched).contains(id)) {
                assert!(
                    started.elapsed() < SETTLE,
                    "not on the stream {SETTLE:?} on: {ids:?} (got {:?})",
                    got(&watched)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let started = Instant::now();
    while watched.lock().unwrap().opened == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the stream did not open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = post("before").await;
    arrives(vec![before.clone()]).await;
    stack.ctl("stop", service).await;
    let during = post("while a service is down").await;
    // Long enough for the stream's process to see the post in the log and send it, or
    // fail to.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.ctl("start", service).await;
    let after = post("after").await;
    arrives(vec![during.clone(), after.clone()]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        got(&watched),
        [before, during, after],
        "each post once, in order"
    );
    let opened = watched.lock().unwrap().opened;
    opened
}
