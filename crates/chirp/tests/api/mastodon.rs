//! The Mastodon API's edges, over raw HTTP: what a client library never sends but a
//! server must answer right (OAuth's refusals, PKCE, the sign-in page's checks, scopes,
//! Mastodon's error shape everywhere, `Link` pagination). The library's own walk through
//! every route is `scripts/mastodon-test.py` (Mastodon.py).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A client of the Mastodon origin, with one registered app.
struct Masto {
    base: String,
    http: reqwest::Client,
    client_id: String,
    client_secret: String,
}

async fn json_of(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = res.text().await.unwrap();
    assert!(
        ct.starts_with("application/json"),
        "{status}: content-type {ct}: {text}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

/// Asserts `res` is Mastodon's error: `status`, JSON `{"error": ...}`, no problem document.
async fn mastodon_error(res: Response, status: StatusCode) -> String {
    let (got, body) = json_of(res).await;
    assert_eq!(got, status, "{body}");
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error text: {body}"))
        .to_owned()
}

impl Masto {
    async fn new(app: &TestApp, scopes: &str) -> Masto {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let res = http
            .post(format!("{}/api/v1/apps", app.mastodon))
            .form(&[
                ("client_name", "edge tests"),
                ("redirect_uris", REDIRECT),
                ("scopes", scopes),
            ])
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(res).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Masto {
            base: app.mastodon.clone(),
            http,
            client_id: body["client_id"].as_str().unwrap().to_owned(),
            client_secret: body["client_secret"].as_str().unwrap().to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Submits the sign-in form as a browser would: the answer, not followed.
    async fn sign_in(&self, user: &TestUser, password: &str, extra: &[(&str, &str)]) -> Response {
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &self.client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "read write follow"),
            ("login", &user.handle),
            ("password", password),
        ];
        form.extend_from_slice(extra);
        self.http
            .post(self.url("/oauth/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// The code a successful sign-in sends back, and the rest of its redirect's query.
    async fn code(&self, user: &TestUser, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let res = self.sign_in(user, &user.password, extra).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with(&format!("{REDIRECT}?")),
            "back to the app's redirect: {location}"
        );
        reqwest::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let res = self
            .http
            .post(self.url("/oauth/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        json_of(res).await
    }

    /// Trades `code` at the token endpoint.
    async fn trade(
        &self,
        code: &str,
        redirect: &str,
        secret: Option<&str>,
        verifier: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", self.client_id.as_str()),
        ];
        if let Some(s) = secret {
            form.push(("client_secret", s));
        }
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token(&form).await
    }

    /// Revokes `token` as its app.
    async fn revoke(&self, token: &str) -> (StatusCode, Value) {
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.as_str()),
            ("token", token),
        ];
        let res = self.send(Method::POST, "/oauth/revoke", None, &form).await;
        json_of(res).await
    }

    /// A user's token by the authorization-code flow (no PKCE).
    async fn user_token(&self, user: &TestUser) -> String {
        let code = self.code(user, &[]).await["code"].clone();
        let (status, body) = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        form: &[(&str, &str)],
    ) -> Response {
        let mut req = self.http.request(method, self.url(path)).form(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }
}

/// The sign-in page checks the app and its redirect before asking for anything: an
/// address the app did not register gets a page saying so, never a redirect there; the
/// request's values come back escaped in the form.
#[tokio::test]
async fn the_sign_in_page_checks_the_app_and_escapes_what_it_carries() {
    let app = spawn_app().await;
    let m = Masto::new(&app, "read write follow").await;
    let page = |query: Vec<(&str, &str)>| {
        let req = m.http.get(m.url("/oauth/authorize")).query(&query);
        async move { req.send().await.unwrap() }
    };
    let evil = [
        ("response_type", "code"),
        ("client_id", m.client_id.as_str()),
        ("redirect_uri", "https://evil.example/steal"),
    ];
    let res = page(evil.to_vec()).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("redirect_uri"));
    let res = page(vec![("client_id", "nobody"), ("redirect_uri", REDIRECT)]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = page(vec![
        ("client_id", &m.client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "read admin:write"),
    ])
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "an unknown scope");

    let res = page(vec![
        ("response_type", "code"),
        ("client_id", &m.client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "read"),
        ("state", "\"><script>alert(1)</script>"),
    ])
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(headers["x-frame-options"], "DENY");
    // Browsers hold the redirect after the form to `form-action`: the app's origin is in it.
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("form-action 'self' http://127.0.0.1:9;"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let html = res.text().await.unwrap();
    assert!(html.contains("edge tests"), "the app's name");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
}

/// A wrong password shows the form again (401) and issues nothing; the right one sends
/// the browser back to the app with a code and the app's `state`; a code is traded once,
/// by its app, for the address it was issued to.
#[tokio::test]
async fn a_code_is_issued_for_the_right_password_and_traded_once() {
    let app = spawn_app().await;
    let m = Masto::new(&app, "read write follow").await;
    let ann = app.signup("ann").await;
    let res = m.sign_in(&ann, "wrong password!", &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("location").is_none());
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Wrong handle, email or password"));

    let back = m.code(&ann, &[("state", "s t&8")]).await;
    assert_eq!(back["state"], "s t&8");
    let code = back["code"].clone();
    let secret = m.client_secret.clone();
    let (status, body) = m.trade(&code, REDIRECT, Some("not the secret"), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body) = m.trade(&code, REDIRECT, Some(&secret), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "follow read write");
    assert!(body["refresh_token"].is_string(), "{body}");
    let (status, body) = m.trade(&code, REDIRECT, Some(&secret), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "used"
    );

    // Issued to one address, traded for another: refused (and spent).
    let code = m.code(&ann, &[]).await["code"].clone();
    let (status, body) = m
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "urn:ietf:wg:oauth:2.0:oob"),
            ("client_id", &m.client_id),
            ("client_secret", &m.client_secret),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = m.token(&[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
}

/// PKCE (S256): the verifier must match the challenge the code was asked for with; with
/// it, an app may leave its secret out.
#[tokio::test]
async fn pkce_binds_the_code_to_its_verifier() {
    let app = spawn_app().await;
    let m = Masto::new(&app, "read").await;
    let ann = app.signup("ann").await;
    let verifier = "a-verifier-of-forty-three-characters-or-more-0123";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("scope", "read"),
    ];
    let code = m.code(&ann, &pkce).await["code"].clone();
    let (status, body) = m
        .trade(
            &code,
            REDIRECT,
            None,
            Some("another-verifier-of-forty-three-characters-000"),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let code = m.code(&ann, &pkce).await["code"].clone();
    let (status, body) = m.trade(&code, REDIRECT, None, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let code = m.code(&ann, &pkce).await["code"].clone();
    let (status, body) = m.trade(&code, REDIRECT, None, Some(verifier)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "read");
    // Without PKCE, no secret is no client.
    let code = m.code(&ann, &[("scope", "read")]).await["code"].clone();
    let (status, body) = m.trade(&code, REDIRECT, None, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}

/// Scopes per route, a refresh that retires the old token, and revocation: each refusal
/// in Mastodon's shape.
#[tokio::test]
async fn scopes_refresh_and_revocation_hold() {
    let app = spawn_app().await;
    let m = Masto::new(&app, "read write follow").await;
    let ann = app.signup("ann").await;
    let code = m.code(&ann, &[("scope", "read")]).await["code"].clone();
    let (_, body) = m
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &m.client_id),
            ("client_secret", &m.client_secret),
        ])
        .await;
    let read_only = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    let res = m
        .send(
            Method::POST,
            "/api/v1/statuses",
            Some(&read_only),
            &[("status", "hi")],
        )
        .await;
    let error = mastodon_error(res, StatusCode::FORBIDDEN).await;
    assert_eq!(error, "This action is outside the authorized scopes");
    // The live stream of notifications needs `read:notifications`, as the list does.
    let code = m.code(&ann, &[("scope", "read:statuses")]).await["code"].clone();
    let (_, body) = m.trade(&code, REDIRECT, Some(&m.client_secret), None).await;
    let statuses_only = body["access_token"].as_str().unwrap().to_owned();
    for path in [
        "/api/v1/notifications",
        "/api/v1/streaming/user/notification",
    ] {
        let res = m.send(Method::GET, path, Some(&statuses_only), &[]).await;
        let error = mastodon_error(res, StatusCode::FORBIDDEN).await;
        assert_eq!(
            error, "This action is outside the authorized scopes",
            "{path}"
        );
    }
    let res = m
        .send(
            Method::GET,
            "/api/v1/accounts/verify_credentials",
            Some(&read_only),
            &[],
        )
        .await;
    let (status, me) = json_of(res).await;
    assert_eq!(
        (status, me["username"].as_str()),
        (StatusCode::OK, Some(ann.handle.as_str()))
    );
    assert_eq!(
        app.get_json(&format!("/api/v1/users/{}/posts", ann.id), None)
            .await["items"],
        json!([])
    );

    let (status, body) = m
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &m.client_id),
            ("client_secret", &m.client_secret),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "read", "the old token's scopes");
    let renewed = body["access_token"].as_str().unwrap().to_owned();
    let res = m
        .send(
            Method::GET,
            "/api/v1/accounts/verify_credentials",
            Some(&read_only),
            &[],
        )
        .await;
    mastodon_error(res, StatusCode::UNAUTHORIZED).await;
    let res = m
        .send(
            Method::GET,
            "/api/v1/accounts/verify_credentials",
            Some(&renewed),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    assert_eq!(m.revoke(&renewed).await, (StatusCode::OK, json!({})));
    let res = m
        .send(
            Method::GET,
            "/api/v1/accounts/verify_credentials",
            Some(&renewed),
            &[],
        )
        .await;
    mastodon_error(res, StatusCode::UNAUTHORIZED).await;
    let res = m
        .send(Method::GET, "/api/v1/timelines/home", None, &[])
        .await;
    mastodon_error(res, StatusCode::UNAUTHORIZED).await;
}

/// Bad input is Mastodon's 4xx in Mastodon's shape and changes nothing; so are unknown
/// paths and what the server's layers refuse.
#[tokio::test]
async fn refusals_are_mastodons_errors_and_change_nothing() {
    let app = spawn_app().await;
    let m = Masto::new(&app, "read write follow").await;
    let ann = app.signup("ann").await;
    let token = m.user_token(&ann).await;
    let t = Some(token.as_str());
    let long = "x".repeat(281);
    for (form, what) in [
        (vec![("status", long.as_str())], "281 characters"),
        (vec![("status", "  ")], "only spaces"),
        (
            vec![("status", "hi"), ("visibility", "private")],
            "followers only",
        ),
        (vec![("status", "hi"), ("media_ids[]", "1")], "media"),
        (
            vec![("status", "hi"), ("spoiler_text", "cw")],
            "a content warning",
        ),
        (vec![("status", "hi"), ("poll[options][]", "a")], "a poll"),
    ] {
        let res = m.send(Method::POST, "/api/v1/statuses", t, &form).await;
        mastodon_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        let posts = app
            .get_json(&format!("/api/v1/users/{}/posts", ann.id), None)
            .await;
        assert_eq!(posts["items"], json!([]), "{what} posted nothing");
    }
    for path in [
        "/api/v1/statuses/123",
        "/api/v1/statuses/abc",
        "/api/v1/accounts/42",
        "/nowhere",
    ] {
        let res = m.send(Method::GET, path, t, &[]).await;
        assert_eq!(
            mastodon_error(res, StatusCode::NOT_FOUND).await,
            "Record not found",
            "{path}"
        );
    }
    let res = m.send(Method::DELETE, "/api/v1/apps", None, &[]).await;
    mastodon_error(res, StatusCode::METHOD_NOT_ALLOWED).await;
    // A trailing slash is the same path (308, method kept), and never a way off-site.
    let res = m
        .send(Method::GET, "/api/v1/custom_emojis/?x=1", None, &[])
        .await;
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.headers()["location"], "/api/v1/custom_emojis?x=1");
    for path in [
        "/%5Cevil.example/",
        "//evil.example/",
        "/api//evil.example/",
    ] {
        let res = m.send(Method::GET, path, None, &[]).await;
        assert!(res.headers().get("location").is_none(), "{path}");
        mastodon_error(res, StatusCode::NOT_FOUND).await;
    }
    let big = "y".repeat(70_000);
    let res = m
        .send(
            Method::POST,
            "/api/v1/statuses",
            t,
            &[("status", big.as_str())],
        )
        .await;
    mastodon_error(res, StatusCode::PAYLOAD_TOO_LARGE).await;
    let res = m
        .http
        .post(m.url("/api/v1/apps"))
        .form(&[("client_name", "x"), ("redirect_uris", "not a uri")])
        .send()
        .await
        .unwrap();
    mastodon_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
}

/// Pages are plain arrays with a `Link` header; `max_id` walks down, `since_id` gives the
/// newest above an id, `min_id` the ones just above it.
#[tokio::test]
async fn pages_link_to_the_next_and_previous() {
    let app = spawn_app().await;
    let m = Masto::new(&app, "read write follow").await;
    let ann = app.signup("ann").await;
    let token = m.user_token(&ann).await;
    let mut ids: Vec<u64> = Vec::new();
    for i in 0..7 {
        let res = m
            .send(
                Method::POST,
                "/api/v1/statuses",
                Some(&token),
                &[("status", &format!("post {i}"))],
            )
            .await;
        let (status, body) = json_of(res).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(body["id"].as_str().unwrap().parse().unwrap());
    }
    ids.reverse(); // newest first
    let path = format!("/api/v1/accounts/{}/statuses", ann.id);
    let page = |query: String| {
        let url = m.url(&format!("{path}?{query}"));
        let req = m.http.get(url).bearer_auth(&token);
        async move {
            let res = req.send().await.unwrap();
            let link = res
                .headers()
                .get("link")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let (_, body) = json_of(res).await;
            let got: Vec<u64> = body
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().parse().unwrap())
                .collect();
            (got, link)
        }
    };
    let (first, link) = page("limit=3".into()).await;
    assert_eq!(first, ids[..3]);
    assert!(
        link.contains(&format!("max_id={}", ids[2])) && link.contains("rel=\"next\""),
        "{link}"
    );
    assert!(
        link.contains(&format!("min_id={}", ids[0])) && link.contains("rel=\"prev\""),
        "{link}"
    );
    assert!(
        link.starts_with(&format!("<{}{path}?", m.base)),
        "absolute: {link}"
    );
    let (second, _) = page(format!("limit=3&max_id={}", ids[2])).await;
    assert_eq!(second, ids[3..6]);
    let (since, _) = page(format!("limit=2&since_id={}", ids[5])).await;
    assert_eq!(since, ids[..2], "the newest above since_id");
    let (min, _) = page(format!("limit=2&min_id={}", ids[5])).await;
    assert_eq!(min, ids[3..5], "the ones just above min_id");
    let (none, _) = page(format!("since_id={}", ids[0])).await;
    assert!(none.is_empty());
}

/// A status posted as JSON, form-encoded and multipart, as Mastodon takes them; a file in
/// a multipart body is refused (Chirp takes no media), and nothing is posted for it.
#[tokio::test]
async fn bodies_come_as_json_forms_or_multipart() {
    let app = spawn_app().await;
    let m = Masto::new(&app, "read write follow").await;
    let ann = app.signup("ann").await;
    let token = m.user_token(&ann).await;
    let token = token.as_str();
    let post = |req: reqwest::RequestBuilder| async move {
        let res = req.bearer_auth(token).send().await.unwrap();
        json_of(res).await
    };
    let url = m.url("/api/v1/statuses");
    let (status, body) = post(m.http.post(&url).json(&json!({"status": "as JSON"}))).await;
    assert_eq!(
        (status, body["content"].as_str()),
        (StatusCode::OK, Some("<p>as JSON</p>"))
    );
    let (status, body) = post(m.http.post(&url).form(&[("status", "as a form & more")])).await;
    assert_eq!(
        (status, body["content"].as_str()),
        (StatusCode::OK, Some("<p>as a form &amp; more</p>"))
    );
    let multipart = |parts: &[(&str, Option<&str>, &str)]| {
        let mut body = String::new();
        for (name, file, value) in parts {
            body.push_str("--XyZ\r\n");
            match file {
                Some(f) => body.push_str(&format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: image/png\r\n\r\n"
                )),
                None => body.push_str(&format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n")),
            }
            body.push_str(value);
            body.push_str("\r\n");
        }
        body.push_str("--XyZ--\r\n");
        m.http
            .post(&url)
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(body)
    };
    let (status, body) = post(multipart(&[
        ("status", None, "as multipart"),
        ("visibility", None, "public"),
    ]))
    .await;
    assert_eq!(
        (status, body["content"].as_str()),
        (StatusCode::OK, Some("<p>as multipart</p>"))
    );
    let (status, body) = post(multipart(&[
        ("status", None, "with a picture"),
        ("media", Some("a.png"), "PNG"),
    ]))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let posts = app
        .get_json(&format!("/api/v1/users/{}/posts", ann.id), None)
        .await;
    let texts: Vec<&str> = posts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["as multipart", "as a form & more", "as JSON"]);
}

