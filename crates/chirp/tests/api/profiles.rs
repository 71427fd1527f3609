//! Profiles: `bio`, `PATCH /api/v1/auth/me`, and the change reaching every copy (the
//! user, the author of posts, user search), with every error status of API.md.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

impl TestApp {
    async fn update_me(&self, who: &TestUser, body: Value) -> Response {
        self.send(
            Method::PATCH,
            "/api/v1/auth/me",
            Some(&who.access),
            Some(body),
        )
        .await
    }
}

#[tokio::test]
async fn a_profile_change_shows_everywhere_the_user_does() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let post = app.post_id(&ann, "before the change").await;
    let me = app.get_json("/api/v1/auth/me", Some(&ann.access)).await;
    assert_eq!(me["bio"], "", "a new account's bio is empty");

    let name = format!("Ann {}", app.word("Quill"));
    let res = app
        .update_me(
            &ann,
            json!({"display_name": format!("  {name} "), "bio": "Birds.\nMostly finches."}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let user = body(res).await;
    assert_eq!(user["display_name"], name.as_str(), "trimmed");
    assert_eq!(user["bio"], "Birds.\nMostly finches.");
    assert_eq!(user["id"], ann.id.as_str());
    assert_eq!(user["posts_count"], 1);
    assert_eq!(app.user(&ann.id).await["bio"], "Birds.\nMostly finches.");
    assert_eq!(
        app.get_json("/api/v1/auth/me", Some(&ann.access)).await["display_name"],
        name.as_str()
    );

    // Posts show the new name within 5 s, and user search finds it.
    eventually("the post shows the new name", || async {
        let p = app.get_json(&format!("/api/v1/posts/{post}"), None).await;
        (p["author"]["display_name"] == name.as_str()).then_some(())
    })
    .await;
    let word = name.split(' ').nth(1).unwrap().to_lowercase();
    eventually("user search finds the new name", || async {
        let found = app.search_users(&word).await;
        (ids(&found) == [ann.id.clone()]).then_some(())
    })
    .await;

    // Only what is given changes; "" clears the bio.
    let user = body(app.update_me(&ann, json!({"bio": ""})).await).await;
    assert_eq!(user["bio"], "");
    assert_eq!(user["display_name"], name.as_str());
    let user = body(app.update_me(&ann, json!({"display_name": "Ann"})).await).await;
    assert_eq!(
        (&user["display_name"], &user["bio"]),
        (&json!("Ann"), &json!(""))
    );
}

#[tokio::test]
async fn a_change_that_changes_nothing_writes_nothing() {
    let app = spawn_app().await;
    let bo = app.signup("bo").await;
    let first = app.update_me(&bo, json!({"bio": "same"})).await;
    assert_eq!(first.status(), StatusCode::OK);
    let before = app.fingerprint().await;
    for same in [
        json!({"bio": "same"}),
        json!({}),
        json!({"display_name": bo.handle}),
    ] {
        let res = app.update_me(&bo, same).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(app.fingerprint().await, before, "no version, no event");
}

#[tokio::test]
async fn bad_profile_changes_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let cy = app.signup("cy").await;
    let before = app.fingerprint().await;
    let unprocessable = [
        json!({"display_name": "   "}),
        json!({"display_name": "d".repeat(51)}),
        json!({"display_name": "Cy\u{202E}gnp"}),
        json!({"bio": "é".repeat(161)}),
        json!({"bio": "a bell\u{7}"}),
        json!({"bio": "turned\u{2067}round"}),
        // One bad field refuses the whole change.
        json!({"display_name": "Fine", "bio": "b".repeat(161)}),
    ];
    for bad in unprocessable {
        let res = app.update_me(&cy, bad.clone()).await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let malformed = [
        json!({"bio": 5}),
        json!({"display_name": null, "bio": ["x"]}),
        json!({"handle": "renamed"}),
        json!([null, null]),
        json!(["Name", "bio"]),
        json!("bio"),
    ];
    for bad in malformed {
        let res = app.update_me(&cy, bad.clone()).await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
    let res = app
        .send(
            Method::PATCH,
            "/api/v1/auth/me",
            None,
            Some(json!({"bio": "x"})),
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    // 160 characters are a bio.
    assert_eq!(app.fingerprint().await, before);
    let res = app.update_me(&cy, json!({"bio": "é".repeat(160)})).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// `GET /api/v1/auth/me/export`: everything held about the caller, from every service,
/// and nothing that would let anyone sign in as them.
#[tokio::test]
async fn an_export_holds_everything_about_the_caller_and_no_secret() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    let dan = app.signup("dan").await;
    let res = app.update_me(&ann, json!({"bio": "Exports."})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let kept = app.post_id(&ann, "kept").await;
    let gone = app.post_id(&ann, "gone").await;
    let reply = json!({"text": "a reply", "reply_to": kept});
    let res = app.post_raw(&ann.access, reply).await;
    let reply_id = body(res).await["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.delete(&ann, &gone).await.status(),
        StatusCode::NO_CONTENT
    );
    let bobs = app.post_id(&bob, "bob's").await;
    let bobs_gone = app.post_id(&bob, "bob's, soon gone").await;
    for post in [&bobs, &bobs_gone, &kept] {
        let path = format!("/api/v1/posts/{post}/like");
        let res = app.send(Method::POST, &path, Some(&ann.access), None).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(
        app.delete(&bob, &bobs_gone).await.status(),
        StatusCode::NO_CONTENT
    );
    app.follow(&ann, &bob).await;
    app.follow(&ann, &cat).await;
    app.follow(&cat, &ann).await;
    for (what, whom) in [("block", &dan), ("mute", &bob)] {
        let path = format!("/api/v1/users/{}/{what}", whom.id);
        let res = app.send(Method::POST, &path, Some(&ann.access), None).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }

    let res = app.get("/api/v1/auth/me/export", Some(&ann.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let raw = res.text().await.unwrap();
    for secret in [&ann.password, &ann.access, &ann.refresh] {
        assert!(!raw.contains(secret.as_str()), "the export holds a secret");
    }
    assert!(!raw.contains("$argon2"), "the export holds a password hash");
    let doc: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(doc["user"]["id"], ann.id.as_str());
    assert_eq!(doc["user"]["bio"], "Exports.");
    assert_eq!(doc["email"], ann.email.as_str());
    assert!(doc["exported_at"].as_str().unwrap().ends_with('Z'));
    let post_ids: Vec<&str> = doc["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        post_ids,
        [reply_id.as_str(), kept.as_str()],
        "live posts, newest first"
    );
    assert_eq!(doc["posts"][1]["text"], "kept");
    assert_eq!(
        doc["likes"],
        json!([kept, bobs]),
        "live liked posts, newest like first"
    );
    let refs = |field: &str| -> Vec<(String, String)> {
        doc[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    u["id"].as_str().unwrap().to_owned(),
                    u["handle"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let named = |u: &TestUser| (u.id.clone(), u.handle.clone());
    assert_eq!(refs("following"), [named(&cat), named(&bob)]);
    assert_eq!(refs("followers"), [named(&cat)]);
    assert_eq!(refs("blocks"), [named(&dan)]);
    assert_eq!(refs("mutes"), [named(&bob)]);

    // Another user's export is their own; without a token there is none.
    let theirs = app
        .get_json("/api/v1/auth/me/export", Some(&dan.access))
        .await;
    assert_eq!(theirs["user"]["id"], dan.id.as_str());
    assert_eq!(theirs["posts"], json!([]));
    assert_eq!(theirs["blocks"], json!([]));
    let res = app.get("/api/v1/auth/me/export", None).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}
