//! `/api/v1/accounts/*`: registration, the caller's own account, profiles, their lists,
//! and the graph (follow, block, mute, relationships).

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chirp_auth::oauth::UserGrant;
use chirp_core::model::{Post, Relationship, User};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::entities::{account, credential_account, relationship, status};
use crate::error::{MastoError, MastoResult};
use crate::paging::{answer, at_offset, offset, walk, Paging};
use crate::request::links;
use crate::request::Req;
use crate::{Caller, MastodonState};

type St = State<MastodonState>;

/// A path segment that is an id (anything else names nothing: 404).
pub fn id_segment(raw: &str) -> MastoResult<u64> {
    raw.parse().map_err(|_| MastoError::not_found())
}

#[derive(Deserialize)]
struct SignedUp {
    refresh_token: String,
}

/// `POST /api/v1/accounts`: an app signs a user up, and gets a token of theirs.
pub async fn register(State(s): St, req: Req) -> MastoResult<Response> {
    let owner = s.token_owner(&req).await?;
    if !owner.scopes.grants("write:accounts") {
        return Err(MastoError::outside_scopes());
    }
    let p = &req.params;
    if p.flag("agreement")? != Some(true) {
        return Err(MastoError::unprocessable(
            "Validation failed: the agreement must be accepted (agreement=true)",
        ));
    }
    let body = json!({
        "handle": p.raw("username").unwrap_or(""),
        "email": p.raw("email").unwrap_or(""),
        "password": p.raw("password").unwrap_or(""),
    });
    let res = s
        .call(
            &req,
            None,
            Method::POST,
            "/api/v1/auth/signup",
            Some(body),
            Vec::new(),
        )
        .await?;
    let signed_up: SignedUp = match crate::read_json(res).await {
        Ok(v) => v,
        // A taken handle or email: Mastodon's 422.
        Err(e) if e.status == StatusCode::CONFLICT => {
            return Err(MastoError::unprocessable(format!(
                "Validation failed: {}",
                e.error
            )))
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            return Err(MastoError::unprocessable(format!(
                "Validation failed: {}",
                e.error
            )))
        }
        Err(e) => return Err(e),
    };
    // The signup's session is not the app's: AuthService ends it as it grants the app a
    // token of the new user (its refresh token is the proof of who signed up).
    let grant = s
        .oauth
        .grant_user(UserGrant {
            app_token: req.token.clone().unwrap_or_default(),
            refresh_token: signed_up.refresh_token,
        })
        .await
        .map_err(MastoError::oauth)?;
    Ok(Json(grant).into_response())
}

/// `GET /api/v1/accounts/verify_credentials`.
pub async fn verify_credentials(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "profile").await?;
    Ok(Json(credential_account(&me.user, links(&req))).into_response())
}

/// `PATCH /api/v1/accounts/update_credentials`: the display name and the bio (`note`).
pub async fn update_credentials(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "write:accounts").await?;
    let p = &req.params;
    let mut change = serde_json::Map::new();
    if let Some(name) = p.raw("display_name") {
        change.insert("display_name".into(), json!(name));
    }
    if let Some(note) = p.raw("note") {
        change.insert("bio".into(), json!(note));
    }
    let user: User = if change.is_empty() {
        me.user.clone()
    } else {
        s.json(
            &req,
            Some(&me),
            Method::PATCH,
            "/api/v1/auth/me",
            Some(Value::Object(change)),
        )
        .await?
    };
    Ok(Json(credential_account(&user, links(&req))).into_response())
}

/// `GET /api/v1/accounts/lookup?acct=`: a local handle, or `handle@this-host`.
pub async fn lookup(State(s): St, req: Req) -> MastoResult<Response> {
    let acct = req.params.get("acct").ok_or_else(MastoError::not_found)?;
    let acct = acct.strip_prefix('@').unwrap_or(acct);
    let host = req.base.split("://").nth(1).unwrap_or("");
    let handle = match acct.split_once('@') {
        Some((h, domain)) if domain.eq_ignore_ascii_case(host) => h,
        Some(_) => return Err(MastoError::not_found()),
        None => acct,
    };
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("handle", handle)
        .finish();
    let user: User = s.get(&req, None, &format!("/api/v1/users?{q}")).await?;
    Ok(Json(account(&user, links(&req))).into_response())
}

/// `GET /api/v1/accounts/:id`.
pub async fn get(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    let user: User = s.get(&req, None, &format!("/api/v1/users/{id}")).await?;
    Ok(Json(account(&user, links(&req))).into_response())
}

/// `GET /api/v1/accounts/:id/statuses`.
pub async fn statuses(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    let me = s.maybe_caller(&req, "read:statuses").await?;
    let p = &req.params;
    let paging = Paging::of(&req, 20, 40)?;
    // Chirp has no media and no pinned posts: those lists are empty.
    if p.flag("only_media")? == Some(true) || p.flag("pinned")? == Some(true) {
        return Ok(answer(&req, Vec::new(), None, None, paging.limit));
    }
    let (no_replies, no_reposts) = (
        p.flag("exclude_replies")? == Some(true),
        p.flag("exclude_reblogs")? == Some(true),
    );
    let tagged = p
        .get("tagged")
        .map(|t| t.trim_start_matches('#').to_lowercase());
    let path = format!("/api/v1/users/{id}/posts");
    let page = walk::<Post>(&s, &req, me.as_ref(), &path, paging, |p| p.id.0).await?;
    let items = page
        .items
        .iter()
        .filter(|p| !(no_replies && p.reply_to.is_some()))
        .filter(|p| !(no_reposts && p.repost_of.is_some()))
        .filter(|p| tagged.as_ref().is_none_or(|t| p.tags.contains(t)))
        .map(|p| status(p, links(&req)))
        .collect();
    Ok(answer(&req, items, page.next, page.prev, paging.limit))
}

