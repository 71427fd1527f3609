//! Each service runs on its own as `chirp <service>`: it answers the operations routes and
//! its own part of the API, and nothing else.

use reqwest::StatusCode;

use chirp::{Application, Command, Settings};
use tokio_util::sync::CancellationToken;

/// A route and whether `role` serves it.
async fn serves(base: &str, path: &str) -> bool {
    let res = reqwest::get(format!("{base}{path}")).await.unwrap();
    if res.status() != StatusCode::NOT_FOUND {
        return true;
    }
    let doc: serde_json::Value = res.json().await.unwrap();
    doc["detail"] != "no such route"
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
        "all", "auth", "write", "fanout", "graph", "timeline", "read", "search",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(cmd)),
            "--help lacks {cmd}"
        );
    }
    for flag in ["--listen", "--data-dir", "CHIRP_LISTEN", "CHIRP_DATA_DIR"] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
}

/// Tests that need a setting of their own or a look inside the process: they run
/// in-process only, not against the stack.
mod inside {
    use super::*;

    #[tokio::test]
    async fn every_service_runs_alone_with_only_its_routes() {
        let routes = [
            (Command::Auth, "/.well-known/jwks.json"),
            (Command::Write, "/api/v1/posts"),
            (Command::Graph, "/api/v1/users/1/followers"),
            (Command::Read, "/api/v1/users/1"),
            (Command::Search, "/api/v1/search/posts?q=a"),
        ];
        let roles = [
            Command::Auth,
            Command::Write,
            Command::Fanout,
            Command::Graph,
            Command::Timeline,
            Command::Read,
            Command::Search,
        ];
        for role in roles {
            let dir = tempfile::tempdir().unwrap();
            let app = Application::build(role, &Settings::for_tests(dir.path().to_path_buf()))
                .await
                .unwrap();
            let base = format!("http://{}", app.local_addr().unwrap());
            let stop = CancellationToken::new();
            let running = tokio::spawn(app.run_until_stopped(stop.clone()));
            // Ready once its consumers (if any) have joined their groups.
            crate::helpers::wait_ready(
                &reqwest::Client::new(),
                &base,
                std::time::Duration::from_secs(10),
            )
            .await;
            for ops in ["/healthz", "/readyz", "/metrics"] {
                let res = reqwest::get(format!("{base}{ops}")).await.unwrap();
                assert_eq!(res.status(), StatusCode::OK, "{} {ops}", role.name());
            }
            for (owner, path) in routes {
                // Write answers POST only on its route: a GET there is 405, not 404.
                assert_eq!(
                    serves(&base, path).await,
                    owner == role,
                    "{} serving {path}",
                    role.name()
                );
            }
            stop.cancel();
            running.await.unwrap().unwrap();
        }
    }

