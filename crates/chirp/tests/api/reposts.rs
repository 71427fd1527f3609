//! Reposts: a post of its own that reaches the reposter's followers, an original at most
//! once in a home timeline, counts and viewer state, and the original's deletion taking
//! its reposts away; with every error status of API.md.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

impl TestApp {
    async fn repost_raw(&self, who: &TestUser, post: &str, undo: bool) -> Response {
        let method = if undo { Method::DELETE } else { Method::POST };
        let path = format!("/api/v1/posts/{post}/repost");
        self.send(method, &path, Some(&who.access), None).await
    }

    /// `who` reposts `post`: the repost's id, after checking the answer.
    async fn repost(&self, who: &TestUser, post: &str, expected: StatusCode) -> String {
        let res = self.repost_raw(who, post, false).await;
        assert_eq!(res.status(), expected);
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let repost = body(res).await;
        let id = repost["id"].as_str().unwrap().to_owned();
        assert_eq!(location, format!("/api/v1/posts/{id}"));
        assert_eq!(repost["text"], "");
        assert_eq!(repost["author"]["id"], who.id.as_str());
        assert!(repost["repost_of"]["id"].is_string(), "{repost}");
        id
    }

    async fn repost_count_becomes(&self, post: &str, n: u64) {
        eventually(&format!("post {post} has {n} reposts"), || async {
            let p = self.get_json(&format!("/api/v1/posts/{post}"), None).await;
            (p["repost_count"] == n).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn a_repost_reaches_the_reposters_followers_and_an_original_shows_once() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    let dan = app.signup("dan").await;
    let eve = app.signup("eve").await;
    app.follow(&cat, &bob).await;
    app.follow(&cat, &eve).await;
    app.follow(&dan, &bob).await;
    app.follow(&dan, &ann).await;
    let original = app.post_id(&ann, "worth repeating").await;

    let first = app.repost(&bob, &original, StatusCode::CREATED).await;
    let again = app.repost(&bob, &original, StatusCode::OK).await;
    assert_eq!(again, first, "a second repost answers the first");
    // Reposting a repost reposts its original.
    let eves = app.repost(&eve, &first, StatusCode::CREATED).await;
    let read = app.get_json(&format!("/api/v1/posts/{eves}"), None).await;
    assert_eq!(read["repost_of"]["id"], original.as_str());
    assert_eq!(read["repost_of"]["text"], "worth repeating");
    assert_eq!(read["repost_of"]["author"]["id"], ann.id.as_str());
    app.repost_count_becomes(&original, 2).await;

    // cat follows both reposters: bob's repost, the earlier, once; dan follows ann: the
    // original, not a repost of it; bob and eve see their own.
    app.home_becomes(&cat, std::slice::from_ref(&first)).await;
    app.home_becomes(&dan, std::slice::from_ref(&original))
        .await;
    app.home_becomes(&bob, std::slice::from_ref(&first)).await;
    app.home_becomes(&eve, std::slice::from_ref(&eves)).await;
    let home = app.home(&cat, "").await;
    assert_eq!(home["items"][0]["repost_of"]["id"], original.as_str());
    assert_eq!(home["items"][0]["repost_of"]["repost_count"], 2);
    let bobs_posts = app
        .get_json(&format!("/api/v1/users/{}/posts", bob.id), None)
        .await;
    assert_eq!(ids(&bobs_posts), std::slice::from_ref(&first));

    // The reposter's viewer state, on the repost and on the original.
    let seen = app
        .get_json(&format!("/api/v1/posts/{original}"), Some(&bob.access))
        .await;
    assert_eq!(seen["viewer"], json!({"liked": false, "reposted": true}));
    let seen = app
        .get_json(&format!("/api/v1/posts/{first}"), Some(&bob.access))
        .await;
    assert_eq!(seen["viewer"]["reposted"], true);
    assert_eq!(seen["repost_of"]["viewer"]["reposted"], true);
    // A like of a repost is a like of its original.
    let res = app
        .send(
            Method::POST,
            &format!("/api/v1/posts/{first}/like"),
            Some(&cat.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    eventually("the original has the like", || async {
        let p = app
            .get_json(&format!("/api/v1/posts/{original}"), None)
            .await;
        (p["like_count"] == 1).then_some(())
    })
    .await;

    // Taken back (twice: idempotent), by the original's id: cat now sees eve's.
    for _ in 0..2 {
        let res = app.repost_raw(&bob, &original, true).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    assert_problem(
        app.get(&format!("/api/v1/posts/{first}"), None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.repost_count_becomes(&original, 1).await;
    app.home_becomes(&cat, std::slice::from_ref(&eves)).await;
    app.home_becomes(&bob, &[]).await;
    let seen = app
        .get_json(&format!("/api/v1/posts/{original}"), Some(&bob.access))
        .await;
    assert_eq!(seen["viewer"]["reposted"], false);
}

#[tokio::test]
async fn deleting_the_original_takes_its_reposts_away_everywhere() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    app.follow(&cat, &bob).await;
    let gone = app.post_id(&ann, "soon gone").await;
    let kept = app.post_id(&ann, "kept").await;
    let mut bobs = Vec::new();
    bobs.push(app.post_id(&bob, "bob before").await);
    let repost_of_gone = app.repost(&bob, &gone, StatusCode::CREATED).await;
    let repost_of_kept = app.repost(&bob, &kept, StatusCode::CREATED).await;
    bobs.push(app.post_id(&bob, "bob after").await);
    app.home_becomes(
        &cat,
        &[
            bobs[1].clone(),
            repost_of_kept.clone(),
            repost_of_gone.clone(),
            bobs[0].clone(),
        ],
    )
    .await;
    assert_eq!(
        app.delete(&ann, &gone).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app
        .get(&format!("/api/v1/posts/{repost_of_gone}"), None)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
    let expected = vec![bobs[1].clone(), repost_of_kept.clone(), bobs[0].clone()];
    // At once, and a page at a time without a short page.
    for limit in [1, 2, 3] {
        let walked = app
            .walk(
                "/api/v1/timelines/home",
                Some(&cat.access),
                limit,
                || async {},
            )
            .await;
        assert_eq!(walked, expected, "home, limit {limit}");
        let path = format!("/api/v1/users/{}/posts", bob.id);
        let walked = app.walk(&path, None, limit, || async {}).await;
        assert_eq!(walked, expected, "bob's posts, limit {limit}");
    }
    // Nor can it be reposted now.
    let res = app.repost_raw(&cat, &gone, false).await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn bad_reposts_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let anns = app.post_id(&ann, "ann's").await;
    let gone = app.post_id(&ann, "gone").await;
    assert_eq!(
        app.delete(&ann, &gone).await.status(),
        StatusCode::NO_CONTENT
    );
    let own = app.repost(&ann, &anns, StatusCode::CREATED).await; // one's own: allowed
    let block = format!("/api/v1/users/{}/block", ann.id);
    let res = app
        .send(Method::POST, &block, Some(&bob.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let before = app.fingerprint().await;
    for post in ["999999", "abc", gone.as_str()] {
        assert_problem(
            app.repost_raw(&bob, post, false).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    assert_problem(
        app.repost_raw(&bob, &anns, false).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let path = format!("/api/v1/posts/{anns}/repost");
    for method in [Method::POST, Method::DELETE] {
        let res = app.send(method, &path, None, None).await;
        assert_problem(res, StatusCode::UNAUTHORIZED).await;
    }
    let res = app.edit(&ann, &own, "a repost has no text").await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Taking back what was never reposted changes nothing either.
    let res = app.repost_raw(&bob, &anns, true).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.fingerprint().await, before);
    // Its author may delete a repost like any post of theirs.
    assert_eq!(
        app.delete(&ann, &own).await.status(),
        StatusCode::NO_CONTENT
    );
    app.repost_count_becomes(&anns, 0).await;
    let read: Value = app.get_json(&format!("/api/v1/posts/{anns}"), None).await;
    assert_eq!(read["repost_count"], 0);
}

/// The caller's `viewer` state follows each of their own likes and reposts in the very
/// next read, on every path that reads it (the post, a home page), however often it was
/// read before (`chirp all` keeps each user's likes and reposts in memory).
#[tokio::test]
async fn the_viewer_state_follows_every_change_at_once() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.follow(&bob, &ann).await;
    let post = app.post_id(&ann, "react to me").await;
    let seen = |expected: Value| {
        let (app, bob, post) = (&app, &bob, &post);
        async move {
            let one = app
                .get_json(&format!("/api/v1/posts/{post}"), Some(&bob.access))
                .await;
            assert_eq!(one["viewer"], expected, "the post read by id");
            let home = app.home(bob, "").await;
            let shown = home["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == post.as_str() || p["repost_of"]["id"] == post.as_str())
                .cloned()
                .unwrap_or_else(|| panic!("the post in bob's home: {home}"));
            assert_eq!(shown["viewer"], expected, "the post in a home page");
        }
    };
    eventually("the post in bob's home", || async {
        app.home_ids(&bob).await.contains(&post).then_some(())
    })
    .await;
    let like = format!("/api/v1/posts/{post}/like");
    seen(json!({"liked": false, "reposted": false})).await;
    let res = app.send(Method::POST, &like, Some(&bob.access), None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    seen(json!({"liked": true, "reposted": false})).await;
    let repost = app.repost(&bob, &post, StatusCode::CREATED).await;
    seen(json!({"liked": true, "reposted": true})).await;
    let res = app
        .send(Method::DELETE, &like, Some(&bob.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    seen(json!({"liked": false, "reposted": true})).await;
    let res = app.repost_raw(&bob, &post, true).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    seen(json!({"liked": false, "reposted": false})).await;
    // A repost taken back by deleting it as a post.
    let again = app.repost(&bob, &post, StatusCode::CREATED).await;
    assert_ne!(again, repost);
    seen(json!({"liked": false, "reposted": true})).await;
    assert_eq!(
        app.delete(&bob, &again).await.status(),
        StatusCode::NO_CONTENT
    );
    seen(json!({"liked": false, "reposted": false})).await;
}

/// `GET /api/v1/posts/{id}/reposts`: who reposted it, most recent first, paged; an undone
/// repost leaves the list; a deleted or unknown post is a 404.
#[tokio::test]
async fn who_reposted_a_post_lists_the_live_reposts_newest_first() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    let dan = app.signup("dan").await;
    let original = app.post_id(&ann, "repost me").await;
    for who in [&bob, &cat, &dan] {
        app.repost(who, &original, StatusCode::CREATED).await;
    }
    let path = format!("/api/v1/posts/{original}/reposts");
    let handles = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["handle"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = app.get_json(&format!("{path}?limit=2"), None).await;
    assert_eq!(handles(&first), [dan.handle.clone(), cat.handle.clone()]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .get_json(&format!("{path}?limit=2&cursor={cursor}"), None)
        .await;
    assert_eq!(handles(&second), std::slice::from_ref(&bob.handle));
    assert_eq!(second["next_cursor"], Value::Null);

    app.repost_raw(&cat, &original, true).await;
    let all = app.get_json(&path, None).await;
    assert_eq!(handles(&all), [dan.handle.clone(), bob.handle.clone()]);

    let res = app
        .send(
            Method::DELETE,
            &format!("/api/v1/posts/{original}"),
            Some(&ann.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for gone in [original.as_str(), "123456789"] {
        let res = app
            .send(
                Method::GET,
                &format!("/api/v1/posts/{gone}/reposts"),
                None,
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{gone}");
    }
}
