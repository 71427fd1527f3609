//! SearchService: posts by every word and hashtag, users by prefix; edits and deletes
//! follow.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn post_search_needs_every_word_ignoring_case_newest_first() {
    let app = spawn_app().await;
    let ola = app.signup("ola").await;
    let p1 = app
        .post_id(&ola, "Rust makes systems programming fun")
        .await;
    let p2 = app.post_id(&ola, "I am learning RUST today").await;
    let p3 = app.post_id(&ola, "Go is fun too").await;
    app.search_becomes("rust", &[p2.clone(), p1.clone()]).await;
    app.search_becomes("RUST fun", std::slice::from_ref(&p1))
        .await;
    app.search_becomes("fun", &[p3, p1]).await;
    app.search_becomes("rust python", &[]).await;
    let hit = app.search_posts("learning").await;
    assert_eq!(
        hit["items"][0]["author"]["handle"], "ola",
        "results are full posts"
    );
    assert_eq!(ids(&hit), [p2]);
}

#[tokio::test]
async fn hashtags_match_the_hashtag() {
    let app = spawn_app().await;
    let pia = app.signup("pia").await;
    let tagged = app.post_id(&pia, "shipping it #RustLang!").await;
    let other = app.post_id(&pia, "#python is nice").await;
    app.search_becomes("#rustlang", std::slice::from_ref(&tagged))
        .await;
    app.search_becomes("#Python", std::slice::from_ref(&other))
        .await;
    // A plain word is not a hashtag.
    let plain = app.post_id(&pia, "nothing about python here").await;
    app.search_becomes("python", &[plain, other.clone()]).await;
    app.search_becomes("#python", &[other]).await;
}

#[tokio::test]
async fn search_follows_edits_and_deletes() {
    let app = spawn_app().await;
    let quinn = app.signup("quinn").await;
    let id = app.post_id(&quinn, "original wording").await;
    app.search_becomes("original", std::slice::from_ref(&id))
        .await;
    assert_eq!(
        app.edit(&quinn, &id, "revised wording").await.status(),
        StatusCode::OK
    );
    app.search_becomes("revised", std::slice::from_ref(&id))
        .await;
    app.search_becomes("original", &[]).await;
    assert_eq!(
        app.delete(&quinn, &id).await.status(),
        StatusCode::NO_CONTENT
    );
    app.search_becomes("wording", &[]).await;
}

#[tokio::test]
async fn post_search_paginates() {
    let app = spawn_app().await;
    let ray = app.signup("ray").await;
    let mut posted = Vec::new();
    for i in 0..7 {
        posted.push(app.post_id(&ray, &format!("paging test {i}")).await);
    }
    posted.reverse();
    app.search_becomes("paging", &posted).await;
    let seen = app
        .walk("/api/v1/search/posts?q=paging", None, 3, || async {
            app.post_id(&ray, "paging arrives meanwhile").await;
        })
        .await;
    assert_eq!(seen, posted);
}

#[tokio::test]
async fn user_search_is_a_prefix_match_on_handle_or_display_name() {
    let app = spawn_app().await;
    let sam = app
        .signup_raw(
            serde_json::json!({"handle": "samwise", "email": "s@example.com",
            "password": "long enough", "display_name": "Samwise Gamgee"}),
        )
        .await;
    let sam = body(sam).await["user"]["id"].as_str().unwrap().to_owned();
    let ted = app
        .signup_raw(
            serde_json::json!({"handle": "tedx", "email": "t@example.com",
            "password": "long enough", "display_name": "Gamma Ray"}),
        )
        .await;
    let ted = body(ted).await["user"]["id"].as_str().unwrap().to_owned();
    let check = |q: &'static str, expected: Vec<String>| {
        let app = &app;
        async move {
            eventually(&format!("users matching {q:?}"), || async {
                (ids(&app.search_users(q).await) == expected).then_some(())
            })
            .await
        }
    };
    check("sam", vec![sam.clone()]).await;
    check("SAMW", vec![sam.clone()]).await;
    check("gam", vec![ted.clone(), sam.clone()]).await;
    check("samwise gam", vec![sam.clone()]).await;
    check("ted", vec![ted.clone()]).await;
    check("zed", vec![]).await;
    check("amwise", vec![]).await;
    let hit = app.search_users("ted").await;
    assert_eq!(hit["items"][0]["display_name"], "Gamma Ray");
}

#[tokio::test]
async fn search_needs_a_query() {
    let app = spawn_app().await;
    for path in ["/api/v1/search/posts", "/api/v1/search/users"] {
        assert_problem(app.get(path, None).await, StatusCode::BAD_REQUEST).await;
        assert_problem(
            app.get(&format!("{path}?q="), None).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        let long = "a".repeat(300);
        assert_problem(
            app.get(&format!("{path}?q={long}"), None).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        let nothing = app.get_json(&format!("{path}?q=%21%21"), None).await;
        assert!(ids(&nothing).is_empty());
    }
}
