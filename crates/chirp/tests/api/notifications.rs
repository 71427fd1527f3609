//! Notifications (API.md, "Notifications and live updates"): which actions notify whom,
//! never one's own, never from a blocked or muted user, undoing removes, the `types`
//! filter, read marks and the unread count, pages, and every error status.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

impl TestApp {
    async fn notifications(&self, who: &TestUser, query: &str) -> Value {
        self.get_json(&format!("/api/v1/notifications{query}"), Some(&who.access))
            .await
    }

    /// `who`'s notifications as (type, actor's handle, the post's id or ""), newest first.
    async fn told(&self, who: &TestUser, query: &str) -> Vec<(String, String, String)> {
        let page = self.notifications(who, query).await;
        page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("a page: {page}"))
            .iter()
            .map(|n| {
                (
                    n["type"].as_str().unwrap().to_owned(),
                    n["actor"]["handle"].as_str().unwrap().to_owned(),
                    n["post"]["id"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Waits until `who`'s notifications are those of `expected` (they appear within
    /// 5 s), in any order: a notification's id is given when it is stored, and the events
    /// of different topics (a follow, a like) may reach the service in either order on
    /// Kafka. The page itself is checked to be newest first, by id.
    async fn told_becomes(&self, who: &TestUser, expected: &[(&str, &TestUser, &str)]) {
        let mut expected: Vec<(String, String, String)> = expected
            .iter()
            .map(|(t, u, p)| (t.to_string(), u.handle.clone(), p.to_string()))
            .collect();
        expected.sort();
        let what = format!("{}'s notifications are {expected:?}", who.handle);
        eventually(&what, || async {
            let mut told = self.told(who, "").await;
            told.sort();
            (told == expected).then_some(())
        })
        .await;
        let page = self.notifications(who, "?limit=100").await;
        let ids: Vec<u64> = ids(&page).iter().map(|i| i.parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    }

    async fn unread(&self, who: &TestUser) -> Value {
        self.get_json("/api/v1/notifications/unread_count", Some(&who.access))
            .await
    }

    async fn mark_read(&self, who: &TestUser, body: Value) -> Response {
        self.send(
            Method::POST,
            "/api/v1/notifications/read",
            Some(&who.access),
            Some(body),
        )
        .await
    }
}

#[tokio::test]
async fn each_action_notifies_the_one_it_is_done_to_once_and_never_oneself() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    let post = app.post_id(&ann, "notice me").await;

    app.follow(&bob, &ann).await;
    let liked = app
        .act(&bob, Method::POST, &format!("/api/v1/posts/{post}/like"))
        .await;
    assert_eq!(liked.status(), StatusCode::NO_CONTENT);
    let reposted = app
        .act(&bob, Method::POST, &format!("/api/v1/posts/{post}/repost"))
        .await;
    assert_eq!(reposted.status(), StatusCode::CREATED);
    // A reply that mentions the one replied to (told once, of the reply) and cat.
    let text = format!("@{} yes, and @{} too", ann.handle, cat.handle);
    let reply = app.reply(&bob, &post, &text).await;
    // One's own actions: a like and a reply to one's own post, a mention of oneself.
    app.act(&ann, Method::POST, &format!("/api/v1/posts/{post}/like"))
        .await;
    let own = format!("@{} note to self", ann.handle);
    app.reply(&ann, &post, &own).await;
    // Markers behind ann's own actions, each on the same topic and key (so reached
    // after them): cat likes the post; ann mentions cat.
    app.act(&cat, Method::POST, &format!("/api/v1/posts/{post}/like"))
        .await;
    let marker = app.post_id(&ann, &format!("hello @{}", cat.handle)).await;

    app.told_becomes(
        &ann,
        &[
            ("like", &cat, &post),
            ("reply", &bob, &reply),
            ("repost", &bob, &post),
            ("like", &bob, &post),
            ("follow", &bob, ""),
        ],
    )
    .await;
    app.told_becomes(
        &cat,
        &[("mention", &ann, &marker), ("mention", &bob, &reply)],
    )
    .await;
    assert!(app.told(&bob, "").await.is_empty());

    // The whole object: the actor, the post with the caller's own state, the time, read.
    let page = app.notifications(&ann, "?types=like").await;
    let like = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["actor"]["id"] == bob.id.as_str())
        .unwrap();
    assert_eq!(
        like["actor"],
        json!({"id": bob.id, "handle": bob.handle, "display_name": bob.handle})
    );
    assert_eq!(like["post"]["viewer"]["liked"], true, "{like}");
    assert_eq!(like["read"], false);
    assert!(
        like["created_at"].as_str().unwrap().ends_with('Z'),
        "{like}"
    );
    assert!(page["next_cursor"].is_null());
    let follow = &app.notifications(&ann, "?types=follow").await["items"][0];
    assert!(follow["post"].is_null(), "{follow}");
    // `types` keeps only what it names.
    let mut kinds: Vec<String> = app
        .told(&ann, "?types=follow,reply")
        .await
        .into_iter()
        .map(|t| t.0)
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["follow", "reply"]);
}

#[tokio::test]
async fn undoing_an_action_takes_its_notification_away() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    let post = app.post_id(&ann, "undo me").await;
    let other = app.post_id(&ann, "and me").await;
    app.follow(&bob, &ann).await;
    let like = format!("/api/v1/posts/{post}/like");
    let repost = format!("/api/v1/posts/{post}/repost");
    app.act(&bob, Method::POST, &like).await;
    app.act(&bob, Method::POST, &repost).await;
    app.act(&cat, Method::POST, &format!("/api/v1/posts/{other}/like"))
        .await;
    let reply = app.reply(&bob, &post, "a reply").await;
    let mention = app.post_id(&cat, &format!("hello @{}", ann.handle)).await;
    app.told_becomes(
        &ann,
        &[
            ("mention", &cat, &mention),
            ("reply", &bob, &reply),
            ("like", &cat, &other),
            ("repost", &bob, &post),
            ("like", &bob, &post),
            ("follow", &bob, ""),
        ],
    )
    .await;

    // Unlike, unrepost, unfollow, delete the reply, edit the mention away.
    assert_eq!(
        app.act(&bob, Method::DELETE, &like).await.status(),
        StatusCode::NO_CONTENT
    );
    app.act(&bob, Method::DELETE, &repost).await;
    app.unfollow(&bob, &ann).await;
    assert_eq!(
        app.delete(&bob, &reply).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.edit(&cat, &mention, "hello nobody").await.status(),
        StatusCode::OK
    );
    app.told_becomes(&ann, &[("like", &cat, &other)]).await;
    // An edit that mentions someone new tells them.
    app.edit(&cat, &mention, &format!("hello @{}", bob.handle))
        .await;
    app.told_becomes(&bob, &[("mention", &cat, &mention)]).await;

    // Deleting the liked post takes its likes' notifications with it.
    app.delete(&ann, &other).await;
    app.told_becomes(&ann, &[]).await;

    // A deleted account's notifications go, both those it made and those it had.
    let post = app.post_id(&ann, "again").await;
    app.act(&cat, Method::POST, &format!("/api/v1/posts/{post}/like"))
        .await;
    app.follow(&ann, &cat).await;
    app.told_becomes(&ann, &[("like", &cat, &post)]).await;
    app.told_becomes(&cat, &[("follow", &ann, "")]).await;
    let res = app
        .send(
            Method::DELETE,
            "/api/v1/auth/me",
            Some(&cat.access),
            Some(json!({"password": cat.password})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.told_becomes(&ann, &[]).await;
}

#[tokio::test]
async fn blocked_and_muted_users_notify_nothing_and_an_unmute_brings_them_back() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    let from_bob = app.post_id(&bob, &format!("hi @{}", ann.handle)).await;
    let from_cat = app.post_id(&cat, &format!("hey @{}", ann.handle)).await;
    app.told_becomes(
        &ann,
        &[("mention", &cat, &from_cat), ("mention", &bob, &from_bob)],
    )
    .await;
    assert_eq!(app.unread(&ann).await, json!({"count": 2}));

    // Muted: gone from the list and the count at once; back after the unmute.
    let mute = format!("/api/v1/users/{}/mute", cat.id);
    app.act(&ann, Method::POST, &mute).await;
    assert_eq!(
        app.told(&ann, "").await,
        [("mention".into(), bob.handle.clone(), from_bob.clone())]
    );
    assert_eq!(app.unread(&ann).await, json!({"count": 1}));
    // What a muted user does meanwhile stays hidden too.
    let later = app.post_id(&cat, &format!("still @{}", ann.handle)).await;
    // Stored (a mention by bob made after it has come through) but not shown.
    let after = app.post_id(&bob, &format!("and @{}", ann.handle)).await;
    app.told_becomes(
        &ann,
        &[("mention", &bob, &after), ("mention", &bob, &from_bob)],
    )
    .await;
    assert_eq!(app.unread(&ann).await, json!({"count": 2}));
    app.act(&ann, Method::DELETE, &mute).await;
    app.told_becomes(
        &ann,
        &[
            ("mention", &bob, &after),
            ("mention", &cat, &later),
            ("mention", &cat, &from_cat),
            ("mention", &bob, &from_bob),
        ],
    )
    .await;

    // Blocked, either way round: nothing from the other.
    app.act(
        &ann,
        Method::POST,
        &format!("/api/v1/users/{}/block", bob.id),
    )
    .await;
    app.act(
        &cat,
        Method::POST,
        &format!("/api/v1/users/{}/block", ann.id),
    )
    .await;
    assert!(app.told(&ann, "").await.is_empty());
    assert_eq!(app.unread(&ann).await, json!({"count": 0}));
    app.post_id(&bob, &format!("blocked @{}", ann.handle)).await;
    // The block's own follow-ups (its events) have reached the service by now…
    let marker = app.post_id(&ann, "marker").await;
    let dan = app.signup("dan").await;
    app.act(&dan, Method::POST, &format!("/api/v1/posts/{marker}/like"))
        .await;
    app.told_becomes(&ann, &[("like", &dan, &marker)]).await;
    // …and nothing from bob came through.
    assert_eq!(app.unread(&ann).await, json!({"count": 1}));
}

#[tokio::test]
async fn read_marks_move_forward_and_the_unread_count_follows() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let mut actors = Vec::new();
    for name in ["bob", "cat", "dan"] {
        let u = app.signup(name).await;
        app.follow(&u, &ann).await;
        actors.push(u);
    }
    let [bob, cat, dan] = [&actors[0], &actors[1], &actors[2]];
    app.told_becomes(
        &ann,
        &[
            ("follow", dan, ""),
            ("follow", cat, ""),
            ("follow", bob, ""),
        ],
    )
    .await;
    assert_eq!(app.unread(&ann).await, json!({"count": 3}));
    let page = app.notifications(&ann, "").await;
    let ids: Vec<String> = ids(&page);
    // Read up to the middle one: it and the older one are read.
    let res = app.mark_read(&ann, json!({"up_to": ids[1]})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.unread(&ann).await, json!({"count": 1}));
    let read: Vec<bool> = app.notifications(&ann, "").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["read"].as_bool().unwrap())
        .collect();
    assert_eq!(read, [false, true, true]);
    // An older mark changes nothing, nor does someone else's; the newest reads all.
    app.mark_read(&ann, json!({"up_to": ids[2]})).await;
    assert_eq!(app.unread(&ann).await, json!({"count": 1}));
    app.mark_read(bob, json!({"up_to": ids[0]})).await;
    assert_eq!(app.unread(&ann).await, json!({"count": 1}));
    app.mark_read(&ann, json!({"up_to": ids[0]})).await;
    assert_eq!(app.unread(&ann).await, json!({"count": 0}));
}

