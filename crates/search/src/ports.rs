//! The search index SearchService writes and queries. Deployed: Elasticsearch or
//! OpenSearch. Embedded: tantivy in the data directory. Adapters store and match the
//! terms [`crate::text`] makes; they decide nothing about language.

use async_trait::async_trait;
use chirp_core::page::PageRequest;
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
    async fn apply(&self, ops: Vec<IndexOp>) -> anyhow::Result<()>;
    /// Posts with every word and tag of `q`.
    async fn posts(&self, q: &PostQuery, page: PageRequest) -> anyhow::Result<Hits>;
    /// Users whose handle, display name, or a word of it, starts with `prefix` (a name key).
    async fn users(&self, prefix: &str, page: PageRequest) -> anyhow::Result<Hits>;
    async fn ping(&self) -> anyhow::Result<()>;
}
