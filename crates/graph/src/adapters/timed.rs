//! Any follow store, with every call timed into the dependency metrics
//! (`chirp_dependency_duration_seconds`, `chirp_dependency_errors_total`).

use async_trait::async_trait;
use chirp_core::events::Event;
pub use chirp_core::http::metrics::Timed;
use chirp_core::model::FollowCounts;
use chirp_core::page::PageRequest;
use chirp_core::peers::GraphPage;
use chirp_core::Id;
use std::collections::HashMap;

use crate::ports::FollowStore;

#[async_trait]
impl FollowStore for Timed<dyn FollowStore> {
    async fn follow(
        &self,
        follower: Id,
        followee: Id,
        key: u64,
        event: &Event,
    ) -> anyhow::Result<bool> {
        let call = self.inner.follow(follower, followee, key, event);
        self.metrics.time(self.dependency, "follow", call).await
    }
    async fn unfollow(&self, follower: Id, followee: Id, event: &Event) -> anyhow::Result<bool> {
        let call = self.inner.unfollow(follower, followee, event);
        self.metrics.time(self.dependency, "unfollow", call).await
    }
    async fn followers(&self, user: Id, page: PageRequest) -> anyhow::Result<GraphPage> {
        let call = self.inner.followers(user, page);
        self.metrics
            .time(self.dependency, "followers_page", call)
            .await
    }
    async fn following(&self, user: Id, page: PageRequest) -> anyhow::Result<GraphPage> {
        let call = self.inner.following(user, page);
        self.metrics
            .time(self.dependency, "following_page", call)
            .await
    }
    async fn all_following(&self, user: Id, max: usize) -> anyhow::Result<Vec<Id>> {
        let call = self.inner.all_following(user, max);
        self.metrics
            .time(self.dependency, "following_all", call)
            .await
    }
    async fn counts(&self, users: &[Id]) -> anyhow::Result<HashMap<Id, FollowCounts>> {
        let call = self.inner.counts(users);
        self.metrics
            .time(self.dependency, "follow_counts", call)
            .await
    }
    async fn following_above(&self, user: Id, threshold: u64) -> anyhow::Result<Vec<Id>> {
        let call = self.inner.following_above(user, threshold);
        self.metrics
            .time(self.dependency, "following_above", call)
            .await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}