    /// Seven services as seven applications on one data directory, reaching each other only
    /// by their HTTP addresses (and the shared stores): a post goes from WriteService through
    /// the event log to FanoutService, which asks UserGraphService for followers and delivers
    /// to TimelineService; ReadService serves the home timeline from TimelineService;
    /// SearchService finds it; every service checks tokens against AuthService's JWKS.
    #[tokio::test]
    async fn services_in_separate_applications_work_together_over_http() {
        use std::collections::HashMap;

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
        let ports: HashMap<&str, u16> = roles
            .iter()
            .map(|r| {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                (r.name(), l.local_addr().unwrap().port())
            })
            .collect();
        let url = |name: &str| format!("http://127.0.0.1:{}", ports[name]);
        let stop = CancellationToken::new();
        let mut running = Vec::new();
        for role in roles {
            let mut s = Settings::for_tests(dir.path().to_path_buf());
            s.listen = Some(format!("127.0.0.1:{}", ports[role.name()]).parse().unwrap());
            s.worker_id = roles.iter().position(|r| *r == role).unwrap() as u16;
            s.auth_url = Some(url("auth"));
            s.read_url = Some(url("read"));
            s.graph_url = Some(url("graph"));
            s.timeline_url = Some(url("timeline"));
            let app = Application::build(role, &s).await.unwrap();
            running.push(tokio::spawn(app.run_until_stopped(stop.clone())));
        }
        let http = reqwest::Client::new();
        // Every service ready (consumers joined, keys fetched).
        for role in roles {
            let ready = crate::helpers::wait_ready(
                &http,
                &url(role.name()),
                std::time::Duration::from_secs(20),
            )
            .await;
            assert!(ready, "{} never ready", role.name());
        }
        let signup = |handle: &'static str| {
            let http = http.clone();
            let auth = url("auth");
            async move {
                let t: serde_json::Value = http
                    .post(format!("{auth}/api/v1/auth/signup"))
                    .json(&serde_json::json!({"handle": handle, "email": format!("{handle}@example.com"), "password": "long enough"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                (
                    t["user"]["id"].as_str().unwrap().to_owned(),
                    t["access_token"].as_str().unwrap().to_owned(),
                )
            }
        };
        let (writer, writer_token) = signup("writer").await;
        let (_, reader_token) = signup("reader").await;

        // Tokens from AuthService work at the others, once they have its keys.
        let mut followed = StatusCode::UNAUTHORIZED;
        let started = std::time::Instant::now();
        while followed != StatusCode::NO_CONTENT
            && started.elapsed() < std::time::Duration::from_secs(10)
        {
            followed = http
                .post(format!("{}/api/v1/users/{writer}/follow", url("graph")))
                .bearer_auth(&reader_token)
                .send()
                .await
                .unwrap()
                .status();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if followed != StatusCode::NO_CONTENT {
            let probe = http
                .post(format!("{}/internal/v1/users", url("read")))
                .json(&serde_json::json!({"ids": [writer]}))
                .send()
                .await
                .unwrap();
            panic!(
                "follow: {followed}; read's internal users: {} {}",
                probe.status(),
                probe.text().await.unwrap()
            );
        }
        let post: serde_json::Value = http
            .post(format!("{}/api/v1/posts", url("write")))
            .bearer_auth(&writer_token)
            .json(&serde_json::json!({"text": "across the services #distributed"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = post["id"].as_str().unwrap().to_owned();
        assert_eq!(
            post["author"]["handle"], "writer",
            "WriteService hydrated through ReadService"
        );

        let started = std::time::Instant::now();
        loop {
            let home: serde_json::Value = http
                .get(format!("{}/api/v1/timelines/home", url("read")))
                .bearer_auth(&reader_token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let search: serde_json::Value = http
                .get(format!(
                    "{}/api/v1/search/posts?q=%23distributed",
                    url("search")
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if crate::helpers::ids(&home) == [id.clone()]
                && crate::helpers::ids(&search) == [id.clone()]
            {
                break;
            }
            assert!(
                started.elapsed() < crate::helpers::EVENTUALLY,
                "home {home}, search {search}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // The follower list comes from UserGraphService, hydrated by ReadService over HTTP.
        let followers: serde_json::Value = http
            .get(format!("{}/api/v1/users/{writer}/followers", url("graph")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(followers["items"][0]["handle"], "reader");
        stop.cancel();
        for r in running {
            r.await.unwrap().unwrap();
        }
    }

    /// `chirp all` keeps copies of its rows in memory, right only while no other process
    /// writes its databases: it takes its data directory alone, and a second process on
    /// the same directory stops at start with a message that says so. Single services may
    /// share a directory with each other (the test above). Once a process has stopped, the
    /// directory is free again.
    #[tokio::test]
    async fn chirp_all_takes_its_data_directory_alone() {
        let dir = tempfile::tempdir().unwrap();
        let settings = || Settings::for_tests(dir.path().to_path_buf());
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
        let read = Application::build(Command::Read, &settings())
            .await
            .unwrap();
        let write = Application::build(Command::Write, &settings())
            .await
            .unwrap();
        assert!(Application::build(Command::All, &settings()).await.is_err());
        drop((read, write));
        Application::build(Command::All, &settings()).await.unwrap();
    }
}