/// A list of Chirp's users at `path` as a page of Accounts.
pub(super) async fn users_list(
    s: &MastodonState,
    req: &Req,
    who: Option<&Caller>,
    path: &str,
) -> MastoResult<Response> {
    let paging = Paging::of(req, 40, 80)?;
    // Keyed by the follow (or like, block...), not by the user: `max_id` only.
    let paging = Paging {
        since_id: None,
        min_id: None,
        ..paging
    };
    let page = walk::<User>(s, req, who, path, paging, |u| u.id.0).await?;
    let items = page.items.iter().map(|u| account(u, links(req))).collect();
    Ok(answer(req, items, page.next, None, paging.limit))
}

/// `GET /api/v1/accounts/:id/followers`.
pub async fn followers(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    users_list(&s, &req, None, &format!("/api/v1/users/{id}/followers")).await
}

/// `GET /api/v1/accounts/:id/following`.
pub async fn following(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    let id = id_segment(&id)?;
    users_list(&s, &req, None, &format!("/api/v1/users/{id}/following")).await
}

/// `GET /api/v1/blocks`.
pub async fn blocks(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "read:blocks").await?;
    users_list(&s, &req, Some(&me), "/api/v1/blocks").await
}

/// `GET /api/v1/mutes`.
pub async fn mutes(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "read:mutes").await?;
    users_list(&s, &req, Some(&me), "/api/v1/mutes").await
}

/// The caller's relationships with `ids`, in that order.
async fn relationships_of(
    s: &MastodonState,
    req: &Req,
    me: &Caller,
    ids: &[u64],
) -> MastoResult<Vec<Value>> {
    #[derive(Deserialize)]
    struct Items {
        items: Vec<Relationship>,
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = ids.iter().map(u64::to_string).collect();
    let found: Items = s
        .get(
            req,
            Some(me),
            &format!("/api/v1/relationships?ids={}", list.join(",")),
        )
        .await?;
    Ok(found.items.iter().map(relationship).collect())
}

/// `GET /api/v1/accounts/relationships?id[]=`.
pub async fn relationships(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "read:follows").await?;
    let mut ids = Vec::new();
    for raw in req.params.list("id").into_iter().take(100) {
        // An id that names nobody has no relationship: Mastodon leaves it out.
        if let Ok(id) = raw.parse::<u64>() {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(Json(relationships_of(&s, &req, &me, &ids).await?).into_response())
}

/// Follow, unfollow, block, unblock, mute, unmute: Chirp's `method` on
/// `/api/v1/users/:id/{what}`, then the relationship as it now is.
async fn graph_action(
    s: &MastodonState,
    req: &Req,
    id: &str,
    scope: &str,
    method: Method,
    what: &str,
) -> MastoResult<Response> {
    let me = s.caller(req, scope).await?;
    let id = id_segment(id)?;
    s.act(
        req,
        &me,
        method,
        &format!("/api/v1/users/{id}/{what}"),
        None,
    )
    .await?;
    let rel = relationships_of(s, req, &me, &[id]).await?;
    let rel = rel.into_iter().next().ok_or_else(MastoError::not_found)?;
    Ok(Json(rel).into_response())
}

pub async fn follow(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    graph_action(&s, &req, &id, "write:follows", Method::POST, "follow").await
}
pub async fn unfollow(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    graph_action(&s, &req, &id, "write:follows", Method::DELETE, "follow").await
}
pub async fn block(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    graph_action(&s, &req, &id, "write:blocks", Method::POST, "block").await
}
pub async fn unblock(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    graph_action(&s, &req, &id, "write:blocks", Method::DELETE, "block").await
}
pub async fn mute(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    graph_action(&s, &req, &id, "write:mutes", Method::POST, "mute").await
}
pub async fn unmute(State(s): St, Path(id): Path<String>, req: Req) -> MastoResult<Response> {
    graph_action(&s, &req, &id, "write:mutes", Method::DELETE, "mute").await
}

/// `GET /api/v1/accounts/search?q=`.
pub async fn search(State(s): St, req: Req) -> MastoResult<Response> {
    let me = s.caller(&req, "read:accounts").await?;
    let items = search_accounts(&s, &req, &me).await?;
    Ok(Json(items).into_response())
}

/// Accounts whose handle or name begins with `q` (`@` and this host left out).
pub async fn search_accounts(s: &MastodonState, req: &Req, me: &Caller) -> MastoResult<Vec<Value>> {
    let q = req.params.get("q").unwrap_or("").trim();
    let q = q.strip_prefix('@').unwrap_or(q);
    let q = q.split('@').next().unwrap_or(q);
    if q.is_empty() {
        return Ok(Vec::new());
    }
    let limit = Paging::of(req, 40, 80)?.limit;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("q", q)
        .finish();
    let path = format!("/api/v1/search/users?{query}");
    let found: Vec<User> = at_offset(s, req, Some(me), &path, offset(req)?, limit).await?;
    Ok(found.iter().map(|u| account(u, links(req))).collect())
}

/// `GET /api/v1/accounts?id[]=`: the accounts of those ids that name one, in that order.
pub async fn many(State(s): St, req: Req) -> MastoResult<Response> {
    let mut out = Vec::new();
    for raw in req.params.list("id").into_iter().take(40) {
        let Ok(id) = raw.parse::<u64>() else { continue };
        match s
            .get::<User>(&req, None, &format!("/api/v1/users/{id}"))
            .await
        {
            Ok(user) => out.push(account(&user, links(&req))),
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Json(out).into_response())
}
