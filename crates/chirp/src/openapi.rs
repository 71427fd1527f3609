//! The OpenAPI document of the whole public API: each service's part, generated from its
//! handlers (`utoipa::path` on each, collected by the `OpenApiRouter` that also routes
//! them, so that no route can exist without its description), merged with the operations
//! routes, the answers every route may give, the bearer scheme and the problem types.
//! Served at `/api/v1/openapi.json` by `chirp all` and by ReadService (the gateway's
//! target for it); `docs/openapi.json` is a copy that a test keeps equal to it.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use axum::Router;
use chirp_core::openapi::{add_common_answers, PROBLEM_TYPES};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the document is served.
pub const PATH: &str = "/api/v1/openapi.json";

/// The whole document.
pub fn document() -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Chirp")
                .version("1")
                .description(Some(description()))
                .build(),
        )
        .tags(Some(tags()))
        .build();
    doc.merge(chirp_auth::routes::routes().into_openapi());
    doc.merge(chirp_write::routes::routes().into_openapi());
    doc.merge(chirp_graph::routes::routes().into_openapi());
    doc.merge(chirp_read::routes::routes().into_openapi());
    doc.merge(chirp_search::routes::routes().into_openapi());
    doc.merge(chirp_notify::routes::routes().into_openapi());
    doc.merge(chirp_web::routes().into_openapi());
    doc.merge(chirp_core::http::ops::openapi());
    doc.merge(own_routes().into_openapi());
    let components = doc.components.take().unwrap_or_default();
    let components = ComponentsBuilder::from(components)
        .schema_from::<chirp_core::openapi::ProblemSchema>()
        .security_scheme(
            chirp_core::openapi::BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from /api/v1/auth/signup, /login or /refresh (15 minutes).",
                    ))
                    .build(),
            ),
        )
        .build();
    doc.components = Some(components);
    add_common_answers(&mut doc);
    doc
}

/// The document as it is served: pretty JSON, ending in a new line (as the committed copy).
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut doc = serde_json::to_value(document()).unwrap_or_default();
        refine(&mut doc);
        let mut text = serde_json::to_string_pretty(&doc)
            .unwrap_or_else(|e| format!("{{\"error\": \"the document does not serialize: {e}\"}}"));
        text.push('\n');
        text
    })
}

/// A cursor: the version byte (1) and a key, in unpadded base64url; every string of this
/// shape is one (and the empty one is the first page).
const CURSOR_PATTERN: &str = "^(A[Q-Za-f][A-Za-z0-9_-]{10})?$";

/// The patterns the attributes cannot spell: the validators' character classes
/// (`chirp_core::text`, whose test holds them to the validators), set where they apply.
fn refine(doc: &mut serde_json::Value) {
    use chirp_core::text::{
        bio_pattern, display_name_pattern, post_text_pattern, CONTROL_CLASS, WHITE_SPACE_CLASS,
    };
    let text = post_text_pattern();
    let schemas = &mut doc["components"]["schemas"];
    for body in ["CreateBody", "EditBody"] {
        schemas[body]["properties"]["text"]["pattern"] = text.clone().into();
    }
    // Email::parse: no white space or control character; a local part of 1 to 64
    // characters without `@`; a domain of two or more labels, none empty, none beginning
    // or ending with `-`.
    let refused = format!("{WHITE_SPACE_CLASS}{CONTROL_CLASS}");
    let label = format!(r"[^@.\-{refused}]([^@.{refused}]*[^@.\-{refused}])?");
    let email = format!(r"^[^@{refused}]{{1,64}}@{label}(\.{label})+$");
    // AuthService's sign-up, and the web client's, which passes it on.
    for body in ["SignupBody", "SignupForm"] {
        let signup = &mut schemas[body]["properties"];
        signup["display_name"]["pattern"] = display_name_pattern().into();
        signup["email"]["pattern"] = email.clone().into();
    }
    let profile = &mut schemas["ProfileBody"]["properties"];
    profile["display_name"]["pattern"] = display_name_pattern().into();
    profile["bio"]["pattern"] = bio_pattern().into();
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) else {
                continue;
            };
            for param in params {
                match param["name"].as_str() {
                    Some("cursor") => param["schema"]["pattern"] = CURSOR_PATTERN.into(),
                    // Something that is not white space, and at most 256 characters.
                    Some("q") => {
                        param["schema"]["pattern"] = format!("[^{WHITE_SPACE_CLASS}]").into();
                        param["schema"]["maxLength"] = 256.into();
                    }
                    _ => {}
                }
            }
        }
    }
}

