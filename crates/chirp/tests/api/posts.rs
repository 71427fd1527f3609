//! WriteService: create, edit and delete posts, with every error status.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn create_returns_the_post_with_its_author() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let post = app.post(&ann, "first post 🐦").await;
    assert!(post["id"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(post["text"], "first post 🐦");
    assert_eq!(post["author"]["id"], ann.id.as_str());
    assert_eq!(post["author"]["handle"], ann.handle.as_str());
    assert_eq!(post["author"]["display_name"], ann.handle.as_str());
    assert!(post["edited_at"].is_null());
    assert!(post["reply_to"].is_null());
    assert!(post["created_at"].as_str().unwrap().ends_with('Z'));
    // A post's own reads are immediate.
    let id = post["id"].as_str().unwrap();
    assert_eq!(
        app.get_json(&format!("/api/v1/posts/{id}"), None).await,
        post
    );
    assert_eq!(app.user(&ann.id).await["posts_count"], 1);
}

#[tokio::test]
async fn ids_are_time_ordered() {
    let app = spawn_app().await;
    let ben = app.signup("ben").await;
    let mut last = 0u64;
    for i in 0..5 {
        let id: u64 = app
            .post_id(&ben, &format!("post {i}"))
            .await
            .parse()
            .unwrap();
        assert!(id > last);
        last = id;
    }
}

#[tokio::test]
async fn text_limits_count_characters() {
    let app = spawn_app().await;
    let cyd = app.signup("cyd").await;
    app.post(&cyd, &"a".repeat(280)).await;
    app.post(&cyd, &"🐦".repeat(280)).await;
    let before = app.fingerprint().await;
    for bad in [
        "".to_owned(),
        "   \n\t".to_owned(),
        "a".repeat(281),
        "🐦".repeat(281),
    ] {
        let res = app.post_raw(&cyd.access, json!({"text": bad})).await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn malformed_bodies_are_400_and_unauthenticated_401() {
    let app = spawn_app().await;
    let dia = app.signup("dia").await;
    let before = app.fingerprint().await;
    for bad in [
        json!({}),
        json!({"text": 5}),
        json!({"text": "x", "reply_to": 12}),
        json!("text"),
        // serde reads a struct from an array: these were posts of "hi" once.
        json!(["hi"]),
        json!(["hi", null]),
        json!(null),
    ] {
        assert_problem(
            app.post_raw(&dia.access, bad).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let res = app
        .send(
            Method::POST,
            "/api/v1/posts",
            None,
            Some(json!({"text": "hi"})),
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = app
        .http
        .post(app.url("/api/v1/posts"))
        .bearer_auth(&dia.access)
        .header("content-type", "text/plain")
        .body("{\"text\": \"hi\"}")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn replies_must_name_a_live_post() {
    let app = spawn_app().await;
    let eddy = app.signup("eddy").await;
    let parent = app.post_id(&eddy, "parent").await;
    let reply = app
        .post_raw(&eddy.access, json!({"text": "reply", "reply_to": parent}))
        .await;
    assert_eq!(reply.status(), StatusCode::CREATED);
    assert_eq!(body(reply).await["reply_to"], parent.as_str());

    let before = app.fingerprint().await;
    let res = app
        .post_raw(&eddy.access, json!({"text": "r", "reply_to": "12345"}))
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.fingerprint().await, before);

    assert_eq!(
        app.delete(&eddy, &parent).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app
        .post_raw(&eddy.access, json!({"text": "r", "reply_to": parent}))
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn an_idempotency_key_makes_retries_safe() {
    let app = spawn_app().await;
    let fay = app.signup("fay").await;
    let gus = app.signup("gus").await;
    let send = |user: &TestUser, key: &str, text: &str| {
        app.http
            .post(app.url("/api/v1/posts"))
            .bearer_auth(&user.access)
            .header("idempotency-key", key)
            .json(&json!({"text": text}))
            .send()
    };
    let first = send(&fay, "k-1", "only once").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = body(first).await;
    let retry = send(&fay, "k-1", "only once").await.unwrap();
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(body(retry).await, first, "a retry returns the first post");
    assert_eq!(app.user(&fay.id).await["posts_count"], 1);
    let posts = app
        .get_json(&format!("/api/v1/users/{}/posts", fay.id), None)
        .await;
    assert_eq!(ids(&posts).len(), 1);

    // Keys belong to a user: the same key from someone else makes their own post.
    let other = body(send(&gus, "k-1", "mine").await.unwrap()).await;
    assert_ne!(other["id"], first["id"]);
    // A bad key is a bad request.
    let res = send(&fay, "has space", "x").await.unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn only_the_author_edits_and_edits_set_edited_at() {
    let app = spawn_app().await;
    let hugo = app.signup("hugo").await;
    let ivy = app.signup("ivy").await;
    let id = app.post_id(&hugo, "draft").await;

    let before = app.fingerprint().await;
    assert_problem(app.edit(&ivy, &id, "mine now").await, StatusCode::FORBIDDEN).await;
    assert_problem(
        app.edit(&hugo, &id, &"x".repeat(281)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_problem(app.edit(&hugo, "424242", "x").await, StatusCode::NOT_FOUND).await;
    assert_problem(
        app.edit(&hugo, "not-an-id", "x").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/posts/{id}"),
            None,
            Some(json!({"text": "x"})),
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(app.fingerprint().await, before);

    let res = app.edit(&hugo, &id, "final").await;
    assert_eq!(res.status(), StatusCode::OK);
    let edited = body(res).await;
    assert_eq!(edited["text"], "final");
    assert!(edited["edited_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        app.get_json(&format!("/api/v1/posts/{id}"), None).await,
        edited
    );
}

#[tokio::test]
async fn only_the_author_deletes_and_a_deleted_post_is_gone() {
    let app = spawn_app().await;
    let joy = app.signup("joy").await;
    let ken = app.signup("ken").await;
    let id = app.post_id(&joy, "short-lived").await;
    assert_problem(app.delete(&ken, &id).await, StatusCode::FORBIDDEN).await;
    assert_eq!(app.delete(&joy, &id).await.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&format!("/api/v1/posts/{id}"), None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(app.delete(&joy, &id).await, StatusCode::NOT_FOUND).await;
    assert_problem(app.edit(&joy, &id, "back?").await, StatusCode::NOT_FOUND).await;
    assert_eq!(app.user(&joy.id).await["posts_count"], 0);
    let posts = app
        .get_json(&format!("/api/v1/users/{}/posts", joy.id), None)
        .await;
    assert!(ids(&posts).is_empty());
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = spawn_app().await;
    let lux = app.signup("lux").await;
    let before = app.fingerprint().await;
    let big = json!({"text": "x".repeat(70 * 1024)});
    assert_problem(
        app.post_raw(&lux.access, big.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_problem(app.signup_raw(big).await, StatusCode::PAYLOAD_TOO_LARGE).await;
    // Without a declared length (chunked), the limit holds too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    let res = app
        .http
        .post(app.url("/api/v1/posts"))
        .bearer_auth(&lux.access)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(app.fingerprint().await, before);
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + Sync + 'static {
    futures::stream::iter(chunks)
}

/// A retried reply answers what the first try made, even after the post replied to was
/// deleted or its author blocked the replier (API.md: a retry returns the first post).
#[tokio::test]
async fn a_retried_reply_answers_the_first_after_its_parent_went_or_a_block_came() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let kept = app.post_id(&ann, "kept").await;
    let gone = app.post_id(&ann, "gone").await;
    let send = |key: &str, parent: &str| {
        app.http
            .post(app.url("/api/v1/posts"))
            .bearer_auth(&bob.access)
            .header("idempotency-key", key)
            .json(&json!({"text": "a reply", "reply_to": parent}))
            .send()
    };
    let first_to_gone = body(send("k-gone", &gone).await.unwrap()).await;
    let first_to_kept = body(send("k-kept", &kept).await.unwrap()).await;
    assert_eq!(
        app.delete(&ann, &gone).await.status(),
        StatusCode::NO_CONTENT
    );
    let block = format!("/api/v1/users/{}/block", bob.id);
    let res = app
        .send(Method::POST, &block, Some(&ann.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let before = app.fingerprint().await;
    for (key, parent, first) in [
        ("k-gone", &gone, &first_to_gone),
        ("k-kept", &kept, &first_to_kept),
    ] {
        let retry = send(key, parent).await.unwrap();
        assert_eq!(retry.status(), StatusCode::CREATED, "{key}");
        assert_eq!(retry.headers()["idempotent-replayed"], "true");
        assert_eq!(&body(retry).await, first, "{key}");
    }
    assert_eq!(app.fingerprint().await, before);
    // A new key is a new reply: refused across the block.
    assert_problem(send("k-new", &kept).await.unwrap(), StatusCode::FORBIDDEN).await;
}
