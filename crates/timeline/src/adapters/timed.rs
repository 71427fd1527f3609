//! Any timeline store or posts source, with every call timed into the dependency metrics.

use std::collections::HashMap;

use async_trait::async_trait;
use chirp_core::page::PageRequest;
use chirp_core::peers::TimelineEntry;
use chirp_core::store::StoreResult;
pub use chirp_core::timed::Timed;
use chirp_core::Id;

use crate::ports::{PostsSource, TimelineStore};

#[async_trait]
impl TimelineStore for Timed<dyn TimelineStore> {
    async fn page(&self, user: Id, page: PageRequest) -> StoreResult<Option<Vec<Id>>> {
        self.time("timeline_page", self.inner().page(user, page))
            .await
    }
    async fn insert(&self, users: &[Id], entries: &[TimelineEntry], cap: usize) -> StoreResult<()> {
        self.time("timeline_insert", self.inner().insert(users, entries, cap))
            .await
    }
    async fn insert_each(
        &self,
        timelines: &[(Id, Vec<TimelineEntry>)],
        cap: usize,
    ) -> StoreResult<()> {
        self.time("timeline_insert", self.inner().insert_each(timelines, cap))
            .await
    }
    async fn remove_post(&self, users: &[Id], post: Id) -> StoreResult<()> {
        self.time(
            "timeline_remove_post",
            self.inner().remove_post(users, post),
        )
        .await
    }
    async fn remove_author(&self, user: Id, author: Id) -> StoreResult<()> {
        self.time(
            "timeline_remove_author",
            self.inner().remove_author(user, author),
        )
        .await
    }
    async fn begin_rebuild(&self, user: Id) -> StoreResult<()> {
        self.time("timeline_begin_rebuild", self.inner().begin_rebuild(user))
            .await
    }
    async fn finish_rebuild(
        &self,
        user: Id,
        entries: Vec<TimelineEntry>,
        cap: usize,
    ) -> StoreResult<()> {
        self.time(
            "timeline_finish_rebuild",
            self.inner().finish_rebuild(user, entries, cap),
        )
        .await
    }
    async fn entries(&self, user: Id) -> StoreResult<Option<Vec<TimelineEntry>>> {
        self.inner().entries(user).await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner().ping().await
    }
}

#[async_trait]
impl PostsSource for Timed<dyn PostsSource> {
    async fn replied_authors(&self, posts: &[Id]) -> StoreResult<HashMap<Id, Id>> {
        self.time("replied_authors", self.inner().replied_authors(posts))
            .await
    }
    async fn recent_by(&self, authors: &[Id], limit: usize) -> StoreResult<Vec<TimelineEntry>> {
        self.time("recent_posts", self.inner().recent_by(authors, limit))
            .await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner().ping().await
    }
}
