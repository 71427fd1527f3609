//! Any timeline store or posts source, with every call timed into the dependency metrics
//! (`chirp_dependency_duration_seconds`, `chirp_dependency_errors_total`).

use async_trait::async_trait;
pub use chirp_core::http::metrics::Timed;
use chirp_core::page::PageRequest;
use chirp_core::peers::TimelineEntry;
use chirp_core::Id;

use crate::ports::{PostsSource, TimelineStore};

#[async_trait]
impl TimelineStore for Timed<dyn TimelineStore> {
    async fn page(&self, user: Id, page: PageRequest) -> anyhow::Result<Option<Vec<Id>>> {
        let call = self.inner.page(user, page);
        self.metrics
            .time(self.dependency, "timeline_page", call)
            .await
    }
    async fn insert(
        &self,
        users: &[Id],
        entries: &[TimelineEntry],
        cap: usize,
    ) -> anyhow::Result<()> {
        let call = self.inner.insert(users, entries, cap);
        self.metrics
            .time(self.dependency, "timeline_insert", call)
            .await
    }
    async fn remove_post(&self, users: &[Id], post: Id) -> anyhow::Result<()> {
        let call = self.inner.remove_post(users, post);
        self.metrics
            .time(self.dependency, "timeline_remove_post", call)
            .await
    }
    async fn remove_author(&self, user: Id, author: Id) -> anyhow::Result<()> {
        let call = self.inner.remove_author(user, author);
        self.metrics
            .time(self.dependency, "timeline_remove_author", call)
            .await
    }
    async fn begin_rebuild(&self, user: Id) -> anyhow::Result<()> {
        let call = self.inner.begin_rebuild(user);
        self.metrics
            .time(self.dependency, "timeline_begin_rebuild", call)
            .await
    }
    async fn finish_rebuild(
        &self,
        user: Id,
        entries: Vec<TimelineEntry>,
        cap: usize,
    ) -> anyhow::Result<()> {
        let call = self.inner.finish_rebuild(user, entries, cap);
        self.metrics
            .time(self.dependency, "timeline_finish_rebuild", call)
            .await
    }
    async fn entries(&self, user: Id) -> anyhow::Result<Option<Vec<TimelineEntry>>> {
        self.inner.entries(user).await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}

#[async_trait]
impl PostsSource for Timed<dyn PostsSource> {
    async fn recent_by(&self, authors: &[Id], limit: usize) -> anyhow::Result<Vec<TimelineEntry>> {
        let call = self.inner.recent_by(authors, limit);
        self.metrics
            .time(self.dependency, "recent_posts", call)
            .await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}
