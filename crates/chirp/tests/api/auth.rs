//! AuthService: signup, login, throttling, refresh rotation, logout, me, JWKS, tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn signup_returns_tokens_and_the_user() {
    let app = spawn_app().await;
    let handle = app.word("Ada_");
    let res = app
        .signup_raw(
            json!({"handle": handle, "email": format!("{handle}@example.com"),
                            "password": "analytical engine", "display_name": "Ada Lovelace"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let t = body(res).await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    assert!(t["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(!t["refresh_token"].as_str().unwrap().is_empty());
    let u = &t["user"];
    assert!(
        u["id"].as_str().unwrap().parse::<u64>().is_ok(),
        "ids are strings"
    );
    assert_eq!(u["handle"], handle.as_str());
    assert_eq!(u["display_name"], "Ada Lovelace");
    assert!(u["created_at"].as_str().unwrap().ends_with('Z'));
    for c in ["followers_count", "following_count", "posts_count"] {
        assert_eq!(u[c], 0);
    }
    // Without a display name, the handle is used.
    let bob = app.signup("bob").await;
    assert_eq!(app.user(&bob.id).await["display_name"], bob.handle.as_str());
}

#[tokio::test]
async fn signup_rejects_invalid_input_with_422_and_malformed_with_400() {
    let app = spawn_app().await;
    let before = app.fingerprint().await;
    let ok = json!({"handle": "valid_name", "email": "v@example.com", "password": "long enough"});
    let invalid = [
        ("handle", json!("ab")),
        ("handle", json!("x".repeat(31))),
        ("handle", json!("no spaces")),
        ("handle", json!("émile")),
        ("email", json!("not-an-email")),
        ("email", json!("a@b")),
        ("password", json!("short")),
        ("password", json!("p".repeat(1025))),
        ("display_name", json!("   ")),
        ("display_name", json!("d".repeat(51))),
    ];
    for (field, value) in invalid {
        let mut b = ok.clone();
        b[field] = value.clone();
        let doc = assert_problem(app.signup_raw(b).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            doc["detail"]
                .as_str()
                .unwrap()
                .contains(field.split('_').next().unwrap()),
            "{doc}"
        );
    }
    let malformed = [
        json!({"handle": "valid_name", "email": "v@example.com"}),
        json!({"handle": 42, "email": "v@example.com", "password": "long enough"}),
        json!(["not", "an", "object"]),
    ];
    for b in malformed {
        assert_problem(app.signup_raw(b).await, StatusCode::BAD_REQUEST).await;
    }
    let res = app
        .http
        .post(app.url("/api/v1/auth/signup"))
        .header("content-type", "application/json")
        .body("{\"handle\": ")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.fingerprint().await,
        before,
        "rejected signups changed something"
    );
}

#[tokio::test]
async fn handles_and_emails_are_unique_ignoring_case() {
    let app = spawn_app().await;
    let carol = app.signup("carol").await;
    let before = app.fingerprint().await;
    let taken_handle = json!({"handle": carol.handle.to_uppercase(),
        "email": format!("{}@example.com", app.word("other")), "password": "long enough"});
    let doc = assert_problem(app.signup_raw(taken_handle).await, StatusCode::CONFLICT).await;
    assert!(doc["detail"].as_str().unwrap().contains("handle"));
    let taken_email = json!({"handle": app.word("carol2"),
        "email": carol.email.to_uppercase(), "password": "long enough"});
    let doc = assert_problem(app.signup_raw(taken_email).await, StatusCode::CONFLICT).await;
    assert!(doc["detail"].as_str().unwrap().contains("email"));
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn login_by_handle_or_email_ignoring_case() {
    let app = spawn_app().await;
    let dave = app.signup("dave").await;
    for login in [
        dave.handle.clone(),
        dave.handle.to_uppercase(),
        dave.email.clone(),
        dave.email.to_uppercase(),
    ] {
        let res = app.login(&login, &dave.password).await;
        assert_eq!(res.status(), StatusCode::OK, "login as {login}");
        let t = body(res).await;
        assert_eq!(t["user"]["id"], dave.id.as_str());
        assert_eq!(t["token_type"], "Bearer");
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_401() {
    let app = spawn_app().await;
    let erin = app.signup("erin").await;
    let wrong = assert_problem(
        app.login(&erin.handle, "not the password").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown = assert_problem(
        app.login(&app.word("nobody"), "not the password").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong["detail"], unknown["detail"]);
    assert_eq!(
        app.login(&erin.handle, &erin.password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn repeated_failures_on_one_account_are_throttled() {
    let app = spawn_app().await;
    let frank = app.signup("frank").await;
    for _ in 0..10 {
        assert_eq!(
            app.login(&frank.handle, "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The 11th try is refused before the password is even checked, even the right one.
    let res = app
        .login(&frank.handle.to_uppercase(), &frank.password)
        .await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900, "Retry-After {retry}");
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
    // Other accounts are not affected.
    let grace = app.signup("grace").await;
    assert_eq!(
        app.login(&grace.handle, &grace.password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_success_resets_the_account_counter() {
    let app = spawn_app().await;
    let hal = app.signup("hal").await;
    for _ in 0..9 {
        app.login(&hal.handle, "wrong password").await;
    }
    assert_eq!(
        app.login(&hal.handle, &hal.password).await.status(),
        StatusCode::OK
    );
    for _ in 0..9 {
        assert_eq!(
            app.login(&hal.handle, "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login(&hal.handle, &hal.password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let app = spawn_app().await;
    let judy = app.signup("judy").await;
    let res = app.refresh(&judy.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let second = body(res).await;
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, judy.refresh);
    assert_eq!(second["user"]["id"], judy.id.as_str());
    let me = app
        .get("/api/v1/auth/me", second["access_token"].as_str())
        .await;
    assert_eq!(me.status(), StatusCode::OK);

    // The old token is spent: presenting it again is a replay...
    assert_problem(app.refresh(&judy.refresh).await, StatusCode::UNAUTHORIZED).await;
    // ...which revokes the whole session, including the token that replaced it.
    assert_problem(app.refresh(&second_refresh).await, StatusCode::UNAUTHORIZED).await;

    // Another session of the same user is unaffected.
    let other = body(app.login(&judy.handle, &judy.password).await).await;
    let r = app.refresh(other["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_with_garbage_is_401_and_missing_field_is_400() {
    let app = spawn_app().await;
    assert_problem(app.refresh("not-a-token").await, StatusCode::UNAUTHORIZED).await;
    assert_problem(app.refresh("").await, StatusCode::UNAUTHORIZED).await;
    let res = app
        .send(Method::POST, "/api/v1/auth/refresh", None, Some(json!({})))
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn logout_ends_the_session_but_not_issued_access_tokens() {
    let app = spawn_app().await;
    let kim = app.signup("kim").await;
    let res = app
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": kim.refresh})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(app.refresh(&kim.refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&kim.access)).await.status(),
        StatusCode::OK
    );
    // Logging out twice is fine.
    let again = app
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": kim.refresh})),
        )
        .await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn me_needs_a_valid_token() {
    let app = spawn_app().await;
    let leo = app.signup("leo").await;
    let me = app.get_json("/api/v1/auth/me", Some(&leo.access)).await;
    assert_eq!(me["id"], leo.id.as_str());
    assert_eq!(me["handle"], leo.handle.as_str());
    assert_problem(
        app.get("/api/v1/auth/me", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(
        app.get("/api/v1/auth/me", Some("garbage")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let basic = app
        .http
        .get(app.url("/api/v1/auth/me"))
        .header("authorization", "Basic bGVvOnB3")
        .send()
        .await
        .unwrap();
    assert_problem(basic, StatusCode::UNAUTHORIZED).await;
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let h = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    let p = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&h).unwrap(),
        serde_json::from_slice(&p).unwrap(),
    )
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let inner_hash = Sha256::digest(&inner);
    let outer: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner_hash.iter().copied())
        .collect();
    Sha256::digest(&outer).to_vec()
}

#[tokio::test]
async fn jwks_publishes_the_key_that_verifies_tokens() {
    let app = spawn_app().await;
    let olga = app.signup("olga").await;
    let jwks = app.get_json("/.well-known/jwks.json", None).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    let (header, _) = parts(&olga.access);
    assert_eq!(key["kid"], header["kid"]);

    // Verify the token with the published key alone.
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    let (signing_input, sig) = olga.access.rsplit_once('.').unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
    vk.verify_strict(signing_input.as_bytes(), &sig).unwrap();
}

/// Tests that need a setting of their own or a look inside the process: they run
/// in-process only, not against the stack.
mod inside {
    use super::*;

    #[tokio::test]
    async fn repeated_failures_from_one_address_are_throttled() {
        let five = chirp_core::limits::Limit::new(5, std::time::Duration::from_secs(900));
        let app = spawn_app_with(|s| s.limits.login_limit_per_address = five).await;
        let ivan = app.signup("ivan").await;
        for i in 0..5 {
            let res = app.login(&format!("user{i}"), "wrong password").await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
        let res = app.login(&ivan.handle, &ivan.password).await;
        assert!(res.headers().contains_key("retry-after"));
        assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
    }

    #[tokio::test]
    async fn forged_tampered_and_expired_tokens_are_401() {
        let app = spawn_local().await;
        let mia = app.signup("mia").await;
        let nik = app.signup("nik").await;
        let (header, claims) = parts(&mia.access);
        assert_eq!(header["alg"], "EdDSA");
        let kid = header["kid"].as_str().unwrap().to_owned();
        let jwks = app.get_json("/.well-known/jwks.json", None).await;
        let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();

        let mut forged = Vec::new();
        // alg: none
        forged.push(format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims)
        ));
        // HS256 keyed with the public key (the classic algorithm confusion)
        let h = b64(&json!({"alg": "HS256", "typ": "JWT", "kid": kid}));
        let p = b64(&claims);
        let mac = hmac_sha256(public_x.as_bytes(), format!("{h}.{p}").as_bytes());
        forged.push(format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(mac)));
        // another Ed25519 key claiming the real kid
        let other = SigningKey::from_bytes(&[7u8; 32]);
        let h = b64(&json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}));
        let sig = other.sign(format!("{h}.{p}").as_bytes());
        forged.push(format!(
            "{h}.{p}.{}",
            URL_SAFE_NO_PAD.encode(sig.to_bytes())
        ));
        // a tampered payload: mia's signature over nik's identity
        let mut as_nik = claims.clone();
        as_nik["sub"] = json!(nik.id);
        let sig = mia.access.rsplit('.').next().unwrap();
        forged.push(format!(
            "{}.{}.{sig}",
            mia.access.split('.').next().unwrap(),
            b64(&as_nik)
        ));
        // expired, signed with the real key
        let mut old = claims.clone();
        old["exp"] = json!(claims["iat"].as_i64().unwrap() - 1);
        let auth = app.system().services.auth.clone().unwrap();
        let real = auth.keys.signing();
        let h = mia.access.split('.').next().unwrap().to_owned();
        let sig = real.sign(format!("{h}.{}", b64(&old)).as_bytes());
        forged.push(format!(
            "{h}.{}.{}",
            b64(&old),
            URL_SAFE_NO_PAD.encode(sig.to_bytes())
        ));

        for token in &forged {
            assert_problem(
                app.get("/api/v1/auth/me", Some(token)).await,
                StatusCode::UNAUTHORIZED,
            )
            .await;
            assert_problem(
                app.post_raw(token, json!({"text": "forged"})).await,
                StatusCode::UNAUTHORIZED,
            )
            .await;
        }
        // The same construction with an unexpired claim and the real key works, so the
        // expired case failed for its expiry alone.
        let sig = real.sign(format!("{h}.{}", b64(&claims)).as_bytes());
        let genuine = format!(
            "{h}.{}.{}",
            b64(&claims),
            URL_SAFE_NO_PAD.encode(sig.to_bytes())
        );
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&genuine)).await.status(),
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn tokens_survive_a_restart() {
        let app = spawn_local().await;
        let pat = app.signup("pat").await;
        let again = app.restart(|_| {}).await;
        let me = again.get_json("/api/v1/auth/me", Some(&pat.access)).await;
        assert_eq!(me["handle"], pat.handle.as_str());
        assert_eq!(again.refresh(&pat.refresh).await.status(), StatusCode::OK);
    }
}
