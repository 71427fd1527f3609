//! `/healthz`, `/readyz` and `/metrics`, which every service answers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde_json::json;

use crate::error::problem_response;
use crate::http::metrics::Telemetry;

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
struct OpsState {
    readiness: Readiness,
    telemetry: Telemetry,
}

pub fn router(readiness: Readiness, telemetry: Telemetry) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(OpsState {
            readiness,
            telemetry,
        })
}

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
