//! The page paths. Each answers with the same shell; the scripts read the path and draw
//! the page (history API), so a link to a profile or a post can be opened, bookmarked
//! and reloaded. A path that names no page is the API's 404.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chirp_core::ApiError;

use crate::assets::{etag, validated, SHELL};

/// The pages: `/{handle}` and its sub-pages only for `@`-handles.
pub const PAGES: &[&str] = &[
    "/",
    "/login",
    "/signup",
    "/notifications",
    "/search",
    "/settings",
    "/posts/{id}",
];

/// A profile's pages, under `/@handle`.
const PROFILE_TABS: &[&str] = &["followers", "following", "likes"];

fn shell(headers: &HeaderMap) -> Response {
    static TAG: OnceLock<String> = OnceLock::new();
    let tag = TAG.get_or_init(|| etag(SHELL));
    validated(headers, tag, "text/html; charset=utf-8", SHELL)
}

async fn page(headers: HeaderMap) -> Response {
    shell(&headers)
}

/// `/@handle`: the profile page.
async fn profile(Path(at): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    is_handle_path(&at)?;
    Ok(shell(&headers))
}

/// `/@handle/followers`, `/following`, `/likes`.
async fn profile_tab(
    Path((at, tab)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    is_handle_path(&at)?;
    if !PROFILE_TABS.contains(&tab.as_str()) {
        return Err(not_found());
    }
    Ok(shell(&headers))
}

/// `@` and a handle's characters (whether such a user exists is the page's to find out);
/// anything else is a 404.
fn is_handle_path(at: &str) -> Result<(), ApiError> {
    let handle = at.strip_prefix('@').ok_or_else(not_found)?;
    let valid = (1..=30).contains(&handle.len())
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match valid {
        true => Ok(()),
        false => Err(not_found()),
    }
}

/// Its own words, so that a check at the gateway can tell a path it sent here by mistake
/// (`scripts/check-deploy.sh`) from one it answered itself ("no such route").
fn not_found() -> ApiError {
    ApiError::NotFound("no such page".into())
}

async fn no_route() -> ApiError {
    not_found()
}

pub fn router() -> Router {
    let mut r = Router::new();
    for p in PAGES {
        r = r.route(p, get(page));
    }
    // Every path of one or two segments matches these two: any method but GET there is
    // a path that names nothing (404), not a page's other method (405).
    r.route("/{at}", get(profile).fallback(no_route))
        .route("/{at}/{tab}", get(profile_tab).fallback(no_route))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_at_handles_are_profile_paths() {
        assert!(is_handle_path("@alice_1").is_ok());
        assert!(is_handle_path("alice").is_err());
        assert!(is_handle_path("@").is_err());
        assert!(is_handle_path("@al-ice").is_err());
        assert!(is_handle_path(&format!("@{}", "a".repeat(31))).is_err());
    }
}
