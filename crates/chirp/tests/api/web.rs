//! The web client's server side: the page paths answer the shell, the assets are
//! embedded and validated, every answer carries the Content-Security-Policy, and the
//! browser session keeps its refresh token in an HttpOnly cookie that only Chirp's own
//! pages can use. (The pages themselves are tested in a browser: scripts/web-test.py.)

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, body, spawn_app, TestApp};

fn header<'r>(res: &'r reqwest::Response, name: &str) -> &'r str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The `chirp_refresh` value a `Set-Cookie` of `res` stores ("" when it deletes it).
fn set_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("chirp_refresh="))
        .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
}

/// A session request as the pages send it: the CSRF header, and the cookie if any.
async fn session(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    json: Option<Value>,
) -> reqwest::Response {
    let mut req = app
        .http
        .request(method, app.url(path))
        .header("x-chirp-csrf", "1");
    if let Some(c) = cookie {
        req = req.header("cookie", format!("other=1; chirp_refresh={c}"));
    }
    if let Some(j) = json {
        req = req.json(&j);
    }
    req.send().await.unwrap()
}

fn signup_form(app: &TestApp, stem: &str) -> Value {
    let handle = app.word(stem);
    json!({"handle": handle, "email": format!("{handle}@example.com"), "password": "a long enough password"})
}

