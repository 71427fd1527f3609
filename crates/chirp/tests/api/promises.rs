//! The promises at the end of API.md, each with a test that fails if it breaks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chirp_core::events::{EventHandler, Topic};
use reqwest::StatusCode;
use serde_json::json;

use chirp_testkit::api::Api;

use crate::helpers::*;
use crate::process::ChirpProcess;

/// How long a process restarted after a crash may take until its consumers have caught
/// up. On the embedded log, what API.md allows any eventual effect. On Kafka, the dead
/// member still holds its partitions for its session (6 s), and a member left without
/// partitions by a broker that does not rebalance again (tansu) joins afresh after
/// `REJOIN_AFTER` (8 s); then one round of the join (tansu pauses 3 s in it) and the
/// catching up itself (a second).
fn crash_recovery(deps: &Deps) -> Duration {
    match deps.kafka {
        Some(_) => chirp_core::deployed::kafka::REJOIN_AFTER + Duration::from_secs(4),
        None => EVENTUALLY,
    }
}

/// `chirp all` as a child process, so that it can be killed without warning.
fn start_chirp_all(data_dir: &std::path::Path, deps: &Deps) -> ChirpProcess {
    let data_dir = data_dir.display().to_string();
    ChirpProcess::start(
        &[
            "all",
            "--listen",
            "127.0.0.1:0",
            "--insecure-fast-hashing",
            "--data-dir",
            &data_dir,
        ],
        &deps.env(),
    )
}

/// Signs up `handle` at `base`; its id and access token.
async fn signup(http: &reqwest::Client, base: &str, handle: &str) -> (String, String) {
    let email = format!("{handle}@example.com");
    let api = Api::with_client(base, http.clone());
    let user = api.signup(handle, &email, "long enough").await.unwrap();
    (user.id, user.access)
}

/// A request that must be refused, and the status it must get.
type BadRequest<'a> = (
    reqwest::Method,
    String,
    Option<&'a str>,
    Option<serde_json::Value>,
    StatusCode,
);

