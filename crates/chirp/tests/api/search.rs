//! SearchService: posts by every word and hashtag, users by prefix; edits and deletes
//! follow.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn post_search_needs_every_word_ignoring_case_newest_first() {
    let app = spawn_app().await;
    let ola = app.signup("ola").await;
    // Words of this test's own, so that a shared stack's other posts never match.
    let (rust, fun, go) = (app.word("rust"), app.word("fun"), app.word("go"));
    let p1 = app
        .post_id(&ola, &format!("{rust} makes systems programming {fun}"))
        .await;
    let p2 = app
        .post_id(
            &ola,
            &format!("I am learning {} today", rust.to_uppercase()),
        )
        .await;
    let p3 = app.post_id(&ola, &format!("{go} is {fun} too")).await;
    app.search_becomes(&rust, &[p2.clone(), p1.clone()]).await;
    app.search_becomes(
        &format!("{} {fun}", rust.to_uppercase()),
        std::slice::from_ref(&p1),
    )
    .await;
    app.search_becomes(&fun, &[p3, p1]).await;
    app.search_becomes(&format!("{rust} {}", app.word("python")), &[])
        .await;
    let hit = app
        .search_posts(&format!("learning {}", rust.to_uppercase()))
        .await;
    assert_eq!(
        hit["items"][0]["author"]["handle"],
        ola.handle.as_str(),
        "results are full posts"
    );
    assert_eq!(ids(&hit), [p2]);
}

#[tokio::test]
async fn hashtags_match_the_hashtag() {
    let app = spawn_app().await;
    let pia = app.signup("pia").await;
    let (rustlang, python) = (app.word("RustLang"), app.word("python"));
    let tagged = app
        .post_id(&pia, &format!("shipping it #{rustlang}!"))
        .await;
    let other = app.post_id(&pia, &format!("#{python} is nice")).await;
    app.search_becomes(
        &format!("#{}", rustlang.to_lowercase()),
        std::slice::from_ref(&tagged),
    )
    .await;
    app.search_becomes(
        &format!("#{}", python.to_uppercase()),
        std::slice::from_ref(&other),
    )
    .await;
    // A plain word is not a hashtag.
    let plain = app
        .post_id(&pia, &format!("nothing about {python} here"))
        .await;
    app.search_becomes(&python, &[plain, other.clone()]).await;
    app.search_becomes(&format!("#{python}"), &[other]).await;
}

#[tokio::test]
async fn search_follows_edits_and_deletes() {
    let app = spawn_app().await;
    let quinn = app.signup("quinn").await;
    let (original, revised, wording) = (
        app.word("original"),
        app.word("revised"),
        app.word("wording"),
    );
    let id = app.post_id(&quinn, &format!("{original} {wording}")).await;
    app.search_becomes(&original, std::slice::from_ref(&id))
        .await;
    assert_eq!(
        app.edit(&quinn, &id, &format!("{revised} {wording}"))
            .await
            .status(),
        StatusCode::OK
    );
    app.search_becomes(&revised, std::slice::from_ref(&id))
        .await;
    app.search_becomes(&original, &[]).await;
    assert_eq!(
        app.delete(&quinn, &id).await.status(),
        StatusCode::NO_CONTENT
    );
    app.search_becomes(&wording, &[]).await;
}

#[tokio::test]
async fn post_search_paginates() {
    let app = spawn_app().await;
    let ray = app.signup("ray").await;
    let paging = app.word("paging");
    let mut posted = Vec::new();
    for i in 0..7 {
        posted.push(app.post_id(&ray, &format!("{paging} test {i}")).await);
    }
    posted.reverse();
    app.search_becomes(&paging, &posted).await;
    let seen = app
        .walk(
            &format!("/api/v1/search/posts?q={paging}"),
            None,
            3,
            || async {
                app.post_id(&ray, &format!("{paging} arrives meanwhile"))
                    .await;
            },
        )
        .await;
    assert_eq!(seen, posted);
}

#[tokio::test]
async fn user_search_is_a_prefix_match_on_handle_or_display_name() {
    let app = spawn_app().await;
    // Prefixes of this test's own: `sam…` and `ted…` start handles, `gam…` starts a
    // word of both display names, and `sam…wise gam…` the whole of one.
    let (sam_, gam, ted_) = (app.word("sam"), app.word("gam"), app.word("ted"));
    let signup = |handle: String, display_name: String| {
        let app = &app;
        async move {
            let res = app
                .signup_raw(serde_json::json!({"handle": handle,
                    "email": format!("{handle}@example.com"),
                    "password": "long enough", "display_name": display_name}))
                .await;
            assert_eq!(res.status(), StatusCode::CREATED);
            body(res).await["user"]["id"].as_str().unwrap().to_owned()
        }
    };
    let sam = signup(format!("{sam_}wise"), format!("{sam_}wise {gam}gee")).await;
    let ted = signup(format!("{ted_}x"), format!("{gam}ma Ray")).await;
    let check = |q: String, expected: Vec<String>| {
        let app = &app;
        async move {
            eventually(&format!("users matching {q:?}"), || async {
                (ids(&app.search_users(&q).await) == expected).then_some(())
            })
            .await
        }
    };
    check(sam_.clone(), vec![sam.clone()]).await;
    check(format!("{}W", sam_.to_uppercase()), vec![sam.clone()]).await;
    check(gam.clone(), vec![ted.clone(), sam.clone()]).await;
    check(format!("{sam_}wise {gam}"), vec![sam.clone()]).await;
    check(ted_.clone(), vec![ted.clone()]).await;
    check(app.word("zed"), vec![]).await;
    // Not a prefix: the handle without its first letter.
    check(format!("{}wise", &sam_[1..]), vec![]).await;
    let hit = app.search_users(&ted_).await;
    assert_eq!(hit["items"][0]["display_name"], format!("{gam}ma Ray"));
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
        // What was sent is bounded (256 characters), white space around the words too,
        // as the OpenAPI document says.
        let padded = format!("{}a{}", "%20".repeat(150), "%20".repeat(150));
        assert_problem(
            app.get(&format!("{path}?q={padded}"), None).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        let nothing = app.get_json(&format!("{path}?q=%21%21"), None).await;
        assert!(ids(&nothing).is_empty());
    }
}
