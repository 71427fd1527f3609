//! Operations routes and the edges of the router.

use reqwest::{Method, StatusCode};

use crate::helpers::*;

#[tokio::test]
async fn unknown_routes_and_methods_are_problem_documents() {
    let app = spawn_app().await;
    assert_problem(app.get("/nowhere", None).await, StatusCode::NOT_FOUND).await;
    assert_problem(app.get("/api/v1/nope", None).await, StatusCode::NOT_FOUND).await;
    let res = app.send(Method::PUT, "/api/v1/posts", None, None).await;
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED).await;
    let res = app
        .send(Method::DELETE, "/api/v1/auth/me", None, None)
        .await;
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

    #[tokio::test]
    async fn readiness_names_a_dependency_that_is_down() {
        let app = spawn_local().await;
        // Take away the store that holds users: PostgreSQL when configured, else SQLite.
        let name = match &app.system().pg {
            Some(pg) => {
                pg.pool.close().await;
                "postgres"
            }
            None => {
                app.system().db.reader.close().await;
                "database"
            }
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
}
