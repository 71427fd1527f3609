//! The facade's routes, one module per area of Mastodon's API.

mod accounts;
mod instance;
mod oauth;
mod statuses;
mod streaming;
mod timelines;
mod websocket;

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::MastoError;
use crate::MastodonState;

/// Mastodon's answer for a path it does not have; a path with a trailing slash (which
/// Mastodon's router takes, and some clients send: Mastodon.py's `/api/v1/conversations/`)
/// is sent on to the same path without it, method and body kept (308).
async fn not_found(uri: Uri) -> Response {
    let path = uri.path();
    let trimmed = path.trim_end_matches('/');
    // Only an API path of plain characters: never `//host` or `/\host`, which a browser
    // reads as another site.
    let plain = trimmed.starts_with("/api/")
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b))
        && !trimmed.contains("//");
    if plain && trimmed.len() < path.len() {
        let mut target = trimmed.to_owned();
        if let Some(q) = uri.query() {
            target.push('?');
            target.push_str(q);
        }
        if let Ok(location) = HeaderValue::from_str(&target) {
            let mut res = StatusCode::PERMANENT_REDIRECT.into_response();
            res.headers_mut().insert(header::LOCATION, location);
            return res;
        }
    }
    MastoError::new(StatusCode::NOT_FOUND, "Record not found").into_response()
}

