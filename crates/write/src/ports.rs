//! What WriteService needs from storage: the posts, their counts, idempotency keys and the
//! outbox, changed together. Deployed: PostgreSQL. Embedded: SQLite.

use async_trait::async_trait;
use chirp_core::events::Event;
use chirp_core::model::{Author, Post};
use chirp_core::store::StoreResult;
use chirp_core::time::rfc3339;
use chirp_core::Id;

#[derive(Debug, Clone)]
pub struct NewPost {
    pub id: Id,
    pub author: Id,
    pub text: String,
    pub reply_to: Option<Id>,
    pub created_at_ms: i64,
}

/// What the write side knows of a stored post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostHead {
    pub id: Id,
    pub author: Id,
    pub version: u64,
    pub deleted: bool,
}

impl NewPost {
    /// The post as created, by `author`.
    pub fn into_post(self, author: Author) -> Post {
        Post {
            id: self.id,
            author,
            text: self.text,
            created_at: rfc3339(self.created_at_ms),
            edited_at: None,
            reply_to: self.reply_to,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// What a create stored. Each post is as the store the write went to holds it, with its
/// author's public name: a write answers from it, never from ReadService (whose failure
/// would turn a stored post into an error, and its retry into a second post).
pub enum Created {
    New(Post),
    /// The idempotency key was used before, for this post (`None`: deleted since).
    Replayed(Option<Post>),
    /// The author has no public profile (the account is gone): nothing was stored.
    UnknownAuthor,
}

#[async_trait]
pub trait PostStore: Send + Sync {
    /// Stores the post, its author's count, the idempotency key and `event`, all or nothing;
    /// with a key used before by the same author, stores nothing and gives the first post.
    async fn create(
        &self,
        post: &NewPost,
        key: Option<&str>,
        event: &Event,
    ) -> StoreResult<Created>;
    async fn head(&self, id: Id) -> StoreResult<Option<PostHead>>;
    /// The live post `id`.
    async fn post(&self, id: Id) -> StoreResult<Option<Post>>;
    /// Replaces the text if the post is still at `expected_version`, and gives the post
    /// as edited; `None` (and nothing changed) if not.
    async fn edit(
        &self,
        id: Id,
        expected_version: u64,
        text: &str,
        edited_at_ms: i64,
        event: &Event,
    ) -> StoreResult<Option<Post>>;
    /// Deletes the post if it is still at `expected_version`; false if not.
    async fn delete(
        &self,
        id: Id,
        expected_version: u64,
        deleted_at_ms: i64,
        event: &Event,
    ) -> StoreResult<bool>;
    async fn ping(&self) -> StoreResult<()>;
}
