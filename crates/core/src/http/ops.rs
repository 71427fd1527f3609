//! `/healthz`, `/readyz` and `/metrics`, which every service answers, and the pages of the
//! problem types (`/problems/<slug>`) its errors point to.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde_json::json;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::problem_response;
use crate::http::metrics::Telemetry;
use crate::openapi::{ProblemSchema, PROBLEM_TYPES};

/// A check of one dependency.
pub type CheckFn = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

#[derive(Clone)]
pub struct ReadinessCheck {
    pub dependency: &'static str,
    pub check: CheckFn,
}

impl ReadinessCheck {
    pub fn new<F, Fut>(dependency: &'static str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        ReadinessCheck {
            dependency,
            check: Arc::new(move || Box::pin(f())),
        }
    }
}

/// Every dependency a process needs, checked by `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<ReadinessCheck>,
}

impl Readiness {
    pub fn add(&mut self, check: ReadinessCheck) {
        if !self.checks.iter().any(|c| c.dependency == check.dependency) {
            self.checks.push(check);
        }
    }

    pub fn extend(&mut self, other: &Readiness) {
        for c in &other.checks {
            self.add(c.clone());
        }
    }

    /// The first dependency that does not answer within two seconds, with why.
    pub async fn first_failure(&self) -> Option<(&'static str, String)> {
        for c in &self.checks {
            let outcome =
                tokio::time::timeout(std::time::Duration::from_secs(2), (c.check)()).await;
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Some((c.dependency, format!("{e:#}"))),
                Err(_) => return Some((c.dependency, "timed out".into())),
            }
        }
        None
    }
}

#[derive(Clone)]
pub struct OpsState {
    readiness: Readiness,
    telemetry: Telemetry,
}

/// The operations routes and their part of the OpenAPI document.
pub fn routes() -> OpenApiRouter<OpsState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(problem_type))
}

pub fn router(readiness: Readiness, telemetry: Telemetry) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(OpsState {
        readiness,
        telemetry,
    })
}

/// The operations routes' part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// Whether the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    responses((status = 200, description = "The process runs", body = inline(Status))),
)]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `{"status": ...}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Status {
    #[schema(example = "ok")]
    status: String,
}

/// Whether every dependency the process needs answers (not routed by the gateway).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready", body = inline(Status)),
        (status = 503, description = "A dependency is down; the detail names it", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn readyz(State(s): State<OpsState>) -> Response {
    match s.readiness.first_failure().await {
        None => Json(json!({"status": "ready"})).into_response(),
        Some((dep, why)) => {
            tracing::warn!(dependency = dep, error = %why, "not ready");
            problem_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "dependency-unavailable",
                format!("{dep} is unavailable"),
            )
        }
    }
}

/// The process's metrics in the OpenMetrics text format (not routed by the gateway).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    responses((status = 200, description = "Metrics", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")),
)]
async fn metrics(State(s): State<OpsState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.telemetry.render(),
    )
        .into_response()
}

/// What a problem type means: the page a problem document's `type` points to.
#[utoipa::path(
    get,
    path = "/problems/{slug}",
    tag = "operations",
    operation_id = "problem_type",
    params(("slug" = String, Path, description = "The problem type", pattern = "^[a-z-]+$", example = "not-found")),
    responses(
        (status = 200, description = "What the problem type means", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "No such problem type", body = ProblemSchema, content_type = "application/problem+json"),
    ),
)]
async fn problem_type(Path(slug): Path<String>) -> Response {
    let known = PROBLEM_TYPES.iter().find(|(s, ..)| *s == slug);
    match known {
        Some((slug, status, title, what)) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{slug}: {status} {title}\n\n{what}\n"),
        )
            .into_response(),
        None => problem_response(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no problem type {slug:?}"),
        ),
    }
}
