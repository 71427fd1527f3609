//! Operations routes and the edges of the router.

use reqwest::{Method, StatusCode};

use crate::helpers::*;

#[tokio::test]
async fn unknown_routes_and_methods_are_problem_documents() {
    let app = spawn_app().await;
    assert_problem(app.get("/nowhere", None).await, StatusCode::NOT_FOUND).await;
    assert_problem(app.get("/api/v1/nope", None).await, StatusCode::NOT_FOUND).await;
    // Paths of one or two segments that name no page of the web client (whose profile
    // paths are `/@handle` and `/@handle/tab`), whatever the method.
    for (method, path) in [
        (Method::POST, "/nowhere"),
        (Method::DELETE, "/api/v1"),
        (Method::PUT, "/@alice/likes"),
    ] {
        let res = app.send(method.clone(), path, None, None).await;
        assert_problem(res, StatusCode::NOT_FOUND).await;
    }
    let res = app.send(Method::PUT, "/api/v1/posts", None, None).await;
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED).await;
    let res = app.send(Method::PUT, "/api/v1/auth/me", None, None).await;
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED).await;
}

/// Tests that need a setting of their own or a look inside the process: they run
/// in-process only, not against the stack.
mod inside {
    use super::*;

    #[tokio::test]
    async fn health_readiness_and_metrics() {
        let app = spawn_local().await;
        assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
        let ready = app.get("/readyz", None).await;
        assert_eq!(ready.status(), StatusCode::OK);
        let u = app.signup("metric").await;
        app.post(&u, "counted").await;
        let metrics = app.get("/metrics", None).await;
        assert_eq!(metrics.status(), StatusCode::OK);
        let text = metrics.text().await.unwrap();
        assert!(
            text.contains(r#"chirp_http_requests_total{service="write",route="/api/v1/posts",method="POST",status="201"} 1"#),
            "{text}"
        );
        assert!(text.contains("chirp_http_request_duration_seconds_bucket"));
        assert!(text.contains(r#"service="auth",route="/api/v1/auth/signup""#));
    }

    /// The system's own signals, each moved by the traffic that should move it.
    #[tokio::test]
    async fn metrics_follow_the_pipeline() {
        let app = spawn_local().await;
        let u = app.signup("piper").await;
        let fan = app.signup("fan").await;
        app.follow(&fan, &u).await;
        assert_eq!(app.home_ids(&fan).await, Vec::<String>::new());
        let id = app.post_id(&u, "measured words").await;
        app.home_becomes(&fan, std::slice::from_ref(&id)).await;
        app.search_becomes("measured", std::slice::from_ref(&id))
            .await;
        assert_eq!(
            app.login(&u.handle, "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.login(&u.handle, &u.password).await.status(),
            StatusCode::OK
        );
        let metric = |text: &str, series: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        };
        let text = eventually("every signal is out", || async {
            let text = app.get("/metrics", None).await.text().await.unwrap();
            // The index may answer before its consumer has recorded the batch; and a
            // follow's backfill may bring the post home before the post's own event.
            (text.contains("chirp_search_indexing_lag_seconds_count{service=\"search\"} 1")
                && text.contains("chirp_fanout_lag_seconds_count{service=\"fanout\"} 1"))
            .then_some(text)
        })
        .await;
        let logins = r#"chirp_logins_total{service="auth",outcome="#;
        assert_eq!(metric(&text, &format!(r#"{logins}"failure"}}"#)), 1.0);
        assert_eq!(metric(&text, &format!(r#"{logins}"success"}}"#)), 1.0);
        // A post to its author's home and its follower's.
        assert_eq!(
            metric(&text, r#"chirp_fanout_deliveries_total{service="fanout"}"#),
            2.0
        );
        assert_eq!(
            metric(&text, r#"chirp_fanout_lag_seconds_count{service="fanout"}"#),
            1.0
        );
        assert_eq!(
            metric(
                &text,
                r#"chirp_events_published_total{service="write",topic="chirp.posts"}"#
            ),
            1.0
        );
        assert!(
            metric(
                &text,
                r#"chirp_events_consumed_total{service="fanout",group="chirp-fanout",topic="chirp.posts"}"#
            ) >= 1.0
        );
        assert_eq!(
            metric(
                &text,
                r#"chirp_search_indexing_lag_seconds_count{service="search"}"#
            ),
            1.0
        );
        // The first read found no timeline and rebuilt it; the later ones found it.
        assert_eq!(
            metric(
                &text,
                r#"chirp_timeline_cache_misses_total{service="timeline"}"#
            ),
            metric(
                &text,
                r#"chirp_timeline_rebuilds_total{service="timeline"}"#
            )
        );
        assert!(
            metric(
                &text,
                r#"chirp_timeline_cache_hits_total{service="timeline"}"#
            ) >= 1.0
        );
        assert!(text.contains(r#"chirp_outbox_backlog{service="write",outbox="write"}"#));
        assert!(text.contains(r#"chirp_outbox_oldest_age_seconds{service="write",outbox="write"}"#));
        // Calls to the deployed dependencies are timed (the embedded ones are in-process).
        let with = std::env::var("CHIRP_TEST_WITH").unwrap_or_default();
        for (dependency, operation) in [
            ("kafka", "publish"),
            ("elasticsearch", "bulk"),
            ("redis", "timeline_page"),
            ("redis", "session_start"),
            ("redis", "limit_attempt"),
            ("postgres", "recent_posts"),
            ("postgres", "post_create"),
            ("postgres", "follow"),
            ("postgres", "profile_create"),
            ("postgres", "posts_find"),
            ("postgres", "outbox_pending"),
            ("mongodb", "identity_insert"),
            ("mongodb", "identity_find"),
        ] {
            if with.contains(dependency) {
                let series = format!(
                    r#"chirp_dependency_duration_seconds_count{{service="all",dependency="{dependency}",operation="{operation}"}}"#
                );
                assert!(metric(&text, &series) >= 1.0, "{series}");
            }
        }
        // Consumers report how far behind they are every few seconds; by now, nothing.
        // (The topic label is the log's own name: with Kafka, behind the topic prefix.)
        let lag = r#"chirp_consumer_lag{service="fanout",group="chirp-fanout",topic=""#;
        eventually_within(
            std::time::Duration::from_secs(15),
            "the fanout group reports its lag",
            || async {
                let text = app.get("/metrics", None).await.text().await.unwrap();
                let behind: Vec<f64> = text
                    .lines()
                    .filter(|l| l.starts_with(lag) && l.contains(r#"chirp.posts""#))
                    .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
                    .collect();
                (!behind.is_empty() && behind.iter().all(|b| *b == 0.0)).then_some(())
            },
        )
        .await;
    }

    #[tokio::test]
    async fn readiness_names_a_dependency_that_is_down() {
        let app = spawn_local().await;
        // Take away the store that holds users: PostgreSQL when configured, else SQLite.
        let stores = &app.system().stores;
        let name = match (&stores.postgres, &stores.sqlite) {
            (Some(pg), _) => {
                pg.pool.close().await;
                "postgres"
            }
            (None, Some(db)) => {
                db.close().await;
                "sqlite"
            }
            (None, None) => panic!("chirp all keeps users somewhere"),
        };
        let doc = assert_problem(
            app.get("/readyz", None).await,
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
        assert!(doc["detail"].as_str().unwrap().contains(name), "{doc}");
        // Requests that need the store get 503 too, never a 500 or a panic.
        assert_problem(
            app.get("/api/v1/users/1", None).await,
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
        assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    }

    /// Configured dependencies that are down make the process unready and the requests that
    /// need them 503; the process starts anyway and keeps serving what it can.
    #[tokio::test]
    async fn dependencies_down_at_start_are_503_not_a_crash() {
        // Nothing listens on port 1.
        let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
        let mut settings = chirp::Settings::for_tests(dir.path().to_path_buf());
        settings.database_url = Some("postgres://postgres@127.0.0.1:1/none".into());
        settings.redis_url = Some("redis://127.0.0.1:1".into());
        let app = launch(settings, dir, std::sync::Arc::new(Deps::default())).await;
        assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
        let doc = assert_problem(
            app.get("/readyz", None).await,
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
        let detail = doc["detail"].as_str().unwrap();
        assert!(
            detail.contains("postgres") || detail.contains("redis"),
            "{doc}"
        );
        assert_problem(
            app.get("/api/v1/users/1", None).await,
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
        let res = app.login("nobody", "whatever password").await;
        assert_problem(res, StatusCode::SERVICE_UNAVAILABLE).await;
    }

    /// A signup that finds the session store down is a 503 and leaves no account behind,
    /// so that the same signup succeeds once the store is back (not a 409 for the account
    /// of a signup that failed).
    #[tokio::test]
    async fn signup_with_the_session_store_down_creates_no_account() {
        let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
        let deps = std::sync::Arc::new(Deps::from_env().await);
        let mut settings = chirp::Settings::for_tests(dir.path().to_path_buf());
        deps.configure(&mut settings);
        // Nothing listens on port 1.
        settings.redis_url = Some("redis://127.0.0.1:1".into());
        let app = launch(settings, dir, deps).await;
        let handle = format!("nosession_{}", app.tag);
        let signup = serde_json::json!({
            "handle": handle,
            "email": format!("{handle}@example.com"),
            "password": "a long enough password",
        });
        assert_problem(
            app.signup_raw(signup.clone()).await,
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
        assert_problem(
            app.get(&format!("/api/v1/users?handle={handle}"), None)
                .await,
            StatusCode::NOT_FOUND,
        )
        .await;

        let redis = chirp_testkit::TestRedisPrefix::new();
        let app = app
            .restart(|s| {
                s.redis_url = Some(redis.url.clone());
                s.redis_prefix = redis.prefix.clone();
            })
            .await;
        let res = app.signup_raw(signup).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let tokens = body(res).await;
        assert_eq!(tokens["user"]["handle"], handle.as_str(), "{tokens}");
        let found = app
            .get_json(&format!("/api/v1/users?handle={handle}"), None)
            .await;
        assert_eq!(found["id"], tokens["user"]["id"], "{found}");
    }
}
