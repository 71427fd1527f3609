//! Any post store, with every call timed into the dependency metrics
//! (`chirp_dependency_duration_seconds`, `chirp_dependency_errors_total`).

use async_trait::async_trait;
use chirp_core::events::Event;
pub use chirp_core::http::metrics::Timed;
use chirp_core::Id;

use crate::ports::{Created, NewPost, PostHead, PostStore};

#[async_trait]
impl PostStore for Timed<dyn PostStore> {
    async fn create(
        &self,
        post: &NewPost,
        key: Option<&str>,
        event: &Event,
    ) -> anyhow::Result<Created> {
        let call = self.inner.create(post, key, event);
        self.metrics
            .time(self.dependency, "post_create", call)
            .await
    }
    async fn head(&self, id: Id) -> anyhow::Result<Option<PostHead>> {
        let call = self.inner.head(id);
        self.metrics.time(self.dependency, "post_head", call).await
    }
    async fn edit(
        &self,
        id: Id,
        expected_version: u64,
        text: &str,
        edited_at_ms: i64,
        event: &Event,
    ) -> anyhow::Result<bool> {
        let call = self
            .inner
            .edit(id, expected_version, text, edited_at_ms, event);
        self.metrics.time(self.dependency, "post_edit", call).await
    }
    async fn delete(
        &self,
        id: Id,
        expected_version: u64,
        deleted_at_ms: i64,
        event: &Event,
    ) -> anyhow::Result<bool> {
        let call = self
            .inner
            .delete(id, expected_version, deleted_at_ms, event);
        self.metrics
            .time(self.dependency, "post_delete", call)
            .await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}
