//! The layers around every service: body limits, a problem document for every error
//! (unknown routes and wrong methods included), panics turned into 500s, request logs,
//! security headers.

use std::any::Any;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use sha2::{Digest, Sha256};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::error::{problem_response, ApiError, PROBLEM_JSON};
use crate::http::metrics::{track, RouteMetrics, Telemetry};
use crate::http::ops::{self, Readiness};
use crate::peers_http::INTERNAL_SECRET_HEADER;

/// The largest request body accepted, unless configured otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// A service's API routes, with per-route metrics labelled with the service's name.
pub fn service_routes(service: &'static str, telemetry: &Telemetry, routes: Router) -> Router {
    routes.route_layer(middleware::from_fn_with_state(
        RouteMetrics {
            service,
            telemetry: telemetry.clone(),
        },
        track,
    ))
}

/// An internal API's routes, refusing (401) any call that does not carry `secret` in the
/// [`INTERNAL_SECRET_HEADER`]; with no secret, every call that reaches the listener.
pub fn internal_routes(routes: Router, secret: Option<&str>) -> Router {
    let Some(secret) = secret else {
        return routes;
    };
    let expected: std::sync::Arc<[u8; 32]> = std::sync::Arc::new(Sha256::digest(secret).into());
    routes.route_layer(middleware::from_fn(move |req: Request, next: Next| {
        let expected = expected.clone();
        async move {
            let given = req
                .headers()
                .get(INTERNAL_SECRET_HEADER)
                .map(|v| Sha256::digest(v.as_bytes()));
            // Digests of equal length, compared in full: the time taken says nothing of
            // how much of the secret was right.
            let matches = given.is_some_and(|g| {
                g.iter()
                    .zip(expected.iter())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
            });
            if !matches {
                return ApiError::Unauthorized(
                    "the internal API takes calls from Chirp's services only".into(),
                )
                .into_response();
            }
            next.run(req).await
        }
    }))
}

/// The whole router of a process: its services' routes plus the operations routes, under
/// the shared layers.
pub fn finish(
    api: Router,
    readiness: Readiness,
    telemetry: Telemetry,
    body_limit: usize,
) -> Router {
    finish_as(api, readiness, telemetry, body_limit, ErrorShape::Problem)
}

/// How a listener's error answers look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// Chirp's problem documents (API.md).
    Problem,
    /// Mastodon's `{"error": "..."}`, which Mastodon clients read: the answers of the
    /// routes are their own, and what the layers answer (an unknown method, a body over
    /// the limit) is told in that shape too.
    Mastodon,
}

/// [`finish`], with the error answers of `shape`.
pub fn finish_as(
    api: Router,
    readiness: Readiness,
    telemetry: Telemetry,
    body_limit: usize,
    shape: ErrorShape,
) -> Router {
    let api = api.merge(ops::router(readiness, telemetry));
    let api = match shape {
        ErrorShape::Problem => {
            api.fallback(|| async { ApiError::NotFound("no such route".into()) })
        }
        // The routes have their own.
        ErrorShape::Mastodon => api,
    };
    api.layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            reject_large_bodies(req, next, body_limit)
        }))
        .layer(middleware::from_fn(
            move |req: Request, next: Next| async move {
                match shape {
                    ErrorShape::Problem => problems_everywhere(req, next).await,
                    ErrorShape::Mastodon => mastodon_errors(req, next).await,
                }
            },
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(log_request))
        .layer(middleware::from_fn(security_headers))
}

/// The policy of anything that is not JSON (the metrics' text, a future page): it may
/// load nothing and be framed by nobody.
pub const STRICT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Headers on every answer: no content-type sniffing, no referrer sent on, and a strict
/// content security policy on anything that is not JSON (a route that serves a page sets
/// its own).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let json = headers.get(header::CONTENT_TYPE).is_some_and(|ct| {
        let ct = ct.as_bytes();
        ct.starts_with(b"application/json") || ct.starts_with(PROBLEM_JSON.as_bytes())
    });
    if !json && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(STRICT_CSP),
        );
    }
    res
}

/// A declared length over the limit is refused before any handler reads the body.
async fn reject_large_bodies(req: Request, next: Next, limit: usize) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::PayloadTooLarge(format!("the body is over the limit of {limit} bytes"))
            .into_response();
    }
    next.run(req).await
}

/// Errors that the framework answers itself (405, a rejected extractor) become problem
/// documents too.
async fn problems_everywhere(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return res;
    }
    let (parts, _body) = res.into_parts();
    let mut replaced = problem_response(
        status,
        slug(status),
        status.canonical_reason().unwrap_or("error").to_lowercase(),
    );
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replaced.headers_mut().insert(name.clone(), value.clone());
        }
    }
    replaced
}

/// An error answer of the layers (a problem document, a plain-text rejection of an
/// extractor, an empty 405), told as Mastodon's `{"error"}`; the routes' own answers
/// (JSON, and the sign-in pages' HTML) pass as they are.
async fn mastodon_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let routes_own = res.headers().get(header::CONTENT_TYPE).is_some_and(|ct| {
        let ct = ct.as_bytes();
        ct.starts_with(b"application/json") || ct.starts_with(b"text/html")
    });
    if routes_own {
        return res;
    }
    let (parts, _body) = res.into_parts();
    let reason = status.canonical_reason().unwrap_or("error");
    let mut replaced = (status, axum::Json(serde_json::json!({"error": reason}))).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replaced.headers_mut().insert(name.clone(), value.clone());
        }
    }
    replaced
}

fn slug(status: StatusCode) -> &'static str {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        s if s.is_server_error() => "internal",
        _ => "bad-request",
    }
}

fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = what, "a request handler panicked");
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "an internal error occurred".into(),
    )
}

/// Where the token check leaves the id of the user a request was made by, for its log.
#[derive(Clone, Default)]
pub struct RequestUser(pub std::sync::Arc<std::sync::OnceLock<u64>>);

/// One span and one log line per request: method, path (never the query, which may carry
/// a search of someone's), status, duration in nanoseconds, and the user when known. The
/// span continues the caller's trace when the request carries a `traceparent`.
async fn log_request(mut req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!(
        "request",
        otel.name = %method,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        url.path = %path,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        chirp.service = tracing::field::Empty,
    );
    crate::traces::adopt_headers(&span, req.headers());
    let user = RequestUser::default();
    req.extensions_mut().insert(user.clone());
    let res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let duration = started.elapsed().as_nanos() as u64;
    let _in = span.enter();
    match user.0.get() {
        Some(id) => tracing::info!(
            http.request.method = %method,
            url.path = %path,
            http.response.status_code = status,
            event.duration = duration,
            user.id = %id,
            "request"
        ),
        None => tracing::info!(
            http.request.method = %method,
            url.path = %path,
            http.response.status_code = status,
            event.duration = duration,
            "request"
        ),
    }
    res
}
