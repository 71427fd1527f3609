//! `/api/v1/statuses/*`: posting (with `Idempotency-Key`), reading, editing, deleting,
//! threads, likes and reposts.

use axum::extract::{Path, State};
use axum::http::{HeaderName, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chirp_core::model::Post;
use serde::Deserialize;
use serde_json::json;

use super::accounts::{id_segment, users_list};
use crate::entities::{deleted_status, status};
use crate::error::{MastoError, MastoResult};
use crate::paging::Page;
use crate::request::links;
use crate::request::Req;
use crate::{Caller, MastodonState};

type St = State<MastodonState>;

/// Refuses what a Mastodon client can ask for and Chirp cannot do, rather than post
/// something other than what the user meant (a "followers only" post in public, a
/// content warning dropped).
fn refuse_unsupported(req: &Req) -> MastoResult<()> {
    let p = &req.params;
    if !p.list("media_ids").is_empty() {
        return Err(MastoError::unprocessable(
            "Chirp takes no media attachments",
        ));
    }
    if p.0.iter().any(|(k, _)| k.starts_with("poll")) {
        return Err(MastoError::unprocessable("Chirp has no polls"));
    }
    if p.get("scheduled_at").is_some() {
        return Err(MastoError::unprocessable("Chirp does not schedule posts"));
    }
    if p.get("spoiler_text").is_some_and(|t| !t.trim().is_empty()) {
        return Err(MastoError::unprocessable(
            "Chirp has no content warnings (spoiler_text)",
        ));
    }
    match p.get("visibility") {
        None | Some("public") => Ok(()),
        Some(other) => Err(MastoError::unprocessable(format!(
            "every post on Chirp is public: visibility `{other}` is not supported"
        ))),
    }
}

/// `POST /api/v1/statuses`.
pub async fn create(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "write:statuses").await?;
    refuse_unsupported(&req)?;
    let mut body = json!({"text": req.params.raw("status").unwrap_or("")});
    if let Some(parent) = req.params.get("in_reply_to_id") {
        let parent = parent.parse::<u64>().map_err(|_| MastoError::not_found())?;
        body["reply_to"] = json!(parent.to_string());
    }
    let mut headers = Vec::new();
    if let Some(key) = req.headers.get("idempotency-key") {
        headers.push((HeaderName::from_static("idempotency-key"), key.clone()));
    }
    let res = s
        .call(
            &req,
            Some(&me),
            Method::POST,
            "/api/v1/posts",
            Some(body),
            headers,
        )
        .await?;
    let post: Post = crate::read_json(res).await?;
    Ok(Json(status(&post, links(&req))).into_response())
}

async fn post_of(s: &MastodonState, req: &Req, who: Option<&Caller>, id: u64) -> MastoResult<Post> {
    s.get(req, who, &format!("/api/v1/posts/{id}")).await
}

/// `GET /api/v1/statuses/:id`.
pub async fn get(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    let me = s.maybe_caller(&req, "read:statuses").await?;
    let post = post_of(&s, &req, me.as_ref(), id).await?;
    Ok(Json(status(&post, links(&req))).into_response())
}

/// `PUT /api/v1/statuses/:id`: a new text.
pub async fn edit(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    let me = s.caller(&req, "write:statuses").await?;
    refuse_unsupported(&req)?;
    let body = json!({"text": req.params.raw("status").unwrap_or("")});
    let post: Post = s
        .json(
            &req,
            Some(&me),
            Method::PATCH,
            &format!("/api/v1/posts/{id}"),
            Some(body),
        )
        .await?;
    Ok(Json(status(&post, links(&req))).into_response())
}

/// `DELETE /api/v1/statuses/:id`: 200 with the deleted status and its text.
pub async fn delete(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    let me = s.caller(&req, "write:statuses").await?;
    let post = post_of(&s, &req, Some(&me), id).await?;
    s.act(
        &req,
        &me,
        Method::DELETE,
        &format!("/api/v1/posts/{id}"),
        None,
    )
    .await?;
    Ok(Json(deleted_status(&post, links(&req))).into_response())
}

/// `GET /api/v1/statuses/:id/source`.
pub async fn source(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    let me = s.caller(&req, "read:statuses").await?;
    let post = post_of(&s, &req, Some(&me), id).await?;
    Ok(
        Json(json!({"id": post.id.to_string(), "text": post.text, "spoiler_text": ""}))
            .into_response(),
    )
}

/// `GET /api/v1/statuses/:id/history`: Chirp keeps no earlier versions, so the history
/// is the version there is.
pub async fn history(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    let me = s.maybe_caller(&req, "read:statuses").await?;
    let post = post_of(&s, &req, me.as_ref(), id).await?;
    let st = status(&post, links(&req));
    let version = json!({
        "content": st["content"],
        "spoiler_text": "",
        "sensitive": false,
        "created_at": post.edited_at.as_ref().unwrap_or(&post.created_at),
        "account": st["account"],
        "media_attachments": [],
        "emojis": [],
    });
    Ok(Json(json!([version])).into_response())
}