/// Promise 5: rejected input changes nothing, whatever the endpoint.
#[tokio::test]
async fn rejected_input_changes_nothing() {
    let app = spawn_app().await;
    let u = app.signup("uma").await;
    let v = app.signup("vic").await;
    let post = app.post_id(&u, "existing").await;
    app.follow(&v, &u).await;
    app.home_becomes(&v, std::slice::from_ref(&post)).await;
    let before = app.fingerprint().await;
    let home_before = app.home_ids(&v).await;

    let bad: Vec<BadRequest> = vec![
        (
            reqwest::Method::POST,
            "/api/v1/auth/signup".into(),
            None,
            Some(json!({"handle": u.handle, "email": "x@example.com", "password": "long enough"})),
            StatusCode::CONFLICT,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/auth/signup".into(),
            None,
            Some(json!({"handle": "x", "email": "x@example.com", "password": "long enough"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/auth/login".into(),
            None,
            Some(json!({"login": "uma"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/auth/refresh".into(),
            None,
            Some(json!({"refresh_token": "nope"})),
            StatusCode::UNAUTHORIZED,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/posts".into(),
            Some(&v.access),
            Some(json!({"text": ""})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/posts".into(),
            None,
            Some(json!({"text": "no token"})),
            StatusCode::UNAUTHORIZED,
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/posts/{post}"),
            Some(&v.access),
            Some(json!({"text": "not mine"})),
            StatusCode::FORBIDDEN,
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/posts/{post}"),
            Some(&u.access),
            Some(json!({"txt": "typo"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/posts/{post}"),
            Some(&v.access),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/users/{}/follow", v.id),
            Some(&v.access),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/users/1/follow".into(),
            Some(&v.access),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/users/{}/follow", u.id),
            Some("forged.token.here"),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/posts/1/like".into(),
            Some(&v.access),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/posts/{post}/like"),
            None,
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/posts".into(),
            Some(&v.access),
            Some(json!({"text": "a reply to nothing", "reply_to": "1"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            reqwest::Method::PATCH,
            "/api/v1/auth/me".into(),
            Some(&v.access),
            Some(json!({"bio": "x".repeat(161)})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/users/{}/block", v.id),
            Some(&v.access),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/users/1/mute".into(),
            Some(&v.access),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            reqwest::Method::GET,
            "/api/v1/relationships?ids=1,x".into(),
            Some(&v.access),
            None,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (method, path, token, body, status) in bad {
        let res = app.send(method.clone(), &path, token, body).await;
        assert_problem(res, status).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.fingerprint().await, before);
    assert_eq!(app.home_ids(&v).await, home_before);
    assert_eq!(app.user(&u.id).await["followers_count"], 1);
}

/// Tests that need a setting of their own or a look inside the process: they run
/// in-process only, not against the stack.
mod inside {
    use super::*;

    /// Promise 1: a post acknowledged with 201 survives SIGKILL of the whole process, and is
    /// in its followers' home timelines and the search index after the restart.
    #[tokio::test]
    async fn acknowledged_posts_survive_sigkill() {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let deps = Deps::from_env().await;
        let first = start_chirp_all(dir.path(), &deps);
        // A process that runs: its consumers are members of their groups when it dies.
        assert!(wait_ready(&http, &first.base, Duration::from_secs(30)).await);
        let (author, author_token) = signup(&http, &first.base, "writer").await;
        let mut followers = Vec::new();
        for i in 0..2 {
            let (id, token) = signup(&http, &first.base, &format!("reader{i}")).await;
            let res = http
                .post(format!("{}/api/v1/users/{author}/follow", first.base))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::NO_CONTENT);
            followers.push((id, token));
        }

        // Four writers post as fast as they can; the process is killed under them.
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let mut writers = Vec::new();
        for w in 0..4 {
            let (http, base, token, acked) = (
                http.clone(),
                first.base.clone(),
                author_token.clone(),
                acknowledged.clone(),
            );
            writers.push(tokio::spawn(async move {
                for i in 0..100 {
                    let sent = http
                        .post(format!("{base}/api/v1/posts"))
                        .bearer_auth(&token)
                        .json(&json!({"text": format!("durable crashtest w{w} n{i}")}))
                        .send()
                        .await;
                    let Ok(res) = sent else { return };
                    if res.status() != StatusCode::CREATED {
                        return;
                    }
                    let Ok(post) = res.json::<serde_json::Value>().await else {
                        return;
                    };
                    acked
                        .lock()
                        .unwrap()
                        .push(post["id"].as_str().unwrap().to_owned());
                }
            }));
        }
        // Kill once a good number is acknowledged, while the writers are still going.
        for _ in 0..300 {
            if acknowledged.lock().unwrap().len() >= 60 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        first.kill();
        for w in writers {
            w.await.unwrap();
        }
        let acked = acknowledged.lock().unwrap().clone();
        assert!(
            acked.len() >= 10,
            "too few posts before the kill: {}",
            acked.len()
        );
        assert!(
            acked.len() < 400,
            "the kill came after every write: nothing was tested"
        );

        let second = start_chirp_all(dir.path(), &deps);
        let restarted = std::time::Instant::now();
        for id in &acked {
            let res = http
                .get(format!("{}/api/v1/posts/{id}", second.base))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "post {id} was lost");
        }
        for (_, token) in &followers {
            let home = Api::with_client(&second.base, http.clone())
                .walk("/api/v1/timelines/home", Some(token), 100, || async {})
                .await
                .unwrap();
            // Posts committed whose 201 the kill swallowed may be there too; no acknowledged
            // one may be missing, and none may appear twice.
            for id in &acked {
                assert!(
                    home.contains(id),
                    "acknowledged post {id} missing from a follower's home"
                );
            }
            let mut distinct = home.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), home.len(), "a post appears twice");
        }
        let caught_up = eventually_within(
            crash_recovery(&deps),
            "every acknowledged post is searchable after the crash",
            || async {
                let api = Api::with_client(&second.base, http.clone());
                let found = api
                    .walk("/api/v1/search/posts?q=crashtest", None, 100, || async {})
                    .await
                    .unwrap()
                    .iter()
                    .filter(|id| acked.contains(id))
                    .count();
                (found == acked.len()).then(|| restarted.elapsed())
            },
        )
        .await;
        eprintln!("search caught up {caught_up:?} after the restart");
        let count = http
            .get(format!("{}/api/v1/users/{author}", second.base))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["posts_count"]
            .as_u64()
            .unwrap() as usize;
        assert!(
            count >= acked.len(),
            "posts_count {count} < {} acknowledged",
            acked.len()
        );
    }

    /// Promise 1 for likes: a like acknowledged with 204 survives SIGKILL of the whole
    /// process: after the restart the liker's list holds it, the post shows it as the
    /// liker's, and the post's count holds every acknowledged like.
    #[tokio::test]
    async fn acknowledged_likes_survive_sigkill() {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let deps = Deps::from_env().await;
        let first = start_chirp_all(dir.path(), &deps);
        assert!(wait_ready(&http, &first.base, Duration::from_secs(30)).await);
        let (_, author_token) = signup(&http, &first.base, "liked").await;
        let api = Api::with_client(&first.base, http.clone());
        let mut posts = Vec::new();
        for i in 0..100 {
            let post = api
                .post(&author_token, &format!("likeable {i}"))
                .await
                .unwrap();
            posts.push(post["id"].as_str().unwrap().to_owned());
        }
        let mut likers = Vec::new();
        for i in 0..4 {
            likers.push(signup(&http, &first.base, &format!("liker{i}")).await);
        }
        // Four likers like every post, as fast as they can; the process is killed under them.
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (liker, token) in likers.clone() {
            let (http, base, posts, acked) = (
                http.clone(),
                first.base.clone(),
                posts.clone(),
                acknowledged.clone(),
            );
            tasks.push(tokio::spawn(async move {
                for post in posts {
                    let sent = http
                        .post(format!("{base}/api/v1/posts/{post}/like"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    match sent {
                        Ok(res) if res.status() == StatusCode::NO_CONTENT => {
                            acked.lock().unwrap().push((liker.clone(), post))
                        }
                        _ => return,
                    }
                }
            }));
        }
        for _ in 0..300 {
            if acknowledged.lock().unwrap().len() >= 60 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        first.kill();
        for t in tasks {
            t.await.unwrap();
        }
        let acked = acknowledged.lock().unwrap().clone();
        assert!(
            acked.len() >= 10,
            "too few likes before the kill: {}",
            acked.len()
        );
        assert!(
            acked.len() < 400,
            "the kill came after every like: nothing was tested"
        );

        let second = start_chirp_all(dir.path(), &deps);
        let api = Api::with_client(&second.base, http.clone());
        assert!(wait_ready(&http, &second.base, Duration::from_secs(30)).await);
        for (liker, token) in &likers {
            let liked = api
                .walk(
                    &format!("/api/v1/users/{liker}/likes"),
                    None,
                    100,
                    || async {},
                )
                .await
                .unwrap();
            for (who, post) in acked.iter().filter(|(who, _)| who == liker) {
                assert!(
                    liked.contains(post),
                    "{who}'s acknowledged like of {post} was lost"
                );
                let seen = http
                    .get(format!("{}/api/v1/posts/{post}", second.base))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap();
                assert_eq!(seen["viewer"]["liked"], true, "{seen}");
            }
        }
        for post in &posts {
            let acked_here = acked.iter().filter(|(_, p)| p == post).count() as u64;
            let count = http
                .get(format!("{}/api/v1/posts/{post}", second.base))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()["like_count"]
                .as_u64()
                .unwrap();
            // Likes whose 204 the kill swallowed may be counted too.
            assert!(
                count >= acked_here,
                "post {post}: {count} likes, {acked_here} acknowledged"
            );
        }
    }

    /// Promise 1 for reposts: every repost acknowledged (201) before a SIGKILL is there
    /// after the restart, on the original's count and in the reposter's viewer state.
    #[tokio::test]
    async fn acknowledged_reposts_survive_sigkill() {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let deps = Deps::from_env().await;
        let first = start_chirp_all(dir.path(), &deps);
        assert!(wait_ready(&http, &first.base, Duration::from_secs(30)).await);
        let (_, author_token) = signup(&http, &first.base, "reposted").await;
        let api = Api::with_client(&first.base, http.clone());
        let mut posts = Vec::new();
        for i in 0..100 {
            let post = api
                .post(&author_token, &format!("worth a repost {i}"))
                .await
                .unwrap();
            posts.push(post["id"].as_str().unwrap().to_owned());
        }
        let mut reposters = Vec::new();
        for i in 0..4 {
            reposters.push(signup(&http, &first.base, &format!("reposter{i}")).await);
        }
        // (reposter's token, original, repost) of every 201.
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (_, token) in reposters.clone() {
            let (http, base, posts, acked) = (
                http.clone(),
                first.base.clone(),
                posts.clone(),
                acknowledged.clone(),
            );
            tasks.push(tokio::spawn(async move {
                for post in posts {
                    let sent = http
                        .post(format!("{base}/api/v1/posts/{post}/repost"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    let Ok(res) = sent else { return };
                    if res.status() != StatusCode::CREATED {
                        return;
                    }
                    let Ok(repost) = res.json::<serde_json::Value>().await else {
                        return;
                    };
                    let id = repost["id"].as_str().unwrap_or_default().to_owned();
                    acked.lock().unwrap().push((token.clone(), post, id));
                }
            }));
        }
        for _ in 0..300 {
            if acknowledged.lock().unwrap().len() >= 60 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        first.kill();
        for t in tasks {
            t.await.unwrap();
        }
        let acked = acknowledged.lock().unwrap().clone();
        assert!(
            acked.len() >= 10,
            "too few reposts before the kill: {}",
            acked.len()
        );
        assert!(
            acked.len() < 400,
            "the kill came after every repost: nothing was tested"
        );

        let second = start_chirp_all(dir.path(), &deps);
        assert!(wait_ready(&http, &second.base, Duration::from_secs(30)).await);
        let get = |path: String, token: Option<String>| {
            let mut req = http.get(format!("{}{path}", second.base));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            async move {
                let res = req.send().await.unwrap();
                (
                    res.status(),
                    res.json::<serde_json::Value>().await.unwrap_or_default(),
                )
            }
        };
        for (token, post, repost) in &acked {
            let (status, read) = get(format!("/api/v1/posts/{repost}"), None).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "the acknowledged repost {repost} was lost"
            );
            assert_eq!(read["repost_of"]["id"], post.as_str());
            let (_, seen) = get(format!("/api/v1/posts/{post}"), Some(token.clone())).await;
            assert_eq!(seen["viewer"]["reposted"], true, "{seen}");
        }
        for post in &posts {
            let acked_here = acked.iter().filter(|(_, p, _)| p == post).count() as u64;
            let (_, read) = get(format!("/api/v1/posts/{post}"), None).await;
            let count = read["repost_count"].as_u64().unwrap();
            // Reposts whose 201 the kill swallowed may be counted too.
            assert!(
                count >= acked_here,
                "post {post}: {count} reposts, {acked_here} acknowledged"
            );
        }
    }

    /// Promise 4: delivering the same events again to every consumer changes nothing.
    #[tokio::test]
    async fn redelivered_events_change_nothing() {
        let app = spawn_local().await;
        // The embedded log drops what every group has passed (every 16 commits of a
        // group): a group that reads the history must hold it from the start. (Kafka
        // keeps what it is given; there the group is registered late, below.)
        let log = app.system().stores.log.clone().unwrap();
        let early = match app.system().stores.log_is_kafka {
            false => Some(log.consumer("redelivery-test", &Topic::ALL).await.unwrap()),
            true => None,
        };
        let a = app.signup("alpha").await;
        let b = app.signup("bravo").await;
        let c = app.signup("charlie").await;
        app.follow(&b, &a).await;
        app.follow(&c, &a).await;
        let p1 = app.post_id(&a, "replayed words one").await;
        let p2 = app.post_id(&a, "replayed words two").await;
        let p3 = app.post_id(&a, "replayed words three").await;
        assert_eq!(
            app.edit(&a, &p1, "replayed edited one").await.status(),
            StatusCode::OK
        );
        assert_eq!(app.delete(&a, &p2).await.status(), StatusCode::NO_CONTENT);
        app.unfollow(&c, &a).await;
        app.follow(&c, &a).await;
        let like = app
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/posts/{p3}/like"),
                Some(&b.access),
                None,
            )
            .await;
        assert_eq!(like.status(), StatusCode::NO_CONTENT);
        // A reply, a profile change, a mute, and a block that ends a follow.
        let reply = json!({"text": "an answer to three", "reply_to": p3});
        let res = app.post_raw(&c.access, reply).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let reply = body(res).await["id"].as_str().unwrap().to_owned();
        let res = app
            .send(
                reqwest::Method::PATCH,
                "/api/v1/auth/me",
                Some(&a.access),
                Some(json!({"bio": "replayed"})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let d = app.signup("delta").await;
        app.follow(&d, &a).await;
        for (who, what, whom) in [(&b, "mute", &c), (&d, "block", &a)] {
            let path = format!("/api/v1/users/{}/{what}", whom.id);
            let res = app
                .send(reqwest::Method::POST, &path, Some(&who.access), None)
                .await;
            assert_eq!(res.status(), StatusCode::NO_CONTENT);
        }
        let expected = vec![p3.clone(), p1.clone()];
        for u in [&a, &b] {
            app.home_becomes(u, &expected).await;
        }
        app.home_becomes(&c, &[reply.clone(), p3.clone(), p1.clone()])
            .await;
        app.home_becomes(&d, &[]).await;
        app.search_becomes("replayed", &expected).await;
        app.search_becomes("edited", std::slice::from_ref(&p1))
            .await;
        eventually("counts settle", || async {
            (app.user(&a.id).await["followers_count"] == 2).then_some(())
        })
        .await;
        // Charlie's home already looked right before the unfollow and follow again were
        // handled: wait until fanout has handled every event (6 follow changes, a mute
        // and a block; 3 posts, a reply, an edit and a delete), so that the snapshot is
        // not taken between the two.
        eventually("fanout catches up", || async {
            let text = app.get("/metrics", None).await.text().await.unwrap();
            let consumed = |topic: &str| -> f64 {
                text.lines()
                    .filter(|l| {
                        l.starts_with(r#"chirp_events_consumed_total{service="fanout""#)
                            && l.contains(&format!(r#"{topic}"}}"#))
                    })
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum()
            };
            (consumed("chirp.graph") >= 8.0 && consumed("chirp.posts") >= 6.0).then_some(())
        })
        .await;

        let snapshot = || async {
            let mut s = Vec::new();
            for u in [&a, &b, &c, &d] {
                s.push(json!(app.home_ids(u).await));
                let held = app
                    .system()
                    .timeline_store_entries(chirp_core::Id(u.id.parse().unwrap()))
                    .await;
                s.push(json!(held
                    .iter()
                    .map(|e| e.post.to_string())
                    .collect::<Vec<_>>()));
                s.push(app.user(&u.id).await);
            }
            for q in ["replayed", "edited", "two", "one", "#x"] {
                s.push(json!(ids(&app.search_posts(q).await)));
            }
            s.push(json!(ids(&app.search_users("a").await)));
            s.push(app.get_json(&format!("/api/v1/posts/{p3}"), None).await);
            s
        };
        let before = snapshot().await;

        // A consumer group of our own reads the log from its start. (On Kafka, registered
        // only now on purpose: an idle member of a fresh group slows the broker's other
        // groups.)
        let mut history = match early {
            Some(history) => history,
            None => log.consumer("redelivery-test", &Topic::ALL).await.unwrap(),
        };
        // Every event so far: 4 signups, 6 follow changes, 3 posts, a reply, an edit, a
        // delete, a like, a profile change, a mute and a block.
        let mut events = Vec::new();
        let started = std::time::Instant::now();
        while events.len() < 20 && started.elapsed() < Duration::from_secs(30) {
            events.extend(
                history
                    .next_batch(1000, Duration::from_millis(500))
                    .await
                    .unwrap(),
            );
        }
        events.extend(
            history
                .next_batch(1000, Duration::from_millis(300))
                .await
                .unwrap(),
        );
        assert_eq!(events.len(), 20, "the history has every event once");
        // And one of a type a newer build writes, which this build's consumers pass over.
        let newer =
            r#"{"id":"1","version":1,"occurred_at_ms":0,"type":"poll.voted","poll_id":"2"}"#;
        events.push(chirp_core::events::Event::from_json(newer).unwrap());
        let search = app.system().services.search.clone().unwrap();
        let fanout = app.system().services.fanout.clone().unwrap();
        for _ in 0..2 {
            fanout.handle(&events).await.unwrap();
            search.handle(&events).await.unwrap();
            // And each event on its own, twice in a row.
            for e in &events {
                fanout.handle(&[e.clone(), e.clone()]).await.unwrap();
                search.handle(&[e.clone(), e.clone()]).await.unwrap();
            }
        }
        assert_eq!(snapshot().await, before);
    }

    /// SIGTERM stops `chirp all` gracefully: it exits 0, and what it acknowledged is there
    /// after a restart (searchable too: the index was flushed).
    #[tokio::test]
    async fn sigterm_shuts_down_gracefully() {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let deps = Deps::from_env().await;
        let mut first = start_chirp_all(dir.path(), &deps);
        let (_, token) = signup(&http, &first.base, "leaver").await;
        let res = http
            .post(format!("{}/api/v1/posts", first.base))
            .bearer_auth(&token)
            .json(&json!({"text": "goodbye gracefully"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let id = res.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let stopped = first.terminate(Duration::from_secs(10));
        let (_, status) = stopped.expect("chirp stops within 10 s of SIGTERM");
        assert!(status.success(), "exit status {status}");

        let second = start_chirp_all(dir.path(), &deps);
        eventually(
            "the post is searchable after a graceful restart",
            || async {
                let page: serde_json::Value = http
                    .get(format!("{}/api/v1/search/posts?q=gracefully", second.base))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                (ids(&page) == [id.clone()]).then_some(())
            },
        )
        .await;
    }
}
