//! WriteService's logic: who may change a post, and the event each change emits.

use std::sync::Arc;

use chirp_core::events::{Event, EventBody};
use chirp_core::model::Post;
use chirp_core::time::now_ms;
use chirp_core::{ApiError, ApiResult, Id, IdGenerator};
use tokio::sync::Notify;

use crate::domain::{IdempotencyKey, PostText};
use crate::ports::{Created, NewPost, PostHead, PostStore};

/// Every answer is built from the store the write went to: a write never waits for
/// ReadService, so a post that committed is never answered with an error.
pub struct WriteService {
    pub store: Arc<dyn PostStore>,
    pub ids: Arc<IdGenerator>,
    pub outbox_wake: Arc<Notify>,
}

/// The result of a create: the post, and whether it was made now or by an earlier try.
pub struct CreatedPost {
    pub post: Post,
    pub replayed: bool,
}

/// How often an edit or delete retries when the post changed under it.
const ATTEMPTS: usize = 5;

impl WriteService {
    pub async fn create(
        &self,
        author: Id,
        text: &str,
        reply_to: Option<Id>,
        key: Option<IdempotencyKey>,
    ) -> ApiResult<CreatedPost> {
        let text = PostText::parse(text).map_err(ApiError::Unprocessable)?;
        if let Some(parent) = reply_to {
            let live = self.store.head(parent).await?;
            if live.is_none_or(|h| h.deleted) {
                return Err(ApiError::Unprocessable(format!(
                    "reply_to: no post {parent}"
                )));
            }
        }
        let id = self.ids.next_id()?;
        let created_at_ms = now_ms();
        let event = Event {
            id: self.ids.next_id()?,
            version: 1,
            occurred_at_ms: created_at_ms,
            trace: chirp_core::traces::current(),
            body: EventBody::PostCreated {
                post_id: id,
                author_id: author,
                text: text.as_str().to_owned(),
                reply_to,
                created_at_ms,
            },
        };
        let post = NewPost {
            id,
            author,
            text: text.into_string(),
            reply_to,
            created_at_ms,
        };
        let outcome = self
            .store
            .create(&post, key.as_ref().map(IdempotencyKey::as_str), &event)
            .await?;
        match outcome {
            Created::New(post) => {
                self.outbox_wake.notify_one();
                Ok(CreatedPost {
                    post,
                    replayed: false,
                })
            }
            Created::Replayed(Some(first)) => Ok(CreatedPost {
                post: first,
                replayed: true,
            }),
            Created::Replayed(None) => Err(ApiError::Conflict(
                "this Idempotency-Key made a post that has since been deleted".into(),
            )),
            Created::UnknownAuthor => Err(ApiError::Unauthorized(
                "the account of this access token no longer exists".into(),
            )),
        }
    }

    /// The live post `id`, as the write side holds it.
    pub async fn post(&self, id: Id) -> ApiResult<Post> {
        self.store
            .post(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no post {id}")))
    }

    pub async fn edit(&self, caller: Id, id: Id, text: &str) -> ApiResult<Post> {
        let text = PostText::parse(text).map_err(ApiError::Unprocessable)?;
        for _ in 0..ATTEMPTS {
            let head = self.owned_head(caller, id).await?;
            let edited_at_ms = now_ms();
            let event = Event {
                id: self.ids.next_id()?,
                version: head.version + 1,
                occurred_at_ms: edited_at_ms,
                trace: chirp_core::traces::current(),
                body: EventBody::PostEdited {
                    post_id: id,
                    author_id: head.author,
                    text: text.as_str().to_owned(),
                    edited_at_ms,
                },
            };
            let edited = self
                .store
                .edit(id, head.version, text.as_str(), edited_at_ms, &event)
                .await?;
            if let Some(post) = edited {
                self.outbox_wake.notify_one();
                return Ok(post);
            }
        }
        Err(ApiError::Conflict("the post is changing; try again".into()))
    }

    pub async fn delete(&self, caller: Id, id: Id) -> ApiResult<()> {
        for _ in 0..ATTEMPTS {
            let head = self.owned_head(caller, id).await?;
            let at = now_ms();
            let event = Event {
                id: self.ids.next_id()?,
                version: head.version + 1,
                occurred_at_ms: at,
                trace: chirp_core::traces::current(),
                body: EventBody::PostDeleted {
                    post_id: id,
                    author_id: head.author,
                },
            };
            if self.store.delete(id, head.version, at, &event).await? {
                self.outbox_wake.notify_one();
                return Ok(());
            }
        }
        Err(ApiError::Conflict("the post is changing; try again".into()))
    }

    /// The live post `id`, if `caller` wrote it: 404 when there is none, 403 when it is
    /// someone else's.
    async fn owned_head(&self, caller: Id, id: Id) -> ApiResult<PostHead> {
        let head = self.store.head(id).await?;
        match head {
            Some(h) if !h.deleted => {
                if h.author == caller {
                    Ok(h)
                } else {
                    Err(ApiError::Forbidden(
                        "only the author may change a post".into(),
                    ))
                }
            }
            _ => Err(ApiError::NotFound(format!("no post {id}"))),
        }
    }
}
