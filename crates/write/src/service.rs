//! WriteService's logic: who may change a post, who may like it, and the event each change
//! emits.

use std::sync::Arc;

use chirp_core::events::{Event, EventBody, EventStamp};
use chirp_core::model::{Mention, Post};
use chirp_core::peers::SocialGraph;
use chirp_core::time::now_ms;
use chirp_core::{ApiError, ApiResult, Id, IdGenerator};
use tokio::sync::Notify;

use crate::domain::{IdempotencyKey, PostText};
use crate::ports::{Created, Edit, Like, Liked, NewPost, NewRepost, PostHead, PostStore, Reposted};

/// Every answer is built from the store the write went to: a write never waits for
/// ReadService, so a post that committed is never answered with an error.
pub struct WriteService {
    pub store: Arc<dyn PostStore>,
    /// Asked, before a reply or a like, whether a block stands between the caller and the
    /// post's author.
    pub graph: Arc<dyn SocialGraph>,
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
        // A retry of a reply answers what the first try made, whatever became of the post
        // replied to or of a block since (the checks below are about a new post).
        if let (Some(key), Some(_)) = (&key, reply_to) {
            if let Some(first) = self.store.made_with_key(author, key.as_str()).await? {
                return match first {
                    Some(post) => Ok(CreatedPost {
                        post,
                        replayed: true,
                    }),
                    None => Err(ApiError::Conflict(
                        "this Idempotency-Key made a post that has since been deleted".into(),
                    )),
                };
            }
        }
        let mut reply_to_author = None;
        let reply_to = match reply_to {
            Some(parent) => Some(self.original_of(parent).await?),
            None => None,
        };
        if let Some(parent) = reply_to {
            let live = self.store.head(parent).await?;
            match live {
                Some(h) if !h.deleted => {
                    self.not_blocked(author, h.author, "reply to").await?;
                    reply_to_author = Some(h.author);
                }
                _ => {
                    return Err(ApiError::Unprocessable(format!(
                        "reply_to: no post {parent}"
                    )))
                }
            }
        }
        let mentions = self.mentions(text.as_str()).await?;
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
                reply_to_author,
                mentions: mentions.iter().map(|m| m.id).collect(),
                repost_of: None,
                repost_of_author: None,
            },
        };
        let post = NewPost {
            id,
            author,
            text: text.into_string(),
            reply_to,
            created_at_ms,
            mentions,
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

    /// The live post `id`, as the write side holds it (a repost with its original).
    pub async fn post(&self, id: Id) -> ApiResult<Post> {
        let post = self
            .store
            .post(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no post {id}")))?;
        self.with_original(post).await
    }

    /// `post` with the post it reposts in place of its id: 404 when that is gone (a
    /// repost of a deleted post is gone with it).
    async fn with_original(&self, mut post: Post) -> ApiResult<Post> {
        if let Some(original) = post.original_id() {
            let whole = self
                .store
                .post(original)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no post {}", post.id)))?;
            post.repost_of = Some(Box::new(whole));
        }
        Ok(post)
    }

    /// `id`, or for a repost the post it reposts: what a reply, a like or a repost of a
    /// repost is about.
    async fn original_of(&self, id: Id) -> ApiResult<Id> {
        Ok(match self.store.head(id).await? {
            Some(PostHead {
                repost_of: Some(original),
                ..
            }) => original,
            _ => id,
        })
    }

    /// `caller` reposts `id` (its original, for a repost): the repost, and whether it was
    /// made now (else it is the caller's earlier one). 404 for a post that is not live,
    /// 403 across a block.
    pub async fn repost(&self, caller: Id, id: Id) -> ApiResult<(Post, bool)> {
        let original = self.original_of(id).await?;
        let head = self.live_head(original).await?;
        self.not_blocked(caller, head.author, "repost").await?;
        let repost = NewRepost {
            id: self.ids.next_id()?,
            author: caller,
            original,
            created_at_ms: now_ms(),
        };
        let event = Event {
            id: self.ids.next_id()?,
            version: 1,
            occurred_at_ms: repost.created_at_ms,
            trace: chirp_core::traces::current(),
            body: EventBody::PostCreated {
                post_id: repost.id,
                author_id: caller,
                text: String::new(),
                reply_to: None,
                created_at_ms: repost.created_at_ms,
                reply_to_author: None,
                mentions: Vec::new(),
                repost_of: Some(original),
                repost_of_author: Some(head.author),
            },
        };
        let (post, new) = match self.store.repost(&repost, &event).await? {
            Reposted::New(post) => {
                self.outbox_wake.notify_one();
                (post, true)
            }
            Reposted::Already(post) => (post, false),
            Reposted::NoPost => return Err(ApiError::NotFound(format!("no post {id}"))),
        };
        Ok((self.with_original(post).await?, new))
    }

    /// `caller` no longer reposts `id` (its original, for a repost): idempotent.
    pub async fn unrepost(&self, caller: Id, id: Id) -> ApiResult<()> {
        let original = self.original_of(id).await?;
        let stamp = EventStamp {
            id: self.ids.next_id()?,
            occurred_at_ms: now_ms(),
            trace: chirp_core::traces::current(),
        };
        if self.store.unrepost(caller, original, &stamp).await? {
            self.outbox_wake.notify_one();
        }
        Ok(())
    }

    pub async fn edit(&self, caller: Id, id: Id, text: &str) -> ApiResult<Post> {
        let text = PostText::parse(text).map_err(ApiError::Unprocessable)?;
        let mentions = self.mentions(text.as_str()).await?;
        for _ in 0..ATTEMPTS {
            let head = self.owned_head(caller, id).await?;
            if head.repost_of.is_some() {
                return Err(ApiError::Unprocessable(
                    "a repost has no text to edit (delete it, or repost again)".into(),
                ));
            }
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
                    mentions: mentions.iter().map(|m| m.id).collect(),
                },
            };
            let edit = Edit {
                text: text.as_str().to_owned(),
                mentions: mentions.clone(),
                edited_at_ms,
            };
            let edited = self.store.edit(id, head.version, &edit, &event).await?;
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

    /// `caller` likes `post`: idempotent; 404 for a post that is not live.
    pub async fn like(&self, caller: Id, post: Id) -> ApiResult<()> {
        let post = self.original_of(post).await?;
        let head = self.live_head(post).await?;
        self.not_blocked(caller, head.author, "like").await?;
        let like = Like {
            id: self.ids.next_id()?,
            user: caller,
            post,
        };
        let event = self.like_event(caller, head, true)?;
        match self.store.like(&like, &event).await? {
            Liked::New => {
                self.outbox_wake.notify_one();
                Ok(())
            }
            Liked::Already => Ok(()),
            Liked::NoPost => Err(ApiError::NotFound(format!("no post {post}"))),
        }
    }

    /// `caller` no longer likes `post`: idempotent, whatever became of the post.
    pub async fn unlike(&self, caller: Id, post: Id) -> ApiResult<()> {
        let post = self.original_of(post).await?;
        let Some(head) = self.store.head(post).await? else {
            return Ok(());
        };
        let event = self.like_event(caller, head, false)?;
        if self.store.unlike(caller, post, &event).await? {
            self.outbox_wake.notify_one();
        }
        Ok(())
    }

    fn like_event(&self, user: Id, head: PostHead, created: bool) -> ApiResult<Event> {
        let (post_id, post_author) = (head.id, head.author);
        Ok(Event {
            id: self.ids.next_id()?,
            version: 1,
            occurred_at_ms: now_ms(),
            trace: chirp_core::traces::current(),
            body: if created {
                EventBody::LikeCreated {
                    user_id: user,
                    post_id,
                    post_author,
                }
            } else {
                EventBody::LikeDeleted {
                    user_id: user,
                    post_id,
                    post_author,
                }
            },
        })
    }

    /// 403 when `author` blocks `caller` or `caller` blocks `author` (one's own posts are
    /// never blocked). Asked of UserGraphService before the write: a block made while the
    /// write is under way may miss it, as on every system whose graph is a store of its
    /// own.
    async fn not_blocked(&self, caller: Id, author: Id, action: &str) -> ApiResult<()> {
        if caller == author {
            return Ok(());
        }
        let hidden = self.graph.hidden_from(caller).await?;
        if hidden.blocked.contains(&author) {
            return Err(ApiError::Forbidden(format!(
                "a block stands between you and this post's author: you cannot {action} it"
            )));
        }
        Ok(())
    }

    /// The users `text` mentions who exist.
    async fn mentions(&self, text: &str) -> ApiResult<Vec<Mention>> {
        let handles = chirp_core::text::mentioned_handles(text);
        if handles.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.store.users_by_handle(&handles).await?)
    }

    /// The live post `id`: 404 when there is none.
    async fn live_head(&self, id: Id) -> ApiResult<PostHead> {
        match self.store.head(id).await? {
            Some(h) if !h.deleted => Ok(h),
            _ => Err(ApiError::NotFound(format!("no post {id}"))),
        }
    }

    /// The live post `id`, if `caller` wrote it: 404 when there is none, 403 when it is
    /// someone else's.
    async fn owned_head(&self, caller: Id, id: Id) -> ApiResult<PostHead> {
        let head = self.live_head(id).await?;
        if head.author == caller {
            Ok(head)
        } else {
            Err(ApiError::Forbidden(
                "only the author may change a post".into(),
            ))
        }
    }
}

/// WriteService's consumer group: it forgets the writing of a deleted account.
pub const GROUP: &str = "chirp-write";
pub const TOPICS: &[chirp_core::events::Topic] = &[chirp_core::events::Topic::Users];

#[async_trait::async_trait]
impl chirp_core::events::EventHandler for WriteService {
    /// Idempotent: a deleted account's redelivered event finds nothing left to delete.
    async fn handle(&self, events: &[Event]) -> anyhow::Result<()> {
        for e in events {
            if let EventBody::UserDeleted { user_id } = &e.body {
                let posts = self
                    .store
                    .delete_user(*user_id, e.occurred_at_ms)
                    .await
                    .map_err(|err| {
                        anyhow::anyhow!("forgetting the posts of user {user_id}: {err:#}")
                    })?;
                tracing::info!(user = %user_id, posts, "a deleted account's posts and likes are gone");
            }
        }
        Ok(())
    }
}
