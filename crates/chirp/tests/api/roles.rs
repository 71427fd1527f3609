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
        let started = std::time::Instant::now();
        while reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status()
            != StatusCode::OK
            && started.elapsed() < std::time::Duration::from_secs(10)
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
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