pub fn router() -> Router<MastodonState> {
    use accounts as a;
    use instance as i;
    use statuses as st;
    use timelines as t;
    Router::new()
        // The instance, with and without the trailing slash Mastodon.py sends.
        .route("/api/v1/instance", get(i::v1))
        .route("/api/v1/instance/", get(i::v1))
        .route("/api/v2/instance", get(i::v2))
        .route("/api/v2/instance/", get(i::v2))
        // OAuth.
        .route("/api/v1/apps", post(oauth::create_app))
        .route("/api/v1/apps/verify_credentials", get(oauth::verify_app))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata),
        )
        .route(
            "/oauth/authorize",
            get(oauth::authorize_page).post(oauth::authorize),
        )
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/revoke", post(oauth::revoke))
        // Accounts.
        .route("/api/v1/accounts", get(a::many).post(a::register))
        .route(
            "/api/v1/accounts/verify_credentials",
            get(a::verify_credentials),
        )
        .route(
            "/api/v1/accounts/update_credentials",
            axum::routing::patch(a::update_credentials),
        )
        .route("/api/v1/accounts/lookup", get(a::lookup))
        .route("/api/v1/accounts/relationships", get(a::relationships))
        .route("/api/v1/accounts/search", get(a::search))
        .route("/api/v1/accounts/{id}", get(a::get))
        .route("/api/v1/accounts/{id}/statuses", get(a::statuses))
        .route("/api/v1/accounts/{id}/followers", get(a::followers))
        .route("/api/v1/accounts/{id}/following", get(a::following))
        .route("/api/v1/accounts/{id}/follow", post(a::follow))
        .route("/api/v1/accounts/{id}/unfollow", post(a::unfollow))
        .route("/api/v1/accounts/{id}/block", post(a::block))
        .route("/api/v1/accounts/{id}/unblock", post(a::unblock))
        .route("/api/v1/accounts/{id}/mute", post(a::mute))
        .route("/api/v1/accounts/{id}/unmute", post(a::unmute))
        .route("/api/v1/accounts/{id}/lists", get(i::empty_user_list))
        .route("/api/v1/accounts/{id}/featured_tags", get(i::empty_list))
        .route("/api/v1/blocks", get(a::blocks))
        .route("/api/v1/mutes", get(a::mutes))
        // Statuses.
        .route("/api/v1/statuses", get(st::many).post(st::create))
        .route(
            "/api/v1/statuses/{id}",
            get(st::get).put(st::edit).delete(st::delete),
        )
        .route("/api/v1/statuses/{id}/source", get(st::source))
        .route("/api/v1/statuses/{id}/history", get(st::history))
        .route("/api/v1/statuses/{id}/context", get(st::context))
        .route("/api/v1/statuses/{id}/favourite", post(st::favourite))
        .route("/api/v1/statuses/{id}/unfavourite", post(st::unfavourite))
        .route("/api/v1/statuses/{id}/reblog", post(st::reblog))
        .route("/api/v1/statuses/{id}/unreblog", post(st::unreblog))
        .route(
            "/api/v1/statuses/{id}/favourited_by",
            get(st::favourited_by),
        )
        .route("/api/v1/statuses/{id}/reblogged_by", get(st::reblogged_by))
        // Timelines, notifications, favourites, search, markers.
        .route("/api/v1/timelines/home", get(t::home))
        .route("/api/v1/timelines/tag/{tag}", get(t::tag))
        .route("/api/v1/timelines/public", get(i::empty_list))
        .route("/api/v1/timelines/list/{id}", get(i::empty_user_list))
        .route("/api/v1/notifications", get(t::notifications))
        .route("/api/v1/notifications/unread_count", get(t::unread_count))
        .route("/api/v1/notifications/{id}", get(t::notification_by_id))
        .route("/api/v1/notifications/clear", post(t::clear_notifications))
        .route(
            "/api/v1/notifications/dismiss",
            post(t::dismiss_notification),
        )
        .route(
            "/api/v1/notifications/{id}/dismiss",
            post(t::dismiss_notification),
        )
        .route("/api/v1/favourites", get(t::favourites))
        .route("/api/v2/search", get(t::search))
        .route("/api/v1/markers", get(t::markers).post(t::set_markers))
        // Streaming.
        .route("/api/v1/streaming", get(websocket::websocket))
        .route("/api/v1/streaming/health", get(streaming::health))
        .route("/api/v1/streaming/user", get(streaming::user))
        .route(
            "/api/v1/streaming/user/notification",
            get(streaming::user_notifications),
        )
        // What Chirp has nothing behind: valid empty answers.
        .route("/api/v1/preferences", get(i::preferences))
        .route("/api/v1/lists", get(i::empty_user_list))
        .route("/api/v1/filters", get(i::empty_user_list))
        .route("/api/v2/filters", get(i::empty_user_list))
        .route("/api/v1/follow_requests", get(i::empty_user_list))
        .route("/api/v1/bookmarks", get(i::empty_user_list))
        .route("/api/v1/conversations", get(i::empty_user_list))
        .route("/api/v1/followed_tags", get(i::empty_user_list))
        .route("/api/v1/featured_tags", get(i::empty_user_list))
        .route("/api/v1/endorsements", get(i::empty_user_list))
        .route("/api/v1/domain_blocks", get(i::empty_user_list))
        .route("/api/v1/scheduled_statuses", get(i::empty_user_list))
        .route("/api/v1/suggestions", get(i::empty_user_list))
        .route("/api/v2/suggestions", get(i::empty_user_list))
        .route(
            "/api/v1/accounts/familiar_followers",
            get(i::empty_user_list),
        )
        .route("/api/v1/custom_emojis", get(i::empty_list))
        .route("/api/v1/announcements", get(i::empty_list))
        .route("/api/v1/trends", get(i::empty_list))
        .route("/api/v1/trends/tags", get(i::empty_list))
        .route("/api/v1/trends/statuses", get(i::empty_list))
        .route("/api/v1/trends/links", get(i::empty_list))
        .route("/api/v1/instance/peers", get(i::empty_list))
        .route("/api/v1/instance/activity", get(i::empty_list))
        .route("/api/v1/instance/rules", get(i::empty_list))
        .route("/api/v1/directory", get(i::empty_list))
        // Every account's avatar and header.
        .route("/avatars/original/missing.png", get(i::missing_png))
        .route("/headers/original/missing.png", get(i::missing_png))
        .fallback(not_found)
}