/// The most posts of a thread below a status, and the most reads to find them.
const MAX_DESCENDANTS: usize = 60;
const MAX_REPLY_READS: usize = 30;

/// `GET /api/v1/statuses/:id/context`: the ancestors (root first) and the descendants
/// (depth first, each conversation reading down, oldest reply first).
pub async fn context(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    #[derive(Deserialize)]
    struct Items {
        items: Vec<Post>,
    }
    let id = id_segment(&id)?;
    let me = s.maybe_caller(&req, "read:statuses").await?;
    let ancestors: Items = s
        .get(&req, me.as_ref(), &format!("/api/v1/posts/{id}/ancestors"))
        .await?;
    let mut descendants = Vec::new();
    // A stack of posts whose replies are still to read, depth first.
    let mut pending = vec![id];
    let mut reads = 0;
    while let Some(parent) = pending.pop() {
        if reads == MAX_REPLY_READS || descendants.len() >= MAX_DESCENDANTS {
            break;
        }
        reads += 1;
        let page: Page<Post> = s
            .get(
                &req,
                me.as_ref(),
                &format!("/api/v1/posts/{parent}/replies?limit=40"),
            )
            .await?;
        // The first reply's thread is read next: push in reverse.
        for reply in page.items.iter().rev() {
            pending.push(reply.id.0);
        }
        // Insert them after their parent, in order.
        let at = descendants
            .iter()
            .position(|p: &Post| p.id.0 == parent)
            .map_or(descendants.len(), |i| i + 1 + subtree_len(&descendants, i));
        for (k, reply) in page.items.into_iter().enumerate() {
            descendants.insert(at + k, reply);
        }
    }
    descendants.truncate(MAX_DESCENDANTS);
    let l = links(&req);
    Ok(Json(json!({
        "ancestors": ancestors.items.iter().map(|p| status(p, l)).collect::<Vec<_>>(),
        "descendants": descendants.iter().map(|p| status(p, l)).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// How many posts right after `descendants[i]` are replies below it.
fn subtree_len(descendants: &[Post], i: usize) -> usize {
    let mut ids = vec![descendants[i].id];
    let mut n = 0;
    for p in &descendants[i + 1..] {
        match p.reply_to {
            Some(parent) if ids.contains(&parent) => {
                ids.push(p.id);
                n += 1;
            }
            _ => break,
        }
    }
    n
}

/// A reaction through Chirp's API, then the status as the caller now sees it.
async fn react(
    s: &MastodonState,
    req: &Req,
    id: &str,
    scope: &str,
    method: Method,
    what: &str,
) -> MastoResult<Response> {
    let id = id_segment(id)?;
    let me = s.caller(req, scope).await?;
    s.act(
        req,
        &me,
        method,
        &format!("/api/v1/posts/{id}/{what}"),
        None,
    )
    .await?;
    let post = post_of(s, req, Some(&me), id).await?;
    Ok(Json(status(&post, links(req))).into_response())
}

pub async fn favourite(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    react(&s, &req, &id, "write:favourites", Method::POST, "like").await
}
pub async fn unfavourite(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    react(&s, &req, &id, "write:favourites", Method::DELETE, "like").await
}
pub async fn unreblog(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    react(&s, &req, &id, "write:statuses", Method::DELETE, "repost").await
}

/// `POST /api/v1/statuses/:id/reblog`: the repost, holding the original.
pub async fn reblog(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    let me = s.caller(&req, "write:statuses").await?;
    let repost: Post = s
        .json(
            &req,
            Some(&me),
            Method::POST,
            &format!("/api/v1/posts/{id}/repost"),
            None,
        )
        .await?;
    // Read again, with the caller's state of the original.
    let repost = post_of(&s, &req, Some(&me), repost.id.0).await?;
    Ok(Json(status(&repost, links(&req))).into_response())
}

/// `GET /api/v1/statuses/:id/favourited_by`.
pub async fn favourited_by(
    State(s): St,
    Path(id): Path<String>,
    req: Req,
) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    users_list(&s, &req, None, &format!("/api/v1/posts/{id}/likes")).await
}

/// `GET /api/v1/statuses/:id/reblogged_by`.
pub async fn reblogged_by(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    users_list(&s, &req, None, &format!("/api/v1/posts/{id}/reposts")).await
}

/// `GET /api/v1/statuses?id[]=`: the statuses of those ids that name one, in that order.
pub async fn many(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.maybe_caller(&req, "read:statuses").await?;
    let mut out = Vec::new();
    for raw in req.params.list("id").into_iter().take(40) {
        let Ok(id) = raw.parse::<u64>() else { continue };
        match post_of(&s, &req, me.as_ref(), id).await {
            Ok(post) => out.push(status(&post, links(&req))),
            Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Json(out).into_response())
}
