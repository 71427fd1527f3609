//! Any search index, with every call timed into the dependency metrics.

use async_trait::async_trait;
use chirp_core::page::PageRequest;
use chirp_core::store::StoreResult;
pub use chirp_core::timed::Timed;

use crate::ports::{Hits, IndexOp, SearchIndex};
use crate::text::PostQuery;

#[async_trait]
impl SearchIndex for Timed<dyn SearchIndex> {
    async fn apply(&self, ops: Vec<IndexOp>) -> StoreResult<()> {
        self.time("bulk", self.inner().apply(ops)).await
    }
    async fn posts(&self, q: &PostQuery, page: PageRequest) -> StoreResult<Hits> {
        self.time("search_posts", self.inner().posts(q, page)).await
    }
    async fn users(&self, prefix: &str, page: PageRequest) -> StoreResult<Hits> {
        self.time("search_users", self.inner().users(prefix, page))
            .await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner().ping().await
    }
}