#[tokio::test]
async fn every_page_path_answers_the_shell_under_a_strict_policy() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/login",
        "/signup",
        "/notifications",
        "/search?q=x",
        "/settings",
        "/posts/123",
        "/@alice",
        "/@alice/followers",
        "/@alice/following",
        "/@alice/likes",
    ] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(
            header(&res, "content-type").starts_with("text/html"),
            "{path}"
        );
        let csp = header(&res, "content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff");
        let html = res.text().await.unwrap();
        assert!(html.contains(r#"<script type="module" src="/assets/js/main.js">"#));
        // No inline script or style: the policy would refuse it.
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "{path}"
        );
    }
    for path in [
        "/alice",
        "/@alice/nope",
        "/@al-ice",
        "/posts",
        "/assets/nope.js",
    ] {
        assert_problem(app.get(path, None).await, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn assets_are_served_with_their_types_and_validators() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/assets/style.css", "text/css"),
        ("/assets/js/main.js", "text/javascript"),
        ("/assets/js/pages/home.js", "text/javascript"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(header(&res, "content-type").starts_with(kind), "{path}");
        let tag = header(&res, "etag").to_owned();
        assert!(tag.starts_with('"'), "{path}: {tag}");
        assert!(!res.bytes().await.unwrap().is_empty());
        let again = app
            .http
            .get(app.url(path))
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
}

#[tokio::test]
async fn a_browser_session_keeps_its_refresh_token_in_an_http_only_cookie() {
    let app = spawn_app().await;
    let form = signup_form(&app, "webby");
    let res = session(&app, Method::POST, "/web/signup", None, Some(form.clone())).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(header(&res, "cache-control"), "no-store");
    let raw = header(&res, "set-cookie").to_owned();
    for part in ["HttpOnly", "SameSite=Lax", "Path=/web/session", "Max-Age="] {
        assert!(raw.contains(part), "{raw} lacks {part}");
    }
    // Over plain HTTP (no proxy saying otherwise), not Secure: the browser would drop it.
    assert!(!raw.contains("Secure"), "{raw}");
    let first = set_cookie(&res).unwrap();
    let s = body(res).await;
    assert!(
        s.get("refresh_token").is_none(),
        "the page never sees it: {s}"
    );
    assert_eq!(s["user"]["handle"], form["handle"]);
    let me = app
        .get_json("/api/v1/auth/me", s["access_token"].as_str())
        .await;
    assert_eq!(me["id"], s["user"]["id"]);

    // Refreshing rotates the cookie and gives a working access token.
    let res = session(
        &app,
        Method::POST,
        "/web/session/refresh",
        Some(&first),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let second = set_cookie(&res).unwrap();
    assert_ne!(first, second);
    let s = body(res).await;
    app.get_json("/api/v1/auth/me", s["access_token"].as_str())
        .await;

    // Logging in starts a session of its own.
    let login = json!({"login": form["handle"], "password": form["password"]});
    let res = session(&app, Method::POST, "/web/session", None, Some(login)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let other = set_cookie(&res).unwrap();

    // Logging out ends the session on the server and deletes the cookie.
    let res = session(&app, Method::DELETE, "/web/session", Some(&second), None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(set_cookie(&res).as_deref(), Some(""));
    assert!(header(&res, "set-cookie").contains("Max-Age=0"));
    let res = session(
        &app,
        Method::POST,
        "/web/session/refresh",
        Some(&second),
        None,
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_problem(app.refresh(&second).await, StatusCode::UNAUTHORIZED).await;
    // The other session goes on.
    let res = session(
        &app,
        Method::POST,
        "/web/session/refresh",
        Some(&other),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    // No cookie: not signed in; a refused one is deleted.
    let res = session(&app, Method::POST, "/web/session/refresh", None, None).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = session(
        &app,
        Method::POST,
        "/web/session/refresh",
        Some("nope"),
        None,
    )
    .await;
    assert_eq!(set_cookie(&res).as_deref(), Some(""));
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn authservice_refusals_reach_the_page_as_it_gave_them() {
    let app = spawn_app().await;
    let form = signup_form(&app, "taken");
    let res = session(&app, Method::POST, "/web/signup", None, Some(form.clone())).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut same_handle = form.clone();
    same_handle["email"] = json!(format!("other.{}", form["email"].as_str().unwrap()));
    let res = session(&app, Method::POST, "/web/signup", None, Some(same_handle)).await;
    assert!(set_cookie(&res).is_none());
    let doc = assert_problem(res, StatusCode::CONFLICT).await;
    assert_eq!(doc["detail"], "that handle is taken");
    let mut short = signup_form(&app, "short");
    short["password"] = json!("short");
    let res = session(&app, Method::POST, "/web/signup", None, Some(short)).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let wrong = json!({"login": form["handle"], "password": "not the password"});
    let res = session(&app, Method::POST, "/web/session", None, Some(wrong)).await;
    assert!(set_cookie(&res).is_none());
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = session(
        &app,
        Method::POST,
        "/web/session",
        None,
        Some(json!({"login": 1})),
    )
    .await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn session_requests_not_from_chirps_pages_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let form = signup_form(&app, "forged");
    // Another site's form: no custom header.
    let res = app
        .http
        .post(app.url("/web/signup"))
        .json(&form)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN).await;
    // Another site's script that got the header past a (refused) preflight somehow, or an
    // old browser: its own word that it is another site.
    let res = app
        .http
        .post(app.url("/web/signup"))
        .header("x-chirp-csrf", "1")
        .header("sec-fetch-site", "cross-site")
        .json(&form)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN).await;
    // Nothing was created: the handle is free.
    let handle = form["handle"].as_str().unwrap();
    let res = app
        .get(&format!("/api/v1/users?handle={handle}"), None)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
    let res = session(&app, Method::POST, "/web/signup", None, Some(form)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let cookie = set_cookie(&res).unwrap();
    // A forged sign-out ends nothing.
    let res = app
        .http
        .delete(app.url("/web/session"))
        .header("cookie", format!("chirp_refresh={cookie}"))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN).await;
    let res = session(
        &app,
        Method::POST,
        "/web/session/refresh",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// Tests with a setting of their own, or a role of their own: in process only.
mod inside {
    use super::*;
    use crate::helpers::spawn_app_with;

    #[tokio::test]
    async fn behind_a_proxy_that_says_https_the_cookie_is_secure() {
        let app = spawn_app_with(|s| s.trust_forwarded_for = true).await;
        let res = app
            .http
            .post(app.url("/web/signup"))
            .header("x-chirp-csrf", "1")
            .header("x-forwarded-proto", "https")
            .json(&signup_form(&app, "secure"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert!(header(&res, "set-cookie").contains("; Secure"));
    }
}
