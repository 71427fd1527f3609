//! `DELETE /api/v1/auth/me`: an account deleted for good. Its tokens stop at once, its
//! handle and e-mail are free at once, and everything of it leaves every timeline, count,
//! search result and list within 5 s (API.md's bound, [`EVENTUALLY`]).

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

impl TestApp {
    async fn delete_me(&self, who: &TestUser, body: Option<Value>) -> Response {
        self.send(Method::DELETE, "/api/v1/auth/me", Some(&who.access), body)
            .await
    }

    pub(crate) async fn act(&self, who: &TestUser, method: Method, path: &str) -> Response {
        self.send(method, path, Some(&who.access), None).await
    }

    /// The ids of the users of a page at `path`.
    async fn user_ids(&self, path: &str, token: Option<&str>) -> Vec<String> {
        let page = self.get_json(path, token).await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn a_deleted_account_is_gone_everywhere_and_its_handle_free_at_once() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    let dan = app.signup("dan").await;
    let word = app.word("farewell");

    // Ann posts, replies, likes, reposts, follows and is followed, blocks and is muted.
    let bobs = app.post_id(&bob, "bob's post").await;
    let own = app.post_id(&ann, &format!("{word} from ann")).await;
    let reply = json!({"text": format!("{word} reply"), "reply_to": bobs});
    let res = app.post_raw(&ann.access, reply).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let reply_id = body(res).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/posts/{bobs}/like");
    assert_eq!(
        app.act(&ann, Method::POST, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    let path = format!("/api/v1/posts/{bobs}/repost");
    assert_eq!(
        app.act(&ann, Method::POST, &path).await.status(),
        StatusCode::CREATED
    );
    // Bob likes Ann's post: a like of a deleted post goes from lists with it.
    let path = format!("/api/v1/posts/{own}/like");
    assert_eq!(
        app.act(&bob, Method::POST, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    app.follow(&bob, &ann).await;
    app.follow(&ann, &cat).await;
    app.follow(&cat, &ann).await;
    let path = format!("/api/v1/users/{}/block", dan.id);
    assert_eq!(
        app.act(&ann, Method::POST, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    let path = format!("/api/v1/users/{}/mute", ann.id);
    assert_eq!(
        app.act(&cat, Method::POST, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    app.search_becomes(&word, &[reply_id.clone(), own.clone()])
        .await;
    eventually("Ann's post in Bob's home", || async {
        app.home_ids(&bob).await.contains(&own).then_some(())
    })
    .await;
    let bobs_post = app.get_json(&format!("/api/v1/posts/{bobs}"), None).await;
    assert_eq!(
        (
            &bobs_post["reply_count"],
            &bobs_post["like_count"],
            &bobs_post["repost_count"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );
    // Ann's page, read once before (a store that keeps recent posts keeps hers now).
    let page = format!("/api/v1/users/{}/posts", ann.id);
    assert_eq!(app.get(&page, None).await.status(), StatusCode::OK);

    let res = app
        .delete_me(&ann, Some(json!({"password": ann.password})))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // At once: every token of the account is refused by every service...
    for (method, path) in [
        (Method::GET, "/api/v1/auth/me".to_owned()),
        (Method::GET, "/api/v1/timelines/home".to_owned()),
        (Method::POST, format!("/api/v1/posts/{bobs}/like")),
        (Method::POST, format!("/api/v1/users/{}/follow", dan.id)),
        (Method::GET, format!("/api/v1/relationships?ids={}", bob.id)),
        (Method::GET, format!("/api/v1/search/posts?q={word}")),
    ] {
        let res = app.act(&ann, method.clone(), &path).await;
        assert_problem(res, StatusCode::UNAUTHORIZED).await;
    }
    let res = app
        .post_raw(&ann.access, json!({"text": "after the end"}))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_problem(app.refresh(&ann.refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_problem(
        app.login(&ann.handle, &ann.password).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // ...and the handle and e-mail make a new account, a different one.
    let again = app
        .signup_raw(
            json!({"handle": ann.handle, "email": ann.email, "password": "another-password"}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again = body(again).await;
    let new_id = again["user"]["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, ann.id);
    assert_eq!(again["user"]["posts_count"], 0);

    // Within 5 s, everything of the account has left every timeline, count, search
    // result and list.
    let gone = format!("/api/v1/users/{}", ann.id);
    assert_problem(app.get(&gone, None).await, StatusCode::NOT_FOUND).await;
    // Her page too, at once, though her posts are still to go.
    assert_problem(app.get(&page, None).await, StatusCode::NOT_FOUND).await;
    eventually("the posts of the deleted account are gone", || async {
        let own = app
            .get(&format!("/api/v1/posts/{own}"), None)
            .await
            .status();
        let reply = app
            .get(&format!("/api/v1/posts/{reply_id}"), None)
            .await
            .status();
        (own == StatusCode::NOT_FOUND && reply == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    eventually(
        "Bob's post counts no reply, like or repost of Ann's",
        || async {
            let p = app.get_json(&format!("/api/v1/posts/{bobs}"), None).await;
            let counts = [&p["reply_count"], &p["like_count"], &p["repost_count"]];
            (counts == [&json!(0), &json!(0), &json!(0)]).then_some(())
        },
    )
    .await;
    eventually(
        "the follows both ways are gone, with their counts",
        || async {
            let b = app.user(&bob.id).await;
            let c = app.user(&cat.id).await;
            let following = app
                .user_ids(&format!("/api/v1/users/{}/following", bob.id), None)
                .await;
            let followers = app
                .user_ids(&format!("/api/v1/users/{}/followers", cat.id), None)
                .await;
            (b["following_count"] == 0
                && c["followers_count"] == 0
                && c["following_count"] == 0
                && following.is_empty()
                && followers.is_empty())
            .then_some(())
        },
    )
    .await;
    app.search_becomes(&word, &[]).await;
    eventually("Bob's home holds nothing of Ann's", || async {
        let home = app.home(&bob, "").await;
        let authors: Vec<&str> = home["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["author"]["id"].as_str().unwrap())
            .collect();
        (!authors.contains(&ann.id.as_str())).then_some(())
    })
    .await;
    let mutes = app.user_ids("/api/v1/mutes", Some(&cat.access)).await;
    assert!(
        mutes.is_empty(),
        "Cat's mute of the deleted account is gone"
    );
    let likers = app
        .user_ids(&format!("/api/v1/posts/{bobs}/likes"), None)
        .await;
    assert!(likers.is_empty());
    let bobs_likes = app
        .get_json(&format!("/api/v1/users/{}/likes", bob.id), None)
        .await;
    assert_eq!(
        bobs_likes["items"],
        json!([]),
        "the like of the deleted post is left out"
    );
    let replies = app
        .get_json(&format!("/api/v1/posts/{bobs}/replies"), None)
        .await;
    assert_eq!(replies["items"], json!([]));
    let rel = app
        .get_json(
            &format!("/api/v1/relationships?ids={new_id}"),
            Some(&dan.access),
        )
        .await;
    assert_eq!(
        rel["items"][0]["blocked_by"], false,
        "the block went with the account"
    );
    // The new account with the same handle is the one search finds.
    eventually(
        "search finds the new account of the handle, only it",
        || async {
            let found = app.search_users(&ann.handle).await;
            let ids: Vec<String> = found["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned())
                .collect();
            (ids == [new_id.clone()]).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_deletion_needs_the_password_and_changes_nothing_without_it() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    app.post_id(&ann, "still here").await;
    let before = app.fingerprint().await;

    let res = app
        .delete_me(&ann, Some(json!({"password": "not-the-password"})))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = app.delete_me(&ann, Some(json!({}))).await;
    assert_eq!(res.status().as_u16() / 100, 4);
    assert_ne!(res.status(), StatusCode::NO_CONTENT);
    let res = app.delete_me(&ann, None).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let res = app
        .delete_me(&ann, Some(json!({"password": ann.password, "also": 1})))
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .send(
            Method::DELETE,
            "/api/v1/auth/me",
            None,
            Some(json!({"password": ann.password})),
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    assert_eq!(
        app.fingerprint().await,
        before,
        "a refused deletion changes nothing"
    );
    assert_eq!(
        app.get(&format!("/api/v1/users/{}", ann.id), None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&ann.access)).await.status(),
        StatusCode::OK
    );
    // Wrong passwords count like failed logins: the account's limit refuses the next.
    for _ in 0..20 {
        let res = app
            .delete_me(&ann, Some(json!({"password": "guess-guess"})))
            .await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            return;
        }
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    panic!("twenty wrong passwords and no 429");
}
