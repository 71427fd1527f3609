//! The OpenAPI document as clients get it, the pages its problem types point to, and the
//! `Location` of what a 201 created.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// `/api/v1/openapi.json` is the committed docs/openapi.json, through the gateway too.
#[tokio::test]
async fn the_document_is_served_and_is_the_committed_one() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let served: Value = res.json().await.unwrap();
    let committed = include_str!("../../../../docs/openapi.json");
    let committed: Value = serde_json::from_str(committed).unwrap();
    assert_eq!(served, committed);
    assert_eq!(served["openapi"], "3.1.0");
}

/// Every problem document's `type` is a page of this server that says what it means.
#[tokio::test]
async fn problem_types_are_pages_of_the_server() {
    let app = spawn_app().await;
    let problem = assert_problem(
        app.get("/api/v1/users/1", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let kind = problem["type"].as_str().unwrap().to_owned();
    assert_eq!(kind, "/problems/not-found");
    let page = app.get(&kind, None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let text = page.text().await.unwrap();
    assert!(text.starts_with("not-found: 404 Not Found"), "{text}");
    let unknown = app.get("/problems/no-such-problem", None).await;
    assert_problem(unknown, StatusCode::NOT_FOUND).await;
    // Every type the document lists has its page.
    let doc = app.get_json("/api/v1/openapi.json", None).await;
    let types = doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .clone();
    assert!(types.len() >= 13, "{types:?}");
    for kind in types {
        let res = app.get(kind.as_str().unwrap(), None).await;
        assert_eq!(res.status(), StatusCode::OK, "{kind}");
    }
}

/// A 201 says where what it created is, and that address answers it.
#[tokio::test]
async fn created_resources_have_a_location() {
    let app = spawn_app().await;
    let tag = app.tag.clone();
    let signup = app
        .signup_raw(json!({
            "handle": format!("loc_{tag}"),
            "email": format!("loc_{tag}@example.com"),
            "password": "long enough password",
        }))
        .await;
    assert_eq!(signup.status(), StatusCode::CREATED);
    let location = signup.headers()["location"].to_str().unwrap().to_owned();
    let tokens = body(signup).await;
    assert_eq!(
        location,
        format!("/api/v1/users/{}", tokens["user"]["id"].as_str().unwrap())
    );
    assert_eq!(
        app.get_json(&location, None).await["id"],
        tokens["user"]["id"]
    );
    let token = tokens["access_token"].as_str().unwrap();
    let post = app.post_raw(token, json!({"text": "where am I"})).await;
    assert_eq!(post.status(), StatusCode::CREATED);
    let location = post.headers()["location"].to_str().unwrap().to_owned();
    let post = body(post).await;
    assert_eq!(
        location,
        format!("/api/v1/posts/{}", post["id"].as_str().unwrap())
    );
    assert_eq!(app.get_json(&location, None).await["text"], "where am I");
}
