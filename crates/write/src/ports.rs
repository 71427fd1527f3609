//! What WriteService needs from storage: the posts, their counts, idempotency keys and the
//! outbox, changed together. Deployed: PostgreSQL. Embedded: SQLite.

use async_trait::async_trait;
use chirp_core::events::Event;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    /// The idempotency key was used before, for this post.
    Replayed(Id),
}

#[async_trait]
pub trait PostStore: Send + Sync {
    /// Stores the post, its author's count, the idempotency key and `event`, all or nothing;
    /// with a key used before by the same author, stores nothing and names the first post.
    async fn create(
        &self,
        post: &NewPost,
        key: Option<&str>,
        event: &Event,
    ) -> anyhow::Result<Created>;
    async fn head(&self, id: Id) -> anyhow::Result<Option<PostHead>>;
    /// Replaces the text if the post is still at `expected_version`; false if not.
    async fn edit(
        &self,
        id: Id,
        expected_version: u64,
        text: &str,
        edited_at_ms: i64,
        event: &Event,
    ) -> anyhow::Result<bool>;
    /// Deletes the post if it is still at `expected_version`; false if not.
    async fn delete(
        &self,
        id: Id,
        expected_version: u64,
        deleted_at_ms: i64,
        event: &Event,
    ) -> anyhow::Result<bool>;
    async fn ping(&self) -> anyhow::Result<()>;
}
