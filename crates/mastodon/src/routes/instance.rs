//! The instance's description (v1 and v2), what Chirp has nothing behind (answered with
//! valid empty results, so that full apps start), and the default avatar.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::entities::MASTODON_VERSION;
use crate::error::MastoResult;
use crate::request::Req;
use crate::MastodonState;

const TITLE: &str = "Chirp";
const DESCRIPTION: &str = "A short-post social network (Chirp), speaking the Mastodon client API.";

fn host(req: &Req) -> &str {
    req.base.split("://").nth(1).unwrap_or("localhost")
}

/// The streaming API's base: this origin, over WebSocket.
fn streaming(req: &Req) -> String {
    req.base
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1)
}

fn version() -> String {
    format!(
        "{MASTODON_VERSION} (compatible; Chirp {})",
        env!("CARGO_PKG_VERSION")
    )
}

fn limits() -> Value {
    json!({
        "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
        "statuses": {"max_characters": 280, "max_media_attachments": 0, "characters_reserved_per_url": 0},
        "media_attachments": {
            "supported_mime_types": [], "image_size_limit": 0, "image_matrix_limit": 0,
            "video_size_limit": 0, "video_frame_rate_limit": 0, "video_matrix_limit": 0,
        },
        "polls": {"max_options": 0, "max_characters_per_option": 0, "min_expiration": 0, "max_expiration": 0},
    })
}

/// `GET /api/v1/instance`.
pub async fn v1(req: Req) -> Response {
    let mut configuration = limits();
    configuration["statuses"]["max_characters"] = json!(280);
    Json(json!({
        "uri": host(&req),
        "title": TITLE,
        "short_description": DESCRIPTION,
        "description": DESCRIPTION,
        "email": "",
        "version": version(),
        "urls": {"streaming_api": streaming(&req)},
        "stats": {"user_count": 0, "status_count": 0, "domain_count": 1},
        "thumbnail": null,
        "languages": ["en"],
        "registrations": true,
        "approval_required": false,
        "invites_enabled": false,
        "configuration": configuration,
        "contact_account": null,
        "rules": [],
    }))
    .into_response()
}

/// `GET /api/v2/instance`.
pub async fn v2(req: Req) -> Response {
    let mut configuration = limits();
    configuration["urls"] = json!({"streaming": streaming(&req), "status": null});
    configuration["translation"] = json!({"enabled": false});
    configuration["vapid"] = json!({"public_key": ""});
    Json(json!({
        "domain": host(&req),
        "title": TITLE,
        "version": version(),
        "source_url": "https://github.com/chirp-social/chirp",
        "description": DESCRIPTION,
        "usage": {"users": {"active_month": 0}},
        "thumbnail": {"url": format!("{}/assets/icon.svg", req.base)},
        "icon": [],
        "languages": ["en"],
        "configuration": configuration,
        "registrations": {"enabled": true, "approval_required": false, "message": null, "url": null},
        "api_versions": {"mastodon": 2},
        "contact": {"email": "", "account": null},
        "rules": [],
    }))
    .into_response()
}

/// An empty list, for what Chirp has nothing behind (lists, filters, custom emojis,
/// announcements, trends, ...).
pub async fn empty_list() -> Response {
    Json(json!([])).into_response()
}

/// An empty list, for a signed-in user's lists of things Chirp does not have (follow
/// requests, bookmarks, conversations, ...): still 401 without a valid token.
pub async fn empty_user_list(State(s): State<MastodonState>, req: Req) -> MastoResult<Response> {
    s.token_owner(&req).await?;
    Ok(Json(json!([])).into_response())
}

/// `GET /api/v1/preferences`.
pub async fn preferences(State(s): State<MastodonState>, req: Req) -> MastoResult<Response> {
    s.caller(&req, "read:accounts").await?;
    Ok(Json(json!({
        "posting:default:visibility": "public",
        "posting:default:sensitive": false,
        "posting:default:language": null,
        "reading:expand:media": "default",
        "reading:expand:spoilers": false,
    }))
    .into_response())
}

/// A 1×1 grey PNG: every account's avatar and header (Chirp has no images).
const MISSING_PNG: &[u8] = include_bytes!("../../assets/missing.png");

pub async fn missing_png() -> Response {
    let mut res = MISSING_PNG.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    res
}