#[tokio::test]
async fn a_walk_over_the_pages_sees_each_notification_once_while_more_arrive() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let mut posts = Vec::new();
    for i in 0..7 {
        posts.push(app.post_id(&ann, &format!("post {i}")).await);
    }
    for p in &posts {
        app.act(&bob, Method::POST, &format!("/api/v1/posts/{p}/like"))
            .await;
    }
    eventually("seven likes are notified", || async {
        (app.told(&ann, "?limit=100").await.len() == 7).then_some(())
    })
    .await;
    let before: Vec<String> = ids(&app.notifications(&ann, "?limit=100").await);
    // Between pages, bob mentions ann: a newer notification a walk does not meet.
    let walked = app
        .walk("/api/v1/notifications", Some(&ann.access), 3, || async {
            app.post_id(&bob, &format!("@{} hi", ann.handle)).await;
        })
        .await;
    assert_eq!(walked, before);
}

#[tokio::test]
async fn bad_input_gets_its_status_and_changes_nothing() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.follow(&bob, &ann).await;
    app.told_becomes(&ann, &[("follow", &bob, "")]).await;
    let before = app.fingerprint().await;
    let unread_before = app.unread(&ann).await;

    // No token, or a bad one: 401 on every route.
    for (method, path) in [
        (Method::GET, "/api/v1/notifications"),
        (Method::GET, "/api/v1/notifications/unread_count"),
        (Method::POST, "/api/v1/notifications/read"),
    ] {
        let body = (method == Method::POST).then(|| json!({"up_to": "1"}));
        for token in [None, Some("not-a-token")] {
            let res = app.send(method.clone(), path, token, body.clone()).await;
            assert_problem(res, StatusCode::UNAUTHORIZED).await;
        }
    }
    // Unknown types, bad limits and cursors: 400.
    for query in [
        "?types=likes",
        "?types=",
        "?types=like,",
        "?types=like,%20reply",
        "?limit=0",
        "?limit=101",
        "?limit=x",
        "?cursor=%21%21",
    ] {
        let res = app
            .get(&format!("/api/v1/notifications{query}"), Some(&ann.access))
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
    // A mark that is not an id (ids travel as strings), or no mark: 400; not JSON: 415.
    for bad in [
        json!({"up_to": "x"}),
        json!({"up_to": "-1"}),
        json!({"up_to": 5}),
        json!({}),
        json!({"up_to": null}),
        json!([]),
    ] {
        let res = app.mark_read(&ann, bad).await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
    let res = app
        .http
        .post(app.url("/api/v1/notifications/read"))
        .bearer_auth(&ann.access)
        .header("content-type", "text/plain")
        .body("up_to=1")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    assert_eq!(app.fingerprint().await, before);
    assert_eq!(app.unread(&ann).await, unread_before);
}

/// `DELETE /api/v1/notifications/{id}` removes one of the caller's (another's is a 404
/// and stays), `DELETE /api/v1/notifications` all of them; both need a token.
#[tokio::test]
async fn notifications_are_dismissed_one_by_one_or_all_at_once() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    app.follow(&bob, &ann).await;
    app.follow(&cat, &ann).await;
    app.follow(&ann, &bob).await;
    app.told_becomes(&ann, &[("follow", &bob, ""), ("follow", &cat, "")])
        .await;
    app.told_becomes(&bob, &[("follow", &ann, "")]).await;
    let page = app.notifications(&ann, "").await;
    let first = page["items"][0]["id"].as_str().unwrap().to_owned();
    let bobs = app.notifications(&bob, "").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = |id: &str| format!("/api/v1/notifications/{id}");
    let res = app
        .send(Method::DELETE, &path(&bobs), Some(&ann.access), None)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "another's notification"
    );
    let res = app.send(Method::DELETE, &path(&first), None, None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .send(Method::DELETE, &path(&first), Some(&ann.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.told(&ann, "").await.len(), 1);
    let res = app
        .send(Method::DELETE, &path(&first), Some(&ann.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "gone already");

    let res = app
        .send(
            Method::DELETE,
            "/api/v1/notifications",
            Some(&ann.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(app.told(&ann, "").await.is_empty());
    assert_eq!(app.told(&bob, "").await.len(), 1, "bob's are his");
}
