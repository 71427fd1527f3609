//! What TimelineService needs: a store of home timelines (deployed: Redis sorted sets;
//! embedded: process memory) and a read of the posts store to rebuild them from
//! (deployed: PostgreSQL; embedded: SQLite).

use std::collections::HashMap;

use async_trait::async_trait;
use chirp_core::page::PageRequest;
use chirp_core::peers::TimelineEntry;
use chirp_core::store::StoreResult;
use chirp_core::Id;

/// Home timelines: per user, a newest-first list of distinct entries, at most `cap` long.
///
/// A timeline may be absent ("cold"): then writes to it are dropped, because a rebuild
/// will read everything from the posts store. A rebuild is bracketed by
/// [`begin_rebuild`](TimelineStore::begin_rebuild), after which the timeline counts as
/// present (writes land), and [`finish_rebuild`](TimelineStore::finish_rebuild), which
/// merges what the posts store gave, less anything removed since the rebuild began.
#[async_trait]
pub trait TimelineStore: Send + Sync {
    /// A page of post ids; `None` when the timeline is cold or still being rebuilt.
    async fn page(&self, user: Id, page: PageRequest) -> StoreResult<Option<Vec<Id>>>;
    /// Adds `entries` to each of `users`' timelines that is present; idempotent.
    async fn insert(&self, users: &[Id], entries: &[TimelineEntry], cap: usize) -> StoreResult<()>;
    /// Adds each user's entries to that user's timeline, if present; idempotent.
    async fn insert_each(
        &self,
        timelines: &[(Id, Vec<TimelineEntry>)],
        cap: usize,
    ) -> StoreResult<()> {
        for (user, entries) in timelines {
            self.insert(&[*user], entries, cap).await?;
        }
        Ok(())
    }
    async fn remove_post(&self, users: &[Id], post: Id) -> StoreResult<()>;
    async fn remove_author(&self, user: Id, author: Id) -> StoreResult<()>;
    async fn begin_rebuild(&self, user: Id) -> StoreResult<()>;
    async fn finish_rebuild(
        &self,
        user: Id,
        entries: Vec<TimelineEntry>,
        cap: usize,
    ) -> StoreResult<()>;
    /// Everything held for `user` (for inspection and tests); `None` when cold.
    async fn entries(&self, user: Id) -> StoreResult<Option<Vec<TimelineEntry>>>;
    async fn ping(&self) -> StoreResult<()>;
}

/// The posts store, read to rebuild and backfill timelines.
#[async_trait]
pub trait PostsSource: Send + Sync {
    /// The newest live posts by any of `authors`, newest first, at most `limit`.
    async fn recent_by(&self, authors: &[Id], limit: usize) -> StoreResult<Vec<TimelineEntry>>;
    /// For each of `posts` that is a reply, the author of the post it replies to.
    async fn replied_authors(&self, posts: &[Id]) -> StoreResult<HashMap<Id, Id>>;
    async fn ping(&self) -> StoreResult<()>;
}
