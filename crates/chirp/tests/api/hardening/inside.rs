//! The hardening tests that need settings of their own, a raw socket, the data directory
//! or a process of their own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chirp_core::limits::Limit;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use super::tally;
use crate::helpers::*;
use crate::process::ChirpProcess;

fn per_minute(attempts: u32) -> Limit {
    Limit::new(attempts, Duration::from_secs(60))
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The per-address login limit holds under concurrency too.
#[tokio::test]
async fn logins_sent_at_once_never_pass_the_address_limit() {
    let app = spawn_app_with(|s| s.limits.login_limit_per_address = per_minute(5)).await;
    let nobody = app.word("nobody");
    let logins: Vec<String> = (0..20).map(|i| format!("{nobody}{i}")).collect();
    let guesses = logins.iter().map(|l| app.login(l, "wrong password"));
    let statuses = join_all(guesses).await.into_iter().map(|r| r.status());
    assert_eq!(tally(statuses), [(401, 5), (429, 15)].into());
}

/// An IPv6 client is one /64 (what one subscriber is given), not 2^64 addresses of a
/// limit each.
#[tokio::test]
async fn ipv6_clients_are_limited_by_their_64() {
    let app = spawn_app_with(|s| {
        s.trust_forwarded_for = true;
        s.limits.login_limit_per_address = per_minute(3);
    })
    .await;
    let login = |from: &'static str| {
        app.http
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", from)
            .json(&json!({"login": "nobody-at-all", "password": "wrong password"}))
            .send()
    };
    for from in ["2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff::c"] {
        assert_eq!(
            login(from).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let same_64 = login("2001:db8:1:2:1234::d").await.unwrap();
    assert_problem(same_64, StatusCode::TOO_MANY_REQUESTS).await;
    let next_64 = login("2001:db8:1:3::a").await.unwrap();
    assert_eq!(next_64.status(), StatusCode::UNAUTHORIZED);
}

/// A success takes its own attempt back from its address's count.
#[tokio::test]
async fn successful_logins_do_not_use_up_the_address_limit() {
    let app = spawn_app_with(|s| s.limits.login_limit_per_address = per_minute(3)).await;
    let ivy = app.signup("ivy").await;
    for _ in 0..6 {
        let res = app.login(&ivy.handle, &ivy.password).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    for _ in 0..3 {
        let res = app.login(&ivy.handle, "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.login(&ivy.handle, &ivy.password).await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
}

/// Signups per client address are limited, and a refused signup creates nothing.
#[tokio::test]
async fn signups_from_one_address_are_limited() {
    let app = spawn_app_with(|s| s.limits.signup_limit_per_address = per_minute(3)).await;
    for name in ["sam", "sue", "sid"] {
        app.signup(name).await;
    }
    let before = app.fingerprint().await;
    let tag = app.tag.clone();
    let res = app
        .signup_raw(json!({
            "handle": format!("sal_{tag}"),
            "email": format!("sal_{tag}@example.com"),
            "password": "long enough password",
        }))
        .await;
    let retry: u64 = header(&res, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(app.fingerprint().await, before);
    // Input that is refused anyway is not counted: it costs no hash.
    let bad = app
        .signup_raw(json!({"handle": "x", "email": "y", "password": "z"}))
        .await;
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
}

/// Writes are limited per user, posts and follows together, with the draft's headers on
/// every answer; a refused write changes nothing, and others still write.
#[tokio::test]
async fn writes_are_limited_per_user_with_ratelimit_headers() {
    let app = spawn_app_with(|s| s.limits.write_limit_per_user = per_minute(3)).await;
    let (wes, zoe) = (app.signup("wes").await, app.signup("zoe").await);
    let first = app.post_raw(&wes.access, json!({"text": "one"})).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(header(&first, "ratelimit-limit"), "3");
    assert_eq!(header(&first, "ratelimit-remaining"), "2");
    let reset: u64 = header(&first, "ratelimit-reset").parse().unwrap();
    assert!((1..=60).contains(&reset), "RateLimit-Reset {reset}");
    let policy = header(&first, "ratelimit-policy");
    assert!(policy.contains("3;w=60"), "{policy}");
    let follow = app.follow_raw(&wes.access, &zoe.id).await;
    assert_eq!(follow.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&follow, "ratelimit-remaining"), "1");
    let second = app.post_raw(&wes.access, json!({"text": "two"})).await;
    assert_eq!(header(&second, "ratelimit-remaining"), "0");
    let before = app.fingerprint().await;
    let refused = app.post_raw(&wes.access, json!({"text": "three"})).await;
    assert_eq!(header(&refused, "ratelimit-remaining"), "0");
    let retry: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        app.fingerprint().await,
        before,
        "a refused post changed something"
    );
    // Reads are not writes; another user has a quota of their own.
    let read = app.get(&format!("/api/v1/users/{}", wes.id), None).await;
    assert_eq!(read.status(), StatusCode::OK);
    let other = app.post_raw(&zoe.access, json!({"text": "mine"})).await;
    assert_eq!(other.status(), StatusCode::CREATED);
}

/// Writes are limited per client address too, whoever makes them.
#[tokio::test]
async fn writes_are_limited_per_address() {
    let app = spawn_app_with(|s| s.limits.write_limit_per_address = per_minute(4)).await;
    let (ann, bob) = (app.signup("ann").await, app.signup("bob").await);
    for (i, who) in [&ann, &bob, &ann, &bob].into_iter().enumerate() {
        let res = app
            .post_raw(&who.access, json!({"text": format!("n{i}")}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = app.post_raw(&bob.access, json!({"text": "five"})).await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
}

/// Every API request is counted per address, reads included; the operations routes are
/// not limited.
#[tokio::test]
async fn api_requests_are_limited_per_address() {
    let app = spawn_app_with(|s| s.limits.request_limit_per_address = per_minute(5)).await;
    for left in (0..5).rev() {
        let res = app.get("/api/v1/users/1", None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(header(&res, "ratelimit-remaining"), left.to_string());
    }
    let res = app.get("/api/v1/search/posts?q=x", None).await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

/// With Redis, every process counts the same requests: a second process refuses what the
/// first used up. (Embedded, each process counts its own.)
#[tokio::test]
async fn processes_on_one_redis_share_their_counts() {
    let deps = Arc::new(Deps::from_env().await);
    let limited = |dir: &tempfile::TempDir| {
        let mut s = chirp::Settings::for_tests(dir.path().to_path_buf());
        deps.configure(&mut s);
        s.limits.request_limit_per_address = per_minute(3);
        s
    };
    let (dir_a, dir_b) = (
        Arc::new(tempfile::tempdir().unwrap()),
        Arc::new(tempfile::tempdir().unwrap()),
    );
    let a = start(limited(&dir_a), dir_a.clone(), deps.clone()).await;
    let b = start(limited(&dir_b), dir_b.clone(), deps.clone()).await;
    for _ in 0..3 {
        assert_eq!(
            a.get("/api/v1/users/1", None).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    let at_b = b.get("/api/v1/users/1", None).await.status();
    match deps.redis {
        Some(_) => assert_eq!(at_b, StatusCode::TOO_MANY_REQUESTS),
        None => assert_eq!(at_b, StatusCode::NOT_FOUND),
    }
}

/// The metrics (OpenMetrics text, not routed by the gateway) may load nothing either.
#[tokio::test]
async fn the_metrics_text_has_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let res = app.get("/metrics", None).await;
    assert!(header(&res, "content-type").starts_with("application/openmetrics-text"));
    let csp = header(&res, "content-security-policy");
    assert_eq!(
        csp,
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    );
}

/// The address of an app, for a raw socket.
fn socket(app: &TestApp) -> TcpStream {
    let addr = app.base.trim_start_matches("http://");
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads until the server closes the connection; what it sent.
fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

/// A client that begins a request head and never finishes it is closed when the header
/// timeout has passed; so is a new connection that sends nothing.
#[tokio::test]
async fn a_request_head_never_finished_is_closed_at_the_header_timeout() {
    let app = spawn_app_with(|s| s.server.header_read_timeout_secs = 1).await;
    let (partial, silent) = tokio::task::spawn_blocking({
        let (mut a, mut b) = (socket(&app), socket(&app));
        move || {
            let started = Instant::now();
            a.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            let got = until_closed(&mut a);
            assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
            let partial = started.elapsed();
            until_closed(&mut b);
            (partial, started.elapsed())
        }
    })
    .await
    .unwrap();
    // The timeout, and at most a second of scheduling on a busy machine after it.
    for waited in [partial, silent] {
        assert!(
            waited >= Duration::from_millis(950),
            "closed after {waited:?}"
        );
        assert!(waited < Duration::from_secs(2), "closed after {waited:?}");
    }
}

/// A body that does not arrive within the body timeout is answered 408, and its
/// connection closed.
#[tokio::test]
async fn a_body_never_finished_is_answered_408_at_the_body_timeout() {
    let app = spawn_app_with(|s| s.server.body_read_timeout_secs = 1).await;
    let mut conn = socket(&app);
    let (answer, waited) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        conn.write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"login\":",
        )
        .unwrap();
        let answer = until_closed(&mut conn);
        (
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("problems/request-timeout"), "{answer}");
    // The timeout, and at most a second of scheduling on a busy machine after it.
    assert!(
        waited >= Duration::from_millis(950),
        "answered after {waited:?}"
    );
    assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
}

/// An idle keep-alive connection has the idle timeout, not the header timeout, to send
/// its next request; after it, it is closed.
#[tokio::test]
async fn an_idle_connection_is_closed_at_the_idle_timeout() {
    let app = spawn_app_with(|s| {
        s.server.header_read_timeout_secs = 1;
        s.server.idle_timeout_secs = 3;
    })
    .await;
    let mut conn = socket(&app);
    let idle = tokio::task::spawn_blocking(move || {
        let ask = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut buf = [0u8; 4096];
        conn.write_all(ask).unwrap();
        let n = conn.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        // Idle for longer than the header timeout: still served.
        std::thread::sleep(Duration::from_millis(1_800));
        conn.write_all(ask).unwrap();
        let n = conn.read(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "idle connection closed"
        );
        let started = Instant::now();
        until_closed(&mut conn);
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(
        idle >= Duration::from_millis(2_950),
        "closed after {idle:?}"
    );
    assert!(idle < Duration::from_secs(4), "closed after {idle:?}");
}

/// One request on a connection of its own, closed after it; the answer.
fn ask_once(app: &TestApp, path: &str) -> String {
    let mut s = socket(app);
    let ask = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(ask.as_bytes()).unwrap();
    String::from_utf8_lossy(&until_closed(&mut s)).into_owned()
}

/// Past the cap on connections, a connection is answered 503 at once and closed; a
/// connection given back makes room for the next.
#[tokio::test]
async fn connections_past_the_cap_are_refused_at_once() {
    // Started without the helpers' HTTP clients, whose pooled connections would take
    // places of the cap: everything here is a raw socket.
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let deps = Arc::new(Deps::from_env().await);
    let mut settings = chirp::Settings::for_tests(dir.path().to_path_buf());
    deps.configure(&mut settings);
    settings.server.max_connections = 3;
    let app = launch(settings, dir, deps).await;
    let outcome = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        while !ask_once(&app, "/readyz").starts_with("HTTP/1.1 200") {
            assert!(started.elapsed() < Duration::from_secs(30), "never ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        let held: Vec<TcpStream> = (0..3)
            .map(|_| {
                let mut s = socket(&app);
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).unwrap();
                assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
                s
            })
            .collect();
        let refused = ask_once(&app, "/healthz").to_lowercase();
        drop(held);
        // A place given back is taken by the next connection.
        let started = Instant::now();
        let mut again = ask_once(&app, "/healthz");
        while !again.starts_with("HTTP/1.1 200") && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
            again = ask_once(&app, "/healthz");
        }
        (refused, again)
    });
    let (refused, again) = outcome.await.unwrap();
    assert!(refused.starts_with("http/1.1 503"), "{refused}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
    assert!(refused.contains("problems/busy"), "{refused}");
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
}

/// The data directory is the owner's alone, whatever the umask; one found open to others
/// is closed at start.
#[tokio::test]
async fn the_data_directory_and_its_files_are_the_owners_alone() {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let fresh = root.path().join("fresh");
    let opened = root.path().join("opened");
    std::fs::create_dir(&opened).unwrap();
    std::fs::write(opened.join("chirp.db"), b"").unwrap();
    std::fs::set_permissions(&opened, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        opened.join("chirp.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    for data_dir in [&fresh, &opened] {
        let app = spawn_app_with(|s| {
            *s = chirp::Settings::for_tests(data_dir.clone());
        })
        .await;
        // A write, so that the WAL files exist.
        app.signup("owner").await;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(data_dir), 0o700, "{}", data_dir.display());
        for file in [
            "chirp.db",
            "chirp.db-wal",
            "chirp.db-shm",
            "events.db",
            "jwt-ed25519.key",
        ] {
            let path = data_dir.join(file);
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        assert_eq!(mode(&data_dir.join("search")), 0o700);
        app.shutdown().await;
    }
}

/// A stop ends within the drain deadline even with a client holding a request open.
#[test]
fn a_stop_closes_the_connections_still_open_at_the_drain_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let mut chirp = ChirpProcess::start(
        &[
            "all",
            "--listen",
            "127.0.0.1:0",
            "--insecure-fast-hashing",
            "--data-dir",
            &data,
            "--header-read-timeout-secs",
            "60",
            "--drain-timeout-secs",
            "1",
        ],
        &[],
    );
    let addr = chirp.base.trim_start_matches("http://").to_owned();
    let mut head = TcpStream::connect(&addr).unwrap();
    head.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut body = TcpStream::connect(&addr).unwrap();
    body.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"login\":",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The drain (1 s), then what a stop with nothing in flight takes (about a second
    // here), with a second of room for a busy machine.
    let stopped = chirp.terminate(Duration::from_secs(10));
    let (took, status) = stopped.expect("chirp exits");
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_secs(3),
        "exited {took:?} after SIGTERM"
    );
}

/// `name`'s size in `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(name)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 100 logins at once: password hashing (19 MiB each) runs on as many cores as there are
/// and only so many wait; past that a login is refused at once (503, Retry-After), so
/// memory grows by a few hashes' worth, not by a hundred, and does not stay grown.
#[tokio::test]
async fn memory_stays_bounded_under_a_hundred_logins_at_once() {
    let deps = Deps::from_env().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let chirp = ChirpProcess::start(
        &[
            "all",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data,
            "--login-limit-per-account",
            "off",
            "--login-limit-per-address",
            "off",
            "--request-limit-per-address",
            "off",
        ],
        &deps.env(),
    );
    let api = chirp_testkit::api::Api::new(&chirp.base);
    let victim = api
        .signup("victim", "victim@example.com", "long enough password")
        .await
        .unwrap();
    let before = status_kib(chirp.pid(), "VmRSS:");
    let http = reqwest::Client::new();
    let logins = (0..100).map(|i| {
        http.post(format!("{}/api/v1/auth/login", chirp.base))
            .json(&json!({"login": victim.handle, "password": format!("guess-{i}")}))
            .send()
    });
    let answers: Vec<reqwest::Response> = join_all(logins)
        .await
        .into_iter()
        .map(|r| r.expect("answered"))
        .collect();
    let peak = status_kib(chirp.pid(), "VmHWM:");
    let statuses = tally(answers.iter().map(|r| r.status()));
    let checked = statuses.get(&401).copied().unwrap_or(0);
    let refused = statuses.get(&503).copied().unwrap_or(0);
    assert_eq!(checked + refused, 100, "{statuses:?}");
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    assert!(checked >= cores as usize, "{statuses:?}");
    for busy in answers
        .iter()
        .filter(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
    {
        assert_eq!(busy.headers()["retry-after"], "1");
    }
    // One hash per core at once, and room for two more for the allocator's slack.
    let bound = (cores + 2) * 19 * 1024;
    assert!(
        peak.saturating_sub(before) <= bound,
        "VmHWM {peak} KiB from VmRSS {before} KiB (bound {bound} KiB growth)"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = status_kib(chirp.pid(), "VmRSS:");
    assert!(
        after.saturating_sub(before) <= bound,
        "VmRSS {after} KiB after, {before} KiB before"
    );
}