/// Tests that stop the app: in this process only.
mod inside {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    use super::*;

    /// A WebSocket client as `masto` connects: the token as the protocol (echoed), a
    /// subscribe message, each event as `{"stream", "event", "payload"}` with the Status
    /// as JSON text; a stop closes it with 1001.
    #[tokio::test]
    async fn a_websocket_streams_the_users_events_and_a_stop_closes_it() {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let app = spawn_app().await;
        let m = Masto::new(&app, "read write follow").await;
        let ann = app.signup("ann").await;
        let bob = app.signup("bob").await;
        let token = m.user_token(&ann).await;
        app.follow(&ann, &bob).await;
        let url = m.url("/api/v1/streaming").replacen("http://", "ws://", 1);
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", token.parse().unwrap());
        let (mut ws, res) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(res.headers()["sec-websocket-protocol"], token.as_str());
        ws.send(Message::text(r#"{"type":"subscribe","stream":"user"}"#))
            .await
            .unwrap();
        // Subscribed once Chirp's streams are open (the client cannot tell when): a post
        // made after that arrives. Post until one does, for up to 10 s.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut posted = Vec::new();
        let post = loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no update within 10 s"
            );
            posted.push(app.post_id(&bob, "over the socket").await);
            let wait = tokio::time::sleep(std::time::Duration::from_millis(500));
            tokio::pin!(wait);
            let mut found = None;
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    msg = ws.next() => {
                        let Some(Ok(Message::Text(text))) = msg else { continue };
                        let v: Value = serde_json::from_str(&text).unwrap();
                        if v["event"] != "update" {
                            continue;
                        }
                        let status: Value =
                            serde_json::from_str(v["payload"].as_str().unwrap()).unwrap();
                        let id = status["id"].as_str().unwrap_or_default().to_owned();
                        assert!(posted.contains(&id), "an update of a post made: {status}");
                        assert_eq!(status["content"], "<p>over the socket</p>");
                        found = Some(v);
                        break;
                    }
                }
            }
            if let Some(v) = found {
                break v;
            }
        };
        assert_eq!(post["stream"], json!(["user"]));

        // A token revoked since the socket opened subscribes to nothing more.
        assert_eq!(m.revoke(&token).await.0, StatusCode::OK);
        ws.send(Message::text(
            r#"{"type":"subscribe","stream":"user:notification"}"#,
        ))
        .await
        .unwrap();
        let refused = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                let v: Value = serde_json::from_str(&text).unwrap();
                if v.get("error").is_some() {
                    return v;
                }
            }
            panic!("the socket ended without an answer to the subscribe");
        })
        .await
        .expect("an answer to the subscribe within 5 s");
        assert_eq!(refused["status"], 401, "{refused}");

        app.shutdown().await;
        let close = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while let Some(msg) = ws.next().await {
                if let Ok(Message::Close(frame)) = msg {
                    return frame.map(|f| u16::from(f.code));
                }
            }
            None
        })
        .await
        .expect("closed within the stop");
        assert_eq!(close, Some(1001));
    }
}
