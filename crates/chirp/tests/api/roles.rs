//! Each service runs on its own as `chirp <service>`: it answers the operations routes and
//! its own part of the API, serves the internal API peers call on a listener of its own,
//! opens only the stores its services use, and reaches the services it does not run at the
//! addresses it is given.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chirp::config::WorkerId;
use chirp::{Application, Command, Settings};
use chirp_core::IdGenerator;
use chirp_testkit::api::Api;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::helpers::{ids, wait_ready, EVENTUALLY};
use crate::process::ChirpProcess;

/// A route and whether the server at `base` serves it (a 404 of the router's, or of the
/// web client's page paths, which take any path of one or two segments, is not).
async fn serves(base: &str, path: &str) -> bool {
    let res = reqwest::get(format!("{base}{path}")).await.unwrap();
    if res.status() != StatusCode::NOT_FOUND {
        return true;
    }
    let doc: serde_json::Value = res.json().await.unwrap();
    doc["detail"] != "no such route" && doc["detail"] != "no such page"
}

/// A free port on loopback.
/// A free address for a listener a test starts later. Below Linux's ephemeral range
/// (32768 and up), from which every `bind` to port 0 of the tests running beside this one
/// takes its port: a port taken from that range and let go could be taken by one of them
/// before the listener binds it (as happened to the seven-application test).
fn free_addr() -> SocketAddr {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let port = rng.gen_range(20_000..32_000);
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return l.local_addr().unwrap();
        }
    }
    panic!("no free port between 20000 and 32000")
}

#[test]
fn help_names_every_subcommand() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chirp"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for cmd in [
        "all",
        "auth",
        "write",
        "fanout",
        "graph",
        "timeline",
        "read",
        "search",
        "notifications",
        "web",
        "mastodon",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(cmd)),
            "--help lacks {cmd}"
        );
    }
    for flag in [
        "--listen",
        "--data-dir",
        "--internal-listen",
        "--worker-id",
        "--signing-keys",
        "--mastodon-listen",
        "CHIRP_LISTEN",
        "CHIRP_DATA_DIR",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
}

/// Tests that need a setting of their own or a look inside the process: they run
/// in-process only, not against the stack.
mod inside {
    use super::*;

    /// The services' shared secret in these tests.
    const SECRET: &str = "a-secret-the-services-share";

    /// One application of `role`, running until `stop`.
    struct Running {
        base: String,
        internal: Option<String>,
        task: tokio::task::JoinHandle<anyhow::Result<()>>,
    }

    async fn run(role: Command, s: &Settings, stop: &CancellationToken) -> Running {
        let app = Application::build(role, s).await.unwrap();
        let base = format!("http://{}", app.local_addr().unwrap());
        let internal = app.internal_addr().map(|a| format!("http://{a}"));
        let task = tokio::spawn(app.run_until_stopped(stop.clone()));
        Running {
            base,
            internal,
            task,
        }
    }

    /// Seven services as seven applications on one data directory, reaching each other
    /// only by their addresses (and the shared stores): a post goes from WriteService
    /// through the event log to FanoutService, which asks UserGraphService for followers
    /// and delivers to TimelineService; ReadService serves the home timeline from
    /// TimelineService; SearchService finds it; every service checks tokens against
    /// AuthService's JWKS. Each serves the operations routes, its own routes and nothing
    /// else, and the internal API only on its internal listener.
    #[tokio::test]
    async fn services_in_separate_applications_work_together_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let roles = [
            Command::Auth,
            Command::Read,
            Command::Graph,
            Command::Timeline,
            Command::Write,
            Command::Fanout,
            Command::Search,
        ];
        let public: HashMap<&str, SocketAddr> =
            roles.iter().map(|r| (r.name(), free_addr())).collect();
        let internal: HashMap<&str, SocketAddr> =
            roles.iter().map(|r| (r.name(), free_addr())).collect();
        let url = |addr: SocketAddr| format!("http://{addr}");
        let stop = CancellationToken::new();
        let mut running = HashMap::new();
        for (i, role) in roles.iter().enumerate() {
            let mut s = Settings::for_tests(dir.path().to_path_buf());
            s.listen = Some(public[role.name()]);
            s.internal_listen = Some(internal[role.name()]);
            s.worker_id = WorkerId::Fixed(i as u16);
            s.auth_url = Some(url(public["auth"]));
            s.read_url = Some(url(internal["read"]));
            s.graph_url = Some(url(internal["graph"]));
            s.timeline_url = Some(url(internal["timeline"]));
            s.internal_secret = Some(SECRET.parse().unwrap());
            running.insert(role.name(), run(*role, &s, &stop).await);
        }
        let http = reqwest::Client::new();
        for role in roles {
            let base = &running[role.name()].base;
            let ready = wait_ready(&http, base, Duration::from_secs(20)).await;
            assert!(ready, "{} never ready", role.name());
        }

