//! The web client: the pages people use in a browser.
//!
//! It is a client of the public API like any other: one page shell
//! (`assets/index.html`) and a few ES modules, embedded in the binary, that draw every
//! page in the browser from `/api/v1`. The server side is only what a browser cannot do
//! for itself: keeping the refresh token where no script can read it, in an `HttpOnly`
//! cookie, which the session routes of [`session`] trade with AuthService's public API
//! for the short-lived access tokens the page holds in memory.

pub mod assets;
pub mod auth_api;
pub mod pages;
pub mod session;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::Router;
use chirp_core::http::extract::TrustForwardedFor;
use utoipa_axum::router::OpenApiRouter;

pub use auth_api::{AuthApi, HttpAuthApi, InProcessAuthApi};

/// What the web routes need.
#[derive(Clone)]
pub struct WebState {
    /// AuthService's public API: in process in `chirp all`, over HTTP in `chirp web`.
    pub auth: Arc<dyn AuthApi>,
    /// Whether `X-Forwarded-For` and `X-Forwarded-Proto` come from a proxy we trust: the
    /// client's address for AuthService's login throttles, and whether the page was
    /// served over HTTPS (the session cookie is then `Secure`).
    pub trust_forwarded_for: TrustForwardedFor,
}

impl FromRef<WebState> for TrustForwardedFor {
    fn from_ref(s: &WebState) -> Self {
        s.trust_forwarded_for
    }
}

/// The session routes, with their part of the OpenAPI document.
pub fn routes() -> OpenApiRouter<WebState> {
    session::routes()
}

/// The session routes (each a call to AuthService: limited like the API's requests).
pub fn session_router(state: WebState) -> Router {
    let (sessions, _) = routes().split_for_parts();
    sessions.with_state(state)
}

/// The pages and their assets (about twenty requests a page load, most of them a 304:
/// not counted against a client's API requests).
pub fn pages_router() -> Router {
    pages::router().merge(assets::router())
}
