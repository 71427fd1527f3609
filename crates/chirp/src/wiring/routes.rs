//! The routers of a process: the public API of the services its role runs, each under its
//! own metrics label, and for the services other processes call, their internal API,
//! served on a listener of its own that no gateway routes to.

use std::sync::Arc;

use axum::Router;
use chirp_auth::AuthState;
use chirp_core::http::extract::TrustForwardedFor;
use chirp_core::http::layers::internal_routes;
use chirp_core::http::rate_limits::{ApiLimits, Counted};
use chirp_core::http::{service_routes, Telemetry};
use chirp_core::token::TokenVerifier;
use chirp_graph::GraphState;
use chirp_read::ReadState;
use chirp_write::WriteState;

use super::services::Services;
use crate::config::Command;

/// The public API of `role`.
pub fn public(
    role: Command,
    s: &Services,
    verifier: Option<&TokenVerifier>,
    trust_forwarded_for: bool,
    limits: Option<&ApiLimits>,
    t: &Telemetry,
) -> Router {
    // A service's routes under its limits, then its metrics (which count the 429s too).
    let service_routes = |service: &'static str, t: &Telemetry, routes: Router| {
        let counted = match service {
            "write" | "graph" => Counted::RequestsAndWrites,
            _ => Counted::Requests,
        };
        let routes = match limits {
            Some(limits) => limits.apply(service, t, counted, routes),
            None => routes,
        };
        service_routes(service, t, routes)
    };
    let mut api = Router::new();
    let trust = TrustForwardedFor(trust_forwarded_for);
    if let Some(peers) = &s.mastodon {
        // `chirp mastodon`: the facade alone, every request a call to its peers.
        let closing = s.mastodon_closing.clone();
        return mastodon_routes(
            peers.api.clone(),
            peers.oauth.clone(),
            closing,
            trust,
            limits,
            t,
        );
    }
    if let Some(auth) = &s.auth {
        let state = AuthState {
            auth: auth.clone(),
            trust_forwarded_for: trust,
        };
        let routes = service_routes("auth", t, chirp_auth::router(state));
        api = api.merge(routes.clone());
        if role.runs(Command::Web) {
            // The web client's sessions call AuthService's public API: here, in process.
            let auth = Arc::new(chirp_web::InProcessAuthApi::new(routes));
            api = api.merge(web_routes(auth, trust, t, &service_routes));
        }
    } else if let Some(auth) = &s.web_auth {
        api = api.merge(web_routes(auth.clone(), trust, t, &service_routes));
    }
    let verifier = verifier.cloned().unwrap_or_default();
    if let Some(write) = &s.write {
        let state = WriteState {
            posts: write.clone(),
            verifier: verifier.clone(),
        };
        // Alone behind a gateway that cannot route by method, WriteService answers the
        // reads of a post too.
        let serve_reads = role == Command::Write;
        api = api.merge(service_routes(
            "write",
            t,
            chirp_write::router(state, serve_reads),
        ));
    }
    if let Some(graph) = &s.graph {
        let state = GraphState {
            graph: graph.clone(),
            verifier: verifier.clone(),
        };
        api = api.merge(service_routes("graph", t, chirp_graph::router(state)));
    }
    if let Some(read) = &s.read {
        let state = ReadState {
            read: read.clone(),
            verifier: verifier.clone(),
        };
        api = api.merge(service_routes("read", t, chirp_read::router(state)));
        // The whole OpenAPI document: ReadService's to serve, for the gateway.
        api = api.merge(service_routes("read", t, crate::openapi::router()));
    }
    if let Some(search) = &s.search {
        api = api.merge(service_routes(
            "search",
            t,
            chirp_search::router(chirp_search::SearchState {
                search: search.clone(),
                verifier: verifier.clone(),
            }),
        ));
    }
    if let Some(notifications) = &s.notifications {
        api = api.merge(service_routes(
            "notifications",
            t,
            chirp_notify::router(chirp_notify::NotificationState {
                notifications: notifications.clone(),
                verifier,
            }),
        ));
    }
    api
}

/// The Mastodon facade of `chirp all`, on its own listener: over the public API `api` of
/// this process and its AuthService, both in process.
pub fn mastodon_in_process(
    s: &Services,
    api: Router,
    trust_forwarded_for: bool,
    limits: Option<&ApiLimits>,
    t: &Telemetry,
) -> Option<Router> {
    let auth = s.auth.clone()?;
    Some(mastodon_routes(
        Arc::new(chirp_mastodon::InProcessApi::new(api)),
        Arc::new(chirp_mastodon::InProcessOAuth(auth)),
        s.mastodon_closing.clone(),
        TrustForwardedFor(trust_forwarded_for),
        limits,
        t,
    ))
}

/// The facade's routes, under the role's limits and counted in its metrics.
fn mastodon_routes(
    api: Arc<dyn chirp_mastodon::ports::ChirpApi>,
    oauth: Arc<dyn chirp_mastodon::ports::OAuthApi>,
    closing: tokio_util::sync::CancellationToken,
    trust_forwarded_for: TrustForwardedFor,
    limits: Option<&ApiLimits>,
    t: &Telemetry,
) -> Router {
    let routes = chirp_mastodon::router(chirp_mastodon::MastodonState {
        api,
        oauth,
        trust_forwarded_for,
        closing,
    });
    let routes = match limits {
        Some(limits) => limits.apply("mastodon", t, Counted::Requests, routes),
        None => routes,
    };
    service_routes("mastodon", t, routes)
}

/// The web client's session routes (under the role's limits) and its pages and assets
/// (counted in its metrics, not against a client's requests).
fn web_routes(
    auth: Arc<dyn chirp_web::AuthApi>,
    trust_forwarded_for: TrustForwardedFor,
    t: &Telemetry,
    limited: &dyn Fn(&'static str, &Telemetry, Router) -> Router,
) -> Router {
    let state = chirp_web::WebState {
        auth,
        trust_forwarded_for,
    };
    limited("web", t, chirp_web::session_router(state)).merge(service_routes(
        "web",
        t,
        chirp_web::pages_router(),
    ))
}

/// The internal API of `role`, for peers in other processes; `None` for a role without
/// one (`chirp all` calls its services in process).
pub fn internal(
    role: Command,
    s: &Services,
    secret: Option<&str>,
    t: &Telemetry,
) -> Option<Router> {
    let (service, router) = match role {
        Command::Read => ("read", chirp_read::routes::internal_router(s.read.clone()?)),
        Command::Graph => (
            "graph",
            chirp_graph::routes::internal_router(s.graph.clone()?),
        ),
        Command::Timeline => (
            "timeline",
            chirp_timeline::routes::internal_router(s.timelines.clone()?),
        ),
        Command::Auth => (
            "auth",
            chirp_auth::oauth::routes::internal_router(s.auth.clone()?),
        ),
        _ => return None,
    };
    Some(service_routes(service, t, internal_routes(router, secret)))
}
