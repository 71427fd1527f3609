//! The client's files, embedded in the binary at build time (no CDN, nothing fetched at
//! run time), served under `/assets/` with a validator: a browser keeps each file and
//! asks again with `If-None-Match` (a 304 when it has not changed), so a new binary's
//! files are picked up on the next load without a version in every import.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chirp_core::ApiError;

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `/assets/`.
pub const ASSETS: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/session.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/text.js", JS),
    asset!("js/posts.js", JS),
    asset!("js/live.js", JS),
    asset!("js/compose.js", JS),
    asset!("js/badge.js", JS),
    asset!("js/hub.js", JS),
    asset!("js/pages/home.js", JS),
    asset!("js/pages/auth.js", JS),
    asset!("js/pages/thread.js", JS),
    asset!("js/pages/profile.js", JS),
    asset!("js/pages/notifications.js", JS),
    asset!("js/pages/search.js", JS),
    asset!("js/pages/settings.js", JS),
];

/// The page shell every page path answers with.
pub const SHELL: &[u8] = include_bytes!("../assets/index.html");

/// The policy every answer of the web role carries: scripts, styles and connections from
/// this origin only (no inline script or style, so text that slipped into the page as
/// markup could not run), no frames, no plug-ins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers of every page and asset.
pub fn security_headers(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
}

/// A strong validator of `body`: FNV-1a over its bytes (a change of file is a change of
/// tag; nothing here needs a cryptographic hash).
pub fn etag(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

/// The tags of [`ASSETS`], in the same order, made once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| ASSETS.iter().map(|a| etag(a.body)).collect())
}

/// `body` as an answer with `tag`, or a 304 when the request already holds that version.
pub fn validated(
    request: &HeaderMap,
    tag: &str,
    content_type: &'static str,
    body: &'static [u8],
) -> Response {
    // The weak comparison `If-None-Match` calls for (RFC 9110 13.1.2): a gateway that
    // compresses the answer marks its tag weak (`W/"..."`), and the browser sends that.
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').map(str::trim).any(|t| {
                t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag.trim_start_matches("W/")
            })
        });
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut res = body.into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        res
    };
    let headers = res.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, tag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(headers);
    res
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let i = ASSETS
        .iter()
        .position(|a| a.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no asset {name}")))?;
    let a = &ASSETS[i];
    Ok(validated(&headers, &etags()[i], a.content_type, a.body))
}

pub fn router() -> Router {
    Router::new().route("/assets/{*name}", get(asset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_shell_and_modules_import_is_embedded() {
        let shell = std::str::from_utf8(SHELL).unwrap_or_default();
        let mut wanted: Vec<String> = Vec::new();
        let mut refs = |text: &str, base: &str| {
            for part in text.split(['"', '\'']) {
                if let Some(rest) = part.strip_prefix("/assets/") {
                    wanted.push(rest.to_owned());
                } else if part.ends_with(".js") && part.starts_with('.') {
                    let joined = format!("{base}/{part}");
                    wanted.push(normalize(&joined));
                }
            }
        };
        refs(shell, "");
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let dir = a.name.rsplit_once('/').map_or("", |(d, _)| d);
            refs(std::str::from_utf8(a.body).unwrap_or_default(), dir);
        }
        assert!(wanted.iter().any(|w| w == "js/main.js"));
        for w in wanted {
            assert!(
                ASSETS.iter().any(|a| a.name == w),
                "{w} is referenced but not embedded"
            );
        }
    }

    /// `a/./b/../c.js` as `a/c.js`.
    fn normalize(path: &str) -> String {
        let mut out: Vec<&str> = Vec::new();
        for seg in path.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    out.pop();
                }
                s => out.push(s),
            }
        }
        out.join("/")
    }

    #[test]
    fn a_tag_changes_with_the_content_and_a_fresh_copy_is_a_304() {
        assert_ne!(etag(b"a"), etag(b"b"));
        let tag = etag(b"body");
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\""));
        assert_eq!(validated(&h, &tag, JS, b"body").status(), StatusCode::OK);
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("")),
        );
        let res = validated(&h, &tag, JS, b"body");
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        let weak = format!("W/{tag}");
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&weak).unwrap_or(HeaderValue::from_static("")),
        );
        assert_eq!(
            validated(&h, &tag, JS, b"body").status(),
            StatusCode::NOT_MODIFIED
        );
        assert!(res.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }
}
