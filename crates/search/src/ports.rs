//! The search index SearchService writes and queries. Deployed: Elasticsearch or
//! OpenSearch. Embedded: tantivy in the data directory. Adapters store and match the
//! terms [`crate::text`] makes; they decide nothing about language.

use async_trait::async_trait;
use chirp_core::page::PageRequest;
use chirp_core::store::{StoreError, StoreResult};
use chirp_core::Id;

use crate::text::PostQuery;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexOp {
    /// Insert or replace a post.
    Post {
        id: Id,
        author: Id,
        words: Vec<String>,
        tags: Vec<String>,
    },
    RemovePost {
        id: Id,
    },
    /// A deleted account: the user and every post of theirs.
    RemoveUser {
        id: Id,
    },
    /// Insert or replace a user.
    User {
        id: Id,
        handle_key: String,
        name_key: String,
    },
}

/// Ids of matches, newest first, and whether more follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hits {
    pub ids: Vec<Id>,
    pub more: bool,
}

#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// Applies the operations in order; once this returns they are durable and searchable.
    async fn apply(&self, ops: Vec<IndexOp>) -> StoreResult<()>;
    /// Posts with every word and tag of `q`.
    async fn posts(&self, q: &PostQuery, page: PageRequest) -> StoreResult<Hits>;
    /// Users whose handle, display name, or a word of it, starts with `prefix` (a name key).
    async fn users(&self, prefix: &str, page: PageRequest) -> StoreResult<Hits>;
    async fn ping(&self) -> StoreResult<()>;
}

/// An index on one dependency whose calls fail with errors of its own: every such index is
/// a [`SearchIndex`] whose failures name that dependency.
#[async_trait]
pub trait IndexBackend: Send + Sync {
    /// The dependency, as the metrics and the API's 503s name it.
    const DEPENDENCY: &'static str;
    async fn apply_async(&self, ops: Vec<IndexOp>) -> anyhow::Result<()>;
    async fn posts_now(&self, q: &PostQuery, page: PageRequest) -> anyhow::Result<Hits>;
    async fn users_now(&self, prefix: &str, page: PageRequest) -> anyhow::Result<Hits>;
    async fn ping_now(&self) -> anyhow::Result<()>;
}

fn failed<T: IndexBackend + ?Sized>(e: anyhow::Error) -> StoreError {
    StoreError::new(T::DEPENDENCY, e)
}

#[async_trait]
impl<T: IndexBackend> SearchIndex for T {
    async fn apply(&self, ops: Vec<IndexOp>) -> StoreResult<()> {
        self.apply_async(ops).await.map_err(failed::<T>)
    }

    async fn posts(&self, q: &PostQuery, page: PageRequest) -> StoreResult<Hits> {
        self.posts_now(q, page).await.map_err(failed::<T>)
    }

    async fn users(&self, prefix: &str, page: PageRequest) -> StoreResult<Hits> {
        self.users_now(prefix, page).await.map_err(failed::<T>)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.ping_now().await.map_err(failed::<T>)
    }
}
