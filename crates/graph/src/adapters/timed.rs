//! Any follow store, with every call timed into the dependency metrics
//! (`chirp_dependency_duration_seconds`, `chirp_dependency_errors_total`).

use async_trait::async_trait;
use chirp_core::events::Event;
use chirp_core::model::FollowCounts;
use chirp_core::page::PageRequest;
use chirp_core::peers::GraphPage;
use chirp_core::store::StoreResult;
pub use chirp_core::timed::Timed;
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
    ) -> StoreResult<bool> {
        self.time(
            "follow",
            self.inner().follow(follower, followee, key, event),
        )
        .await
    }
    async fn unfollow(&self, follower: Id, followee: Id, event: &Event) -> StoreResult<bool> {
        self.time("unfollow", self.inner().unfollow(follower, followee, event))
            .await
    }
    async fn followers(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        self.time("followers_page", self.inner().followers(user, page))
            .await
    }
    async fn following(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        self.time("following_page", self.inner().following(user, page))
            .await
    }
    async fn all_following(&self, user: Id, max: usize) -> StoreResult<Vec<Id>> {
        self.time("following_all", self.inner().all_following(user, max))
            .await
    }
    async fn counts(&self, users: &[Id]) -> StoreResult<HashMap<Id, FollowCounts>> {
        self.time("follow_counts", self.inner().counts(users)).await
    }
    async fn following_above(&self, user: Id, threshold: u64) -> StoreResult<Vec<Id>> {
        self.time(
            "following_above",
            self.inner().following_above(user, threshold),
        )
        .await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner().ping().await
    }
}
