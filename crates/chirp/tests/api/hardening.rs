//! What an outside attack found, each shown fixed through the API: throttles that hold
//! under concurrency and count per account, token responses that no cache keeps, the
//! rate limits and their headers, the security headers, text that cannot hide what it
//! says. The tests that need settings of their own, a raw socket, a look at the data
//! directory or a process of their own are in `mod inside` (not run against the stack).

use std::collections::BTreeMap;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// How many answers had each status.
fn tally(statuses: impl IntoIterator<Item = StatusCode>) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for s in statuses {
        *counts.entry(s.as_u16()).or_default() += 1;
    }
    counts
}

/// 25 wrong passwords for one account sent at once: the account's limit (10) holds, since
/// each attempt is counted before its password is checked.
#[tokio::test]
async fn wrong_passwords_sent_at_once_never_pass_the_account_limit() {
    let app = spawn_app().await;
    let victim = app.signup("victim").await;
    let passwords: Vec<String> = (0..25).map(|i| format!("guess-{i}")).collect();
    let guesses = passwords.iter().map(|p| app.login(&victim.handle, p));
    let statuses = join_all(guesses).await.into_iter().map(|r| r.status());
    assert_eq!(tally(statuses), BTreeMap::from([(401, 10), (429, 15)]));
    // The right password is refused too until the window has passed.
    let res = app.login(&victim.handle, &victim.password).await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
}

/// The account limit is the identity's, whichever of its handle or email is typed.
#[tokio::test]
async fn the_account_limit_counts_handle_and_email_together() {
    let app = spawn_app().await;
    let victim = app.signup("victim").await;
    for i in 0..10 {
        let res = app.login(&victim.handle, &format!("guess-{i}")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let by_email = app.login(&victim.email, "guess-by-email").await;
    assert_problem(by_email, StatusCode::TOO_MANY_REQUESTS).await;
    let right = app
        .login(&victim.email.to_uppercase(), &victim.password)
        .await;
    assert_problem(right, StatusCode::TOO_MANY_REQUESTS).await;
}

/// An account that does not exist costs a guesser the same ten tries, and a login of any
/// length is an ordinary 401.
#[tokio::test]
async fn unknown_logins_are_limited_like_accounts() {
    let app = spawn_app().await;
    let nobody = app.word("nobody");
    for i in 0..10 {
        let res = app.login(&nobody, &format!("guess-{i}")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.login(&nobody.to_uppercase(), "one more").await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
    let long = format!("{nobody}{}", "x".repeat(60_000));
    assert_eq!(
        app.login(&long, "whatever").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Responses that carry tokens are never stored by a cache.
#[tokio::test]
async fn token_responses_are_not_stored() {
    let app = spawn_app().await;
    let tag = app.tag.clone();
    let signup = app
        .signup_raw(json!({
            "handle": format!("cache_{tag}"),
            "email": format!("cache_{tag}@example.com"),
            "password": "long enough password",
        }))
        .await;
    assert_eq!(signup.status(), StatusCode::CREATED);
    assert_eq!(signup.headers()["cache-control"], "no-store");
    let tokens = body(signup).await;
    let login = app
        .login(&format!("cache_{tag}"), "long enough password")
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(login.headers()["cache-control"], "no-store");
    let refresh = app.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refresh.status(), StatusCode::OK);
    assert_eq!(refresh.headers()["cache-control"], "no-store");
}

/// Every answer says not to sniff its type nor send a referrer on; what is not JSON may
/// load nothing and be framed by nobody.
#[tokio::test]
async fn every_answer_has_the_security_headers() {
    let app = spawn_app().await;
    let (ann, bob) = (app.signup("ann").await, app.signup("bob").await);
    let follow = app.follow_raw(&ann.access, &bob.id).await;
    assert_eq!(follow.status(), StatusCode::NO_CONTENT);
    let user = app.get(&format!("/api/v1/users/{}", ann.id), None).await;
    let unknown = app.get("/no/such/route", None).await;
    let health = app.get("/healthz", None).await;
    for res in [&follow, &user, &unknown, &health] {
        assert_eq!(
            res.headers()["x-content-type-options"],
            "nosniff",
            "{res:?}"
        );
        assert_eq!(res.headers()["referrer-policy"], "no-referrer", "{res:?}");
    }
    assert!(!user.headers().contains_key("content-security-policy"));
    let csp = follow.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

/// Display names and posts cannot carry the characters that make text show other than it
/// reads; the joiners emoji need are kept.
#[tokio::test]
async fn bidirectional_overrides_are_refused_and_joiners_kept() {
    let app = spawn_app().await;
    let tag = app.tag.clone();
    let before = app.fingerprint().await;
    for (i, name) in ["Ada\u{202E}exe.gnp", "A\u{200B}da", "\u{2067}Ada\u{2069}"]
        .iter()
        .enumerate()
    {
        let res = app
            .signup_raw(json!({
                "handle": format!("bidi{i}_{tag}"),
                "email": format!("bidi{i}_{tag}@example.com"),
                "password": "long enough password",
                "display_name": name,
            }))
            .await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let writer = app.signup("writer").await;
    let mid = app.fingerprint().await;
    for text in ["see https://x.example/\u{202E}gpj.exe", "\u{2066}x\u{2069}"] {
        let res = app.post_raw(&writer.access, json!({"text": text})).await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    assert_eq!(
        app.fingerprint().await,
        mid,
        "refused posts changed something"
    );
    assert_ne!(before, mid, "the signup of writer is seen");
    let family = "👩\u{200D}👩\u{200D}👧";
    let post = app.post(&writer, family).await;
    assert_eq!(post["text"], family);
    let res = app
        .signup_raw(json!({
            "handle": format!("joined_{tag}"),
            "email": format!("joined_{tag}@example.com"),
            "password": "long enough password",
            "display_name": format!("Ada {family}"),
        }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

mod inside;