fn own_routes() -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The route that serves the document.
pub fn router() -> Router {
    own_routes().split_for_parts().0
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of the API", body = Object, content_type = "application/json")),
)]
async fn openapi_json() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        document_json(),
    )
}

fn tags() -> Vec<utoipa::openapi::tag::Tag> {
    [
        (
            "auth",
            "AuthService: accounts, sessions, the keys that verify tokens.",
        ),
        (
            "posts",
            "WriteService writes posts; ReadService reads them.",
        ),
        ("users", "ReadService: profiles and a user's posts."),
        ("graph", "UserGraphService: follows."),
        (
            "reactions",
            "WriteService records likes; ReadService lists them.",
        ),
        (
            "timelines",
            "ReadService, from TimelineService: home timelines.",
        ),
        ("search", "SearchService: posts and users."),
        (
            "notifications",
            "NotificationService: follows, likes, reposts, replies and mentions of the caller.",
        ),
        (
            "web",
            "The web client's browser sessions: the refresh token in an HttpOnly cookie, access tokens to the page.",
        ),
        (
            "operations",
            "Health, readiness, metrics, this document, the problem types.",
        ),
    ]
    .into_iter()
    .map(|(name, what)| TagBuilder::new().name(name).description(Some(what)).build())
    .collect()
}

fn description() -> String {
    let mut text = String::from(
        "Chirp's public API. Ids are 64-bit and travel as strings. Errors are problem \
         documents (`application/problem+json`) whose `type` is one of these paths, each \
         answering a short page that says what it means:\n\n",
    );
    for (slug, status, title, what) in PROBLEM_TYPES {
        text.push_str(&format!(
            "- `/problems/{slug}` ({status} {title}): {what}\n"
        ));
    }
    text.push_str(
        "\nEvery API request counts against its client address, and every write against its \
         user too: past a quota, 429 with `Retry-After`; answers carry `RateLimit-Limit`, \
         `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy` \
         (draft-ietf-httpapi-ratelimit-headers-07).\n",
    );
    text
}

/// `Problem`'s name, for tests.
pub fn problem_schema_name() -> String {
    chirp_core::openapi::ProblemSchema::name().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::Operation;

    /// The committed copy of the document.
    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

    /// docs/openapi.json is the document the code generates: a route, a parameter or a
    /// schema cannot change without the copy changing in the same commit. With
    /// `CHIRP_WRITE_OPENAPI=1` (`make openapi`), the test writes the copy instead.
    #[test]
    fn the_committed_document_is_the_generated_one() {
        let generated = document_json();
        if std::env::var_os("CHIRP_WRITE_OPENAPI").is_some() {
            std::fs::write(COMMITTED, generated).expect("docs/openapi.json written");
            return;
        }
        let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json differs from the document the code generates: run `make openapi` \
             and commit the result"
        );
    }

    #[test]
    fn every_operation_answers_with_problems_and_names_its_id() {
        let doc = document();
        let mut operations = 0;
        for (path, item) in &doc.paths.paths {
            for op in [&item.get, &item.post, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                operations += 1;
                assert!(op.operation_id.is_some(), "{path}: no operation id");
                for status in ["400", "429", "503"] {
                    assert!(
                        op.responses.responses.contains_key(status),
                        "{path}: no {status}"
                    );
                }
            }
        }
        assert!(operations >= 20, "{operations} operations");
        // What schemathesis found the document lacked, now said (see scripts/schemathesis.sh).
        let answers = |path: &str, method: fn(&utoipa::openapi::PathItem) -> Option<&Operation>| {
            let op = method(&doc.paths.paths[path]).unwrap();
            op.responses.responses.keys().cloned().collect::<Vec<_>>()
        };
        let unfollow = answers("/api/v1/users/{id}/follow", |i| i.delete.as_ref());
        assert!(unfollow.contains(&"422".to_owned()), "{unfollow:?}");
        let create = answers("/api/v1/posts", |i| i.post.as_ref());
        assert!(create.contains(&"409".to_owned()), "{create:?}");
        let schemas = &doc.components.as_ref().unwrap().schemas;
        assert!(schemas.contains_key(&problem_schema_name()));
    }
}
