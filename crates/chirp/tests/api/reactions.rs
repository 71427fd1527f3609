//! Post objects (mentions, tags, counts, the caller's `viewer` state) and likes, with
//! every error status of API.md.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

impl TestApp {
    async fn like(&self, who: &TestUser, post: &str) -> Response {
        let path = format!("/api/v1/posts/{post}/like");
        self.send(Method::POST, &path, Some(&who.access), None)
            .await
    }

    async fn unlike(&self, who: &TestUser, post: &str) -> Response {
        let path = format!("/api/v1/posts/{post}/like");
        self.send(Method::DELETE, &path, Some(&who.access), None)
            .await
    }

    async fn read_post(&self, post: &str, who: Option<&TestUser>) -> Value {
        let token = who.map(|u| u.access.as_str());
        self.get_json(&format!("/api/v1/posts/{post}"), token).await
    }

    /// Waits until the post's `like_count` is `n` (counts are eventual, within 5 s).
    async fn like_count_becomes(&self, post: &str, n: u64) {
        eventually(&format!("post {post} has {n} likes"), || async {
            (self.read_post(post, None).await["like_count"] == n).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn a_post_carries_its_mentions_tags_and_counts() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let text = format!(
        "hi @{} and @{}, not @nobody_{} nor {}@example.com #Rust #rust #chirp",
        bob.handle.to_uppercase(),
        ann.handle,
        app.word("x"),
        bob.handle
    );
    let post = app.post(&ann, &text).await;
    let mentions = json!([
        {"id": bob.id, "handle": bob.handle},
        {"id": ann.id, "handle": ann.handle},
    ]);
    assert_eq!(post["mentions"], mentions);
    assert_eq!(post["tags"], json!(["rust", "chirp"]));
    assert!(post["repost_of"].is_null());
    for count in ["reply_count", "like_count", "repost_count"] {
        assert_eq!(post[count], 0, "{count}");
    }
    let id = post["id"].as_str().unwrap();
    // Without a token, no viewer state; with one, the caller's.
    let anonymous = app.read_post(id, None).await;
    assert!(anonymous.get("viewer").is_none(), "{anonymous}");
    assert_eq!(anonymous["mentions"], mentions);
    let seen = app.read_post(id, Some(&bob)).await;
    assert_eq!(seen["viewer"], json!({"liked": false, "reposted": false}));

    // An edit resolves the mentions of the new text.
    let res = app.edit(&ann, id, "now only @nobody_at_all #Other").await;
    assert_eq!(res.status(), StatusCode::OK);
    let edited = body(res).await;
    assert_eq!(edited["mentions"], json!([]));
    assert_eq!(edited["tags"], json!(["other"]));
    assert_eq!(app.read_post(id, None).await["mentions"], json!([]));
}

#[tokio::test]
async fn likes_are_idempotent_counted_listed_and_taken_back() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let post = app.post_id(&ann, "like me").await;
    for _ in 0..2 {
        assert_eq!(app.like(&bob, &post).await.status(), StatusCode::NO_CONTENT);
    }
    // The caller's own like shows in the very next read; the count follows.
    let seen = app.read_post(&post, Some(&bob)).await;
    assert_eq!(seen["viewer"]["liked"], true);
    assert_eq!(
        app.read_post(&post, Some(&ann)).await["viewer"]["liked"],
        false
    );
    app.like_count_becomes(&post, 1).await;
    // One's own post may be liked too.
    assert_eq!(app.like(&ann, &post).await.status(), StatusCode::NO_CONTENT);
    app.like_count_becomes(&post, 2).await;

    let likers = app
        .get_json(&format!("/api/v1/posts/{post}/likes"), None)
        .await;
    assert_eq!(
        ids(&likers),
        [ann.id.clone(), bob.id.clone()],
        "most recent first"
    );
    assert_eq!(likers["items"][1]["handle"], bob.handle.as_str());
    let liked = app
        .get_json(
            &format!("/api/v1/users/{}/likes", bob.id),
            Some(&bob.access),
        )
        .await;
    assert_eq!(ids(&liked), [post.as_str()]);
    assert_eq!(liked["items"][0]["viewer"]["liked"], true);
    assert_eq!(liked["items"][0]["like_count"], 2);

    for _ in 0..2 {
        assert_eq!(
            app.unlike(&bob, &post).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        app.read_post(&post, Some(&bob)).await["viewer"]["liked"],
        false
    );
    app.like_count_becomes(&post, 1).await;
    let liked = app
        .get_json(&format!("/api/v1/users/{}/likes", bob.id), None)
        .await;
    assert_eq!(ids(&liked), Vec::<String>::new());
    let likers = app
        .get_json(&format!("/api/v1/posts/{post}/likes"), None)
        .await;
    assert_eq!(ids(&likers), [ann.id.as_str()]);
}

#[tokio::test]
async fn home_and_user_timelines_show_the_callers_likes() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.follow(&bob, &ann).await;
    let liked = app.post_id(&ann, "liked one").await;
    let other = app.post_id(&ann, "other one").await;
    app.home_becomes(&bob, &[other.clone(), liked.clone()])
        .await;
    assert_eq!(
        app.like(&bob, &liked).await.status(),
        StatusCode::NO_CONTENT
    );
    let home = app.home(&bob, "").await;
    let states: Vec<&Value> = home["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["viewer"])
        .collect();
    assert_eq!(
        states,
        [
            &json!({"liked": false, "reposted": false}),
            &json!({"liked": true, "reposted": false})
        ]
    );
    let path = format!("/api/v1/users/{}/posts", ann.id);
    let theirs = app.get_json(&path, Some(&bob.access)).await;
    assert_eq!(theirs["items"][1]["viewer"]["liked"], true);
    assert!(app.get_json(&path, None).await["items"][1]
        .get("viewer")
        .is_none());
}

#[tokio::test]
async fn like_errors_have_their_statuses_and_change_nothing() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let post = app.post_id(&ann, "here").await;
    let gone = app.post_id(&ann, "gone").await;
    assert_eq!(
        app.delete(&ann, &gone).await.status(),
        StatusCode::NO_CONTENT
    );
    let before = app.fingerprint().await;
    let path = format!("/api/v1/posts/{post}/like");
    // No token, a forged one: 401.
    let res = app.send(Method::POST, &path, None, None).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = app
        .send(Method::POST, &path, Some("forged.token.here"), None)
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    // Unknown, deleted or not an id: 404.
    for missing in ["1", gone.as_str(), "not-an-id"] {
        assert_problem(app.like(&bob, missing).await, StatusCode::NOT_FOUND).await;
        let likes = app
            .get(&format!("/api/v1/posts/{missing}/likes"), None)
            .await;
        assert_problem(likes, StatusCode::NOT_FOUND).await;
    }
    // Taking back a like that is not there is no error, and changes nothing.
    assert_eq!(
        app.unlike(&bob, &post).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.unlike(&bob, "1").await.status(), StatusCode::NO_CONTENT);
    let res = app.get("/api/v1/users/1/likes", None).await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
    for bad in ["?limit=0", "?limit=101", "?cursor=nope"] {
        let res = app
            .get(&format!("/api/v1/users/{}/likes{bad}", bob.id), None)
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
        let res = app
            .get(&format!("/api/v1/posts/{post}/likes{bad}"), None)
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
    // A public read with a token that is not valid: 401, not an anonymous answer.
    let res = app
        .get(&format!("/api/v1/posts/{post}"), Some("forged.token.here"))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn a_walk_over_likes_sees_every_like_once_while_likes_arrive() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let mut posts = Vec::new();
    for i in 0..12 {
        posts.push(app.post_id(&ann, &format!("post {i}")).await);
    }
    for p in &posts[..9] {
        assert_eq!(app.like(&bob, p).await.status(), StatusCode::NO_CONTENT);
    }
    // A like of a deleted post leaves the list without shortening a page.
    assert_eq!(
        app.delete(&ann, &posts[4]).await.status(),
        StatusCode::NO_CONTENT
    );
    let late = std::sync::Mutex::new(posts[9..].to_vec());
    let walked = app
        .walk(
            &format!("/api/v1/users/{}/likes", bob.id),
            None,
            2,
            || async {
                let next = late.lock().unwrap().pop();
                if let Some(p) = next {
                    assert_eq!(app.like(&bob, &p).await.status(), StatusCode::NO_CONTENT);
                }
            },
        )
        .await;
    let expected: Vec<String> = posts[..9]
        .iter()
        .rev()
        .filter(|p| **p != posts[4])
        .cloned()
        .collect();
    assert_eq!(walked, expected, "likes made during the walk come after it");
}
