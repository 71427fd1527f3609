//! What every service's part of the OpenAPI document shares: the schemas of ids and
//! problem documents, the problem types, and the answers every route may give (a
//! service's handlers name only their own successes and the errors that are theirs).

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Responses,
};

use crate::id::Id;

/// The media type of every error.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The name of the bearer scheme in the document.
pub const BEARER: &str = "bearer";

impl utoipa::PartialSchema for Id {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9]{1,20}$"))
            .description(Some(
                "A 64-bit, time-ordered id (a newer one is larger), as a string so that \
                 JavaScript keeps every digit.",
            ))
            .examples([json!("7263011920384001")])
            .into()
    }
}

impl utoipa::ToSchema for Id {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Id")
    }
}

/// A problem document (RFC 9457): the body of every error, named `Problem` in the
/// document; its `type` is one of [`PROBLEM_TYPES`].
pub struct ProblemSchema;

impl utoipa::PartialSchema for ProblemSchema {
    fn schema() -> RefOr<Schema> {
        let types: Vec<String> = PROBLEM_TYPES
            .iter()
            .map(|(slug, ..)| format!("/problems/{slug}"))
            .collect();
        let string = || ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .property(
                "type",
                string().enum_values(Some(types)).description(Some(
                    "The problem type: a path of this server that says what it means.",
                )),
            )
            .property(
                "title",
                string().description(Some("The status's reason phrase.")),
            )
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(400))
                    .maximum(Some(599))
                    .description(Some("The HTTP status.")),
            )
            .property(
                "detail",
                string().description(Some("What went wrong with this request, for a person.")),
            )
            .required("type")
            .required("title")
            .required("status")
            .required("detail")
            .examples([json!({
                "type": "/problems/not-found",
                "title": "Not Found",
                "status": 404,
                "detail": "no such user",
            })])
            .into()
    }
}

impl utoipa::ToSchema for ProblemSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Problem")
    }
}

/// Every problem type Chirp answers with: its slug (`/problems/<slug>`), status, title
/// and what it means.
pub const PROBLEM_TYPES: &[(&str, u16, &str, &str)] = &[
    ("bad-request", 400, "Bad Request", "The request is malformed: JSON that does not parse or has fields of the wrong type, a query parameter out of range, a cursor this server did not issue."),
    ("unauthorized", 401, "Unauthorized", "No access token, or one that is expired or invalid; or wrong credentials."),
    ("forbidden", 403, "Forbidden", "Authenticated, but not allowed to do this (edit someone else's post)."),
    ("not-found", 404, "Not Found", "No such user, post or route."),
    ("method-not-allowed", 405, "Method Not Allowed", "The route exists, but not with this method."),
    ("request-timeout", 408, "Request Timeout", "The request's body did not arrive in time."),
    ("conflict", 409, "Conflict", "The handle or email is taken."),
    ("payload-too-large", 413, "Payload Too Large", "The body is over the limit (64 KiB by default)."),
    ("unsupported-media-type", 415, "Unsupported Media Type", "The body says it is something other than JSON."),
    ("validation-failed", 422, "Unprocessable Content", "Well-formed but invalid: text too long, a bad handle, a weak password, following yourself."),
    ("rate-limited", 429, "Too Many Requests", "Past a rate limit; `Retry-After` says when to try again."),
    ("internal", 500, "Internal Server Error", "A bug: it is logged, and should never happen."),
    ("busy", 503, "Service Unavailable", "The server takes no more work of this kind for a moment (passwords being hashed, connections); `Retry-After` says when to try again."),
    ("dependency-unavailable", 503, "Service Unavailable", "A store or service the request needs is down; try again later."),
];

/// The answers every route may give, added to each operation of `doc` that does not say
/// them itself: 400 (and for a body 408, 413 and 415), 401 where a token is needed, 404
/// where the path names a resource, 429 and 503; each a problem document.
pub fn add_common_answers(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let names_resource = path.contains('{');
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in operations.into_iter().flatten() {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_body = op.request_body.is_some();
            let mut statuses = vec![400, 429, 503];
            if has_body {
                statuses.extend([408, 413, 415]);
            }
            if secured {
                statuses.push(401);
            }
            if names_resource {
                statuses.push(404);
            }
            statuses.sort_unstable();
            for status in statuses {
                add_problem(op, status);
            }
        }
    }
}

/// A problem document answer with `status`, unless `op` says one already.
fn add_problem(op: &mut Operation, status: u16) {
    let Responses { responses, .. } = &mut op.responses;
    let key = status.to_string();
    if responses.contains_key(&key) {
        return;
    }
    responses.insert(key, problem_answer(status));
}

/// The answer of `status`: a problem document, with `Retry-After` where the status has
/// one.
pub fn problem_answer(status: u16) -> RefOr<utoipa::openapi::Response> {
    let what: Vec<&str> = PROBLEM_TYPES
        .iter()
        .filter(|(_, s, _, _)| *s == status)
        .map(|(_, _, _, what)| *what)
        .collect();
    let mut answer = ResponseBuilder::new()
        .description(what.join(" Or: "))
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        );
    if matches!(status, 429 | 503) {
        let seconds = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1));
        let header = HeaderBuilder::new()
            .schema(Some(seconds))
            .description(Some(
                "Seconds to wait before trying again (on a 503, only when the server is busy \
                 for a moment, not when a dependency is down).",
            ))
            .build();
        answer = answer.header("Retry-After", header);
    }
    answer.build().into()
}
