//! What WriteService needs from storage: the posts, their counts, idempotency keys, likes
//! and the outbox, changed together. Deployed: PostgreSQL. Embedded: SQLite.

use async_trait::async_trait;
use chirp_core::events::{Event, EventStamp};
use chirp_core::model::{Author, Mention, Post};
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
    /// The users the text names, resolved when the post is written.
    pub mentions: Vec<Mention>,
}

/// What the write side knows of a stored post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostHead {
    pub id: Id,
    pub author: Id,
    pub version: u64,
    pub deleted: bool,
    /// For a repost, the post it reposts.
    pub repost_of: Option<Id>,
}

/// A repost to make: a post of its own, with no text.
#[derive(Debug, Clone, Copy)]
pub struct NewRepost {
    pub id: Id,
    pub author: Id,
    pub original: Id,
    pub created_at_ms: i64,
}

/// What a repost did; the post is the repost (its `repost_of` names the original only).
#[derive(Debug, Clone)]
pub enum Reposted {
    New(Post),
    /// The user reposted it before (and that repost is live): nothing changed.
    Already(Post),
    /// No live original: nothing changed.
    NoPost,
}

impl NewPost {
    /// The post as created, by `author`.
    pub fn into_post(self, author: Author) -> Post {
        Post {
            id: self.id,
            author,
            created_at: rfc3339(self.created_at_ms),
            edited_at: None,
            reply_to: self.reply_to,
            repost_of: None,
            tags: chirp_core::text::hashtags(&self.text),
            mentions: self.mentions,
            reply_count: 0,
            like_count: 0,
            repost_count: 0,
            viewer: None,
            text: self.text,
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
    /// What `author`'s idempotency key `key` made: `None` when it is unused, `Some(None)`
    /// when its post has since been deleted.
    async fn made_with_key(&self, author: Id, key: &str) -> StoreResult<Option<Option<Post>>>;
    /// The live post `id`.
    async fn post(&self, id: Id) -> StoreResult<Option<Post>>;
    /// Replaces the text (and what it mentions) if the post is still at
    /// `expected_version`, and gives the post as edited; `None` (and nothing changed) if
    /// not.
    async fn edit(
        &self,
        id: Id,
        expected_version: u64,
        edit: &Edit,
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
    /// The users holding `handles` (compared ignoring case), in the order asked, each
    /// once; handles nobody holds are left out.
    async fn users_by_handle(&self, handles: &[String]) -> StoreResult<Vec<Mention>>;
    /// Forgets a deleted account's writing, in one transaction: its live posts and reposts
    /// are deleted (their text goes) and its likes removed, each taken off the counts of
    /// the posts it counted on (replies, reposts, likes); its post count and idempotency
    /// keys go. The number of posts deleted; 0 when nothing was left (a redelivery).
    async fn delete_user(&self, user: Id, deleted_at_ms: i64) -> StoreResult<u64>;
    /// Records that `like.user` likes `like.post` (and counts it) with `event`, if the
    /// post is live and not liked by the user yet.
    async fn like(&self, like: &Like, event: &Event) -> StoreResult<Liked>;
    /// Removes `user`'s like of `post` (and its count) with `event`; whether there was one.
    async fn unlike(&self, user: Id, post: Id, event: &Event) -> StoreResult<bool>;
    /// Stores the repost (counted on the original) with `event`, if the original is live
    /// and the author has no live repost of it yet.
    async fn repost(&self, repost: &NewRepost, event: &Event) -> StoreResult<Reposted>;
    /// Deletes `user`'s live repost of `original` (and its count) with the
    /// `post.deleted` event `stamp` makes of it; whether there was one.
    async fn unrepost(&self, user: Id, original: Id, stamp: &EventStamp) -> StoreResult<bool>;
    async fn ping(&self) -> StoreResult<()>;
}

/// A new text for a post.
#[derive(Debug, Clone)]
pub struct Edit {
    pub text: String,
    pub mentions: Vec<Mention>,
    pub edited_at_ms: i64,
}

/// A like: its own time-ordered id orders the lists of likes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Like {
    pub id: Id,
    pub user: Id,
    pub post: Id,
}

/// What a like did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liked {
    New,
    /// The user liked the post before: nothing changed.
    Already,
    /// No live post: nothing changed.
    NoPost,
}
