//! UserGraphService: follow, unfollow, followers, following, counts.

use reqwest::{Method, StatusCode};

use crate::helpers::*;

#[tokio::test]
async fn follow_is_idempotent_and_counts_follow() {
    let app = spawn_app().await;
    let amy = app.signup("amy").await;
    let bob = app.signup("bob").await;
    app.follow(&amy, &bob).await;
    app.follow(&amy, &bob).await;
    let bo_user = app.user(&bob.id).await;
    assert_eq!(bo_user["followers_count"], 1);
    assert_eq!(bo_user["following_count"], 0);
    assert_eq!(app.user(&amy.id).await["following_count"], 1);

    let followers = app
        .get_json(&format!("/api/v1/users/{}/followers", bob.id), None)
        .await;
    assert_eq!(ids(&followers), std::slice::from_ref(&amy.id));
    assert_eq!(
        followers["items"][0]["following_count"], 1,
        "items are full users"
    );
    assert!(followers["next_cursor"].is_null());
    let following = app
        .get_json(&format!("/api/v1/users/{}/following", amy.id), None)
        .await;
    assert_eq!(ids(&following), std::slice::from_ref(&bob.id));

    app.unfollow(&amy, &bob).await;
    app.unfollow(&amy, &bob).await;
    assert_eq!(app.user(&bob.id).await["followers_count"], 0);
    let followers = app
        .get_json(&format!("/api/v1/users/{}/followers", bob.id), None)
        .await;
    assert!(ids(&followers).is_empty());
}

#[tokio::test]
async fn follow_errors() {
    let app = spawn_app().await;
    let cat = app.signup("cat").await;
    let before = app.fingerprint().await;
    assert_problem(
        app.follow_raw(&cat.access, &cat.id).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_problem(
        app.follow_raw(&cat.access, "999999").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.follow_raw(&cat.access, "abc").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let res = app
        .send(
            Method::POST,
            &format!("/api/v1/users/{}/follow", cat.id),
            None,
            None,
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = app
        .send(
            Method::DELETE,
            "/api/v1/users/999999/follow",
            Some(&cat.access),
            None,
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
    assert_problem(
        app.get("/api/v1/users/999999/followers", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.get("/api/v1/users/999999/following", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn followers_paginate_newest_first_exactly_once() {
    let app = spawn_app().await;
    let star = app.signup("star").await;
    let mut fans = Vec::new();
    for i in 0..7 {
        let fan = app.signup(&format!("fan{i}")).await;
        app.follow(&fan, &star).await;
        fans.push(fan.id);
    }
    let seen = app
        .walk(
            &format!("/api/v1/users/{}/followers", star.id),
            None,
            3,
            || async {},
        )
        .await;
    fans.reverse();
    assert_eq!(seen, fans);
}

#[tokio::test]
async fn bad_page_parameters_are_400() {
    let app = spawn_app().await;
    let dee = app.signup("dee").await;
    for q in [
        "?limit=0",
        "?limit=101",
        "?limit=x",
        "?limit=-1",
        "?cursor=%%%",
        "?cursor=bm90LWEtY3Vyc29y",
    ] {
        for path in ["followers", "following", "posts"] {
            let res = app
                .get(&format!("/api/v1/users/{}/{path}{q}", dee.id), None)
                .await;
            assert_problem(res, StatusCode::BAD_REQUEST).await;
        }
        let res = app
            .get(&format!("/api/v1/timelines/home{q}"), Some(&dee.access))
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
        let res = app
            .get(&format!("/api/v1/search/posts?q=a&{}", &q[1..]), None)
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
}