        // Each serves the operations routes and its own routes only.
        let routes = [
            (Command::Auth, "/.well-known/jwks.json"),
            (Command::Write, "/api/v1/posts"),
            (Command::Graph, "/api/v1/users/1/followers"),
            (Command::Read, "/api/v1/users/1"),
            (Command::Search, "/api/v1/search/posts?q=a"),
        ];
        for role in roles {
            let r = &running[role.name()];
            for ops in ["/healthz", "/readyz", "/metrics"] {
                let res = reqwest::get(format!("{}{ops}", r.base)).await.unwrap();
                assert_eq!(res.status(), StatusCode::OK, "{} {ops}", role.name());
            }
            for (owner, path) in routes {
                // Write answers POST only on its route: a GET there is 405, not 404.
                assert_eq!(
                    serves(&r.base, path).await,
                    owner == role,
                    "{} serving {path}",
                    role.name()
                );
            }
            // The internal API is never on the public port.
            for path in ["/internal/v1/users", "/internal/v1/graph/1/followees"] {
                assert!(
                    !serves(&r.base, path).await,
                    "{} serving {path}",
                    role.name()
                );
            }
            assert_eq!(r.internal.is_some(), role.has_internal_routes());
        }
        // The internal API takes calls that carry the services' secret, and no others.
        let read_internal = running["read"].internal.clone().unwrap();
        let probe = |secret: Option<&str>| {
            let mut req = http
                .post(format!("{read_internal}/internal/v1/users"))
                .json(&serde_json::json!({"ids": []}));
            if let Some(secret) = secret {
                req = req.header("chirp-internal-secret", secret);
            }
            req.send()
        };
        assert_eq!(probe(Some(SECRET)).await.unwrap().status(), StatusCode::OK);
        for wrong in [None, Some("not-the-secret-at-all"), Some(&SECRET[1..])] {
            let res = probe(wrong).await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{wrong:?}");
        }
        // Its pages are bounded like the public ones.
        let graph_internal = running["graph"].internal.clone().unwrap();
        for (limit, status) in [(1000, StatusCode::OK), (1001, StatusCode::BAD_REQUEST)] {
            let res = http
                .get(format!(
                    "{graph_internal}/internal/v1/graph/1/followers?limit={limit}"
                ))
                .header("chirp-internal-secret", SECRET)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), status, "limit={limit}");
        }

        let auth = Api::new(&running["auth"].base);
        let writer = auth
            .signup("writer", "writer@example.com", "long enough")
            .await
            .unwrap();
        let reader = auth
            .signup("reader", "reader@example.com", "long enough")
            .await
            .unwrap();
        // Tokens from AuthService work at the others, once they have its keys.
        let graph = Api::new(&running["graph"].base);
        let started = Instant::now();
        while let Err(e) = graph.follow(&reader.access, &writer.id).await {
            assert!(started.elapsed() < Duration::from_secs(10), "follow: {e:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let write = Api::new(&running["write"].base);
        let post = write
            .post(&writer.access, "across the services #distributed")
            .await
            .unwrap();
        let id = post["id"].as_str().unwrap().to_owned();
        assert_eq!(post["author"]["handle"], "writer", "{post}");

        let (read, search) = (
            Api::new(&running["read"].base),
            Api::new(&running["search"].base),
        );
        let started = Instant::now();
        loop {
            let home = read
                .walk(
                    "/api/v1/timelines/home",
                    Some(&reader.access),
                    20,
                    || async {},
                )
                .await
                .unwrap();
            let found = search
                .walk(
                    "/api/v1/search/posts?q=%23distributed",
                    None,
                    20,
                    || async {},
                )
                .await
                .unwrap();
            if home == [id.clone()] && found == [id.clone()] {
                break;
            }
            assert!(
                started.elapsed() < EVENTUALLY,
                "home {home:?}, search {found:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The follower list comes from UserGraphService, hydrated by ReadService.
        let followers: serde_json::Value = http
            .get(format!(
                "{}/api/v1/users/{}/followers",
                running["graph"].base, writer.id
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ids(&followers), std::slice::from_ref(&reader.id));
        stop.cancel();
        for (_, r) in running {
            r.task.await.unwrap().unwrap();
        }
    }

    /// A service that calls a peer nobody gave it the address of stops at start, saying
    /// which setting is missing.
    #[tokio::test]
    async fn a_service_without_the_address_of_a_peer_it_needs_says_so_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::for_tests(dir.path().to_path_buf());
        s.timeline_url = Some("http://127.0.0.1:1".into());
        s.auth_url = Some("http://127.0.0.1:1".into());
        let refused = match Application::build(Command::Read, &s).await {
            Ok(_) => panic!("chirp read started without UserGraphService"),
            Err(e) => format!("{e:#}"),
        };
        assert!(refused.contains("--graph-url"), "{refused}");
    }

    /// `chirp read` on deployed stores opens nothing in its data directory (no SQLite
    /// file, no signing key, no lock) and serves the internal API on its own listener
    /// only.
    #[tokio::test]
    async fn chirp_read_on_deployed_stores_leaves_its_data_directory_alone() {
        let pg = chirp_testkit::postgres().await;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut s = Settings::for_tests(data.clone());
        s.database_url = Some(pg.url.clone());
        // Nothing listens there: peers are called only when a request needs them.
        for peer in [&mut s.auth_url, &mut s.graph_url, &mut s.timeline_url] {
            *peer = Some("http://127.0.0.1:1".into());
        }
        let stop = CancellationToken::new();
        let r = run(Command::Read, &s, &stop).await;
        let internal = r.internal.clone().unwrap();
        let posts = |base: String| async move {
            reqwest::Client::new()
                .post(format!("{base}/internal/v1/posts"))
                .json(&serde_json::json!({"ids": []}))
                .send()
                .await
                .unwrap()
                .status()
        };
        assert_eq!(posts(r.base.clone()).await, StatusCode::NOT_FOUND);
        assert_eq!(posts(internal).await, StatusCode::OK);
        stop.cancel();
        r.task.await.unwrap().unwrap();
        let left: Vec<_> = std::fs::read_dir(&data)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left in the data directory: {left:?}");
    }

    /// `chirp all` keeps copies of its rows in memory, right only while no other process
    /// writes its databases: it takes its data directory alone, and a second process on
    /// the same directory stops at start with a message that says so. Single services
    /// may share a directory with each other. Once a process has stopped, the directory
    /// is free again.
    #[tokio::test]
    async fn chirp_all_takes_its_data_directory_alone() {
        let dir = tempfile::tempdir().unwrap();
        let settings = || {
            let mut s = Settings::for_tests(dir.path().to_path_buf());
            for peer in [&mut s.auth_url, &mut s.graph_url, &mut s.timeline_url] {
                *peer = Some("http://127.0.0.1:1".into());
            }
            s
        };
        let first = Application::build(Command::All, &settings()).await.unwrap();
        for role in [Command::All, Command::Read] {
            let refused = match Application::build(role, &settings()).await {
                Ok(_) => panic!("a second process ({}) on the directory", role.name()),
                Err(e) => format!("{e:#}"),
            };
            assert!(
                refused.contains("in use by another chirp process"),
                "{refused}"
            );
        }
        let stop = CancellationToken::new();
        let running = tokio::spawn(first.run_until_stopped(stop.clone()));
        stop.cancel();
        running.await.unwrap().unwrap();

        // Free again: two single services share it, and keep a `chirp all` out.
        let read = Application::build(Command::Read, &settings()).await;
        let write = Application::build(Command::Write, &settings()).await;
        let (read, write) = (read.unwrap(), write.unwrap());
        assert!(Application::build(Command::All, &settings()).await.is_err());
        drop((read, write));
        Application::build(Command::All, &settings()).await.unwrap();
    }

    /// Processes of one service, each with a worker id leased from PostgreSQL
    /// (`--worker-id auto`), mint ids that never collide: each holds a worker id of its
    /// own, and gives it back when it stops.
    #[tokio::test]
    async fn processes_that_lease_their_worker_ids_mint_unique_ids() {
        let pg = chirp_testkit::postgres().await;
        let stop = CancellationToken::new();
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let settings = |i: usize| {
            let mut s = Settings::for_tests(dirs[i].path().to_path_buf());
            s.database_url = Some(pg.url.clone());
            s.worker_id = WorkerId::Auto;
            // Signups need no ReadService (logins would), and posts that neither reply
            // nor like need no UserGraphService.
            s.read_url = Some("http://127.0.0.1:1".into());
            s.graph_url = Some("http://127.0.0.1:1".into());
            s
        };
        let auth = run(Command::Auth, &settings(0), &stop).await;
        let mut writers = Vec::new();
        for i in 1..3 {
            let mut s = settings(i);
            s.auth_url = Some(auth.base.clone());
            writers.push(run(Command::Write, &s, &stop).await);
        }
        let http = reqwest::Client::new();
        for r in writers.iter().chain([&auth]) {
            assert!(wait_ready(&http, &r.base, Duration::from_secs(20)).await);
        }
        let user = Api::new(&auth.base)
            .signup("leaser", "leaser@example.com", "long enough")
            .await
            .unwrap();
        // Both processes write at once.
        let mut posting = Vec::new();
        for w in &writers {
            for n in 0..4 {
                let (api, token) = (Api::new(&w.base), user.access.clone());
                posting.push(tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for i in 0..25 {
                        let post = api.post(&token, &format!("post {n}.{i}")).await.unwrap();
                        ids.push(post["id"].as_str().unwrap().parse::<u64>().unwrap());
                    }
                    ids
                }));
            }
        }
        let mut minted = Vec::new();
        for p in posting {
            minted.extend(p.await.unwrap());
        }
        let workers: std::collections::BTreeSet<u16> = minted
            .iter()
            .map(|id| IdGenerator::worker_of(chirp_core::Id(*id)))
            .collect();
        assert_eq!(
            workers.len(),
            2,
            "each process its own worker id: {workers:?}"
        );
        assert!(
            workers.iter().all(|w| (512..=1023).contains(w)),
            "{workers:?}"
        );
        let count = minted.len();
        minted.sort_unstable();
        minted.dedup();
        assert_eq!(minted.len(), count, "an id was minted twice");

        stop.cancel();
        for r in writers.into_iter().chain([auth]) {
            r.task.await.unwrap().unwrap();
        }
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM worker_leases")
            .fetch_one(&sqlx::PgPool::connect(&pg.url).await.unwrap())
            .await
            .unwrap();
        assert_eq!(held, 0, "every lease given back at the stop");
    }

    /// A key added to AuthService's key set signs the tokens issued after it; the other
    /// services accept them at once (they fetch the keys again when they meet an unknown
    /// key, at most once every 5 s), not after their next scheduled refresh (5 minutes).
    /// The tokens of the key signing before stay valid while it is in the set.
    #[tokio::test]
    async fn a_new_signing_key_is_accepted_by_the_other_services_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("signing-keys");
        let (old, new) = ("11".repeat(32), "22".repeat(32));
        std::fs::write(&keys, format!("{old}\n")).unwrap();
        let auth_addr = free_addr();
        // One data directory: WriteService reads the profiles AuthService writes.
        let settings = |_role: &str| {
            let mut s = Settings::for_tests(dir.path().join("data"));
            s.signing_keys = Some(keys.clone());
            s.auth_url = Some(format!("http://{auth_addr}"));
            // Signups need no ReadService (logins would), and posts that neither reply
            // nor like need no UserGraphService.
            s.read_url = Some("http://127.0.0.1:1".into());
            s.graph_url = Some("http://127.0.0.1:1".into());
            s
        };
        let mut auth_settings = settings("auth");
        auth_settings.listen = Some(auth_addr);
        let stop_auth = CancellationToken::new();
        let auth = run(Command::Auth, &auth_settings, &stop_auth).await;
        let stop = CancellationToken::new();
        let write = run(Command::Write, &settings("write"), &stop).await;
        let http = reqwest::Client::new();
        assert!(wait_ready(&http, &write.base, Duration::from_secs(20)).await);
        let user = Api::new(&auth.base)
            .signup("roller", "roller@example.com", "long enough")
            .await
            .unwrap();
        let writer = Api::new(&write.base);
        writer
            .post(&user.access, "signed by the old key")
            .await
            .unwrap();

        // The new key is rolled in first: AuthService signs with it from its restart.
        std::fs::write(&keys, format!("{new}\n{old}\n")).unwrap();
        stop_auth.cancel();
        auth.task.await.unwrap().unwrap();
        let stop_auth = CancellationToken::new();
        let auth = run(Command::Auth, &auth_settings, &stop_auth).await;
        let fresh = Api::new(&auth.base)
            .signup("newcomer", "newcomer@example.com", "long enough")
            .await
            .unwrap()
            .access;
        // The first request with it is accepted: WriteService fetches the keys for it.
        writer.post(&fresh, "signed by the new key").await.unwrap();
        writer
            .post(&user.access, "still the old key")
            .await
            .unwrap();
        stop.cancel();
        stop_auth.cancel();
        write.task.await.unwrap().unwrap();
        auth.task.await.unwrap().unwrap();
    }

    /// WriteService answers a write from the store the write went to, never through
    /// ReadService: with ReadService down, a post is a 201 with the post (not an error for
    /// a stored post, whose retry would store it twice), and so is its read at
    /// WriteService.
    #[tokio::test]
    async fn a_post_is_answered_from_its_store_with_read_service_down() {
        let dir = tempfile::tempdir().unwrap();
        let auth_addr = free_addr();
        let settings = || {
            let mut s = Settings::for_tests(dir.path().to_path_buf());
            s.auth_url = Some(format!("http://{auth_addr}"));
            // Nothing listens there (nor for UserGraphService, which a post that neither
            // replies nor likes does not ask).
            s.read_url = Some("http://127.0.0.1:1".into());
            s.graph_url = Some("http://127.0.0.1:1".into());
            s
        };
        let stop = CancellationToken::new();
        let mut auth_settings = settings();
        auth_settings.listen = Some(auth_addr);
        let auth = run(Command::Auth, &auth_settings, &stop).await;
        let write = run(Command::Write, &settings(), &stop).await;
        let http = reqwest::Client::new();
        assert!(wait_ready(&http, &write.base, Duration::from_secs(20)).await);
        let user = Api::new(&auth.base)
            .signup("solo", "solo@example.com", "long enough")
            .await
            .unwrap();
        let writer = Api::new(&write.base);
        let post = writer.post(&user.access, "no reader needed").await.unwrap();
        assert_eq!(post["text"], "no reader needed", "{post}");
        assert_eq!(post["author"]["handle"], "solo", "{post}");
        let id = post["id"].as_str().unwrap();
        let read_back = http
            .get(format!("{}/api/v1/posts/{id}", write.base))
            .send()
            .await
            .unwrap();
        assert_eq!(read_back.status(), StatusCode::OK);
        let read_back: serde_json::Value = read_back.json().await.unwrap();
        assert_eq!(read_back, post);
        stop.cancel();
        write.task.await.unwrap().unwrap();
        auth.task.await.unwrap().unwrap();
    }

    /// `chirp web` on its own: it serves the pages and signs people in through
    /// AuthService's public API at `--auth-url`, and nothing of the API itself; with
    /// AuthService down, a sign-in is a 503 naming it (and the pages are still served).
    #[tokio::test]
    async fn the_web_role_signs_in_through_authservice_and_says_when_it_is_down() {
        // The public API it calls: here `chirp all`'s (a gateway's, or AuthService's own,
        // in a deployment).
        let dir = tempfile::tempdir().unwrap();
        let mut auth_settings = Settings::for_tests(dir.path().to_path_buf());
        auth_settings.listen = Some(free_addr());
        let stop_auth = CancellationToken::new();
        let auth = run(Command::All, &auth_settings, &stop_auth).await;
        let mut web_settings = Settings::for_tests(dir.path().join("web"));
        web_settings.listen = Some(free_addr());
        web_settings.auth_url = Some(auth.base.clone());
        let stop = CancellationToken::new();
        let web = run(Command::Web, &web_settings, &stop).await;
        let http = reqwest::Client::new();
        assert!(wait_ready(&http, &web.base, Duration::from_secs(20)).await);
        for path in ["/", "/@someone", "/assets/js/main.js"] {
            assert!(serves(&web.base, path).await, "web serving {path}");
        }
        for path in ["/api/v1/users/1", "/api/v1/posts", "/.well-known/jwks.json"] {
            assert!(!serves(&web.base, path).await, "web serving {path}");
        }
        let sign_up = || {
            http.post(format!("{}/web/signup", web.base))
                .header("x-chirp-csrf", "1")
                .json(&serde_json::json!({
                    "handle": "webrole", "email": "webrole@example.com", "password": "long enough"
                }))
                .send()
        };
        let res = sign_up().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let session: serde_json::Value = res.json().await.unwrap();
        let me = http
            .get(format!("{}/api/v1/auth/me", auth.base))
            .bearer_auth(session["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK);

        stop_auth.cancel();
        auth.task.await.unwrap().unwrap();
        let res = sign_up().await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let doc: serde_json::Value = res.json().await.unwrap();
        assert_eq!(doc["detail"], "auth is unavailable; try again later");
        let res = reqwest::get(format!("{}/login", web.base)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        stop.cancel();
        web.task.await.unwrap().unwrap();
    }

    /// A stop ends within its deadline even when every dependency the process uses is
    /// gone (here: none ever answered): the process exits.
    #[tokio::test]
    async fn a_stop_ends_within_its_deadline_with_every_dependency_down() {
        let dir = tempfile::tempdir().unwrap();
        let dead = |scheme: &str| format!("{scheme}{}", free_addr());
        let envs = [
            ("CHIRP_DATA_DIR", dir.path().display().to_string()),
            ("KAFKA_BROKERS", dead("")),
            ("ELASTICSEARCH_URL", dead("http://")),
            ("CHIRP_READ_URL", dead("http://")),
            ("CHIRP_AUTH_URL", dead("http://")),
            ("CHIRP_SHUTDOWN_TIMEOUT_SECS", "4".into()),
        ];
        let mut search = ChirpProcess::start(&["search", "--listen", "127.0.0.1:0"], &envs);
        // Long enough for its consumer to be trying to join the group.
        tokio::time::sleep(Duration::from_secs(2)).await;
        // The deadline (4 s), and a second for the exit itself.
        let took = search.terminate(Duration::from_secs(5));
        assert!(took.is_some(), "still running 5 s after SIGTERM");
    }
}
