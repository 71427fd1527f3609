//! Any read store, with every call timed into the dependency metrics
//! (`chirp_dependency_duration_seconds`, `chirp_dependency_errors_total`).

use std::sync::Arc;

use async_trait::async_trait;
pub use chirp_core::http::metrics::Timed;
use chirp_core::model::Post;
use chirp_core::page::PageRequest;
use chirp_core::Id;

use crate::ports::{Profile, ReadStore};

#[async_trait]
impl ReadStore for Timed<dyn ReadStore> {
    async fn profiles(&self, ids: &[Id]) -> anyhow::Result<Vec<Profile>> {
        let call = self.inner.profiles(ids);
        self.metrics
            .time(self.dependency, "profiles_find", call)
            .await
    }
    async fn profile_id_by_handle(&self, handle_key: &str) -> anyhow::Result<Option<Id>> {
        let call = self.inner.profile_id_by_handle(handle_key);
        self.metrics
            .time(self.dependency, "profile_by_handle", call)
            .await
    }
    async fn profile_exists(&self, id: Id) -> anyhow::Result<bool> {
        let call = self.inner.profile_exists(id);
        self.metrics
            .time(self.dependency, "profile_exists", call)
            .await
    }
    async fn posts(&self, ids: &[Id]) -> anyhow::Result<Vec<Arc<Post>>> {
        let call = self.inner.posts(ids);
        self.metrics.time(self.dependency, "posts_find", call).await
    }
    async fn posts_by(&self, authors: &[Id], page: PageRequest) -> anyhow::Result<Vec<Arc<Post>>> {
        let call = self.inner.posts_by(authors, page);
        self.metrics
            .time(self.dependency, "posts_by_authors", call)
            .await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}
