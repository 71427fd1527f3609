//! What UserGraphService needs from storage. Deployed: PostgreSQL, with an outbox whose
//! events go to Kafka. Embedded: SQLite, with an outbox.

use std::collections::HashMap;

use async_trait::async_trait;
use chirp_core::events::Event;
use chirp_core::model::FollowCounts;
use chirp_core::page::PageRequest;
use chirp_core::peers::GraphPage;
use chirp_core::store::StoreResult;
use chirp_core::Id;

#[async_trait]
pub trait FollowStore: Send + Sync {
    /// Records that `follower` follows `followee`, ordered by `key`, with `event`; false
    /// (and nothing stored) when it already did.
    async fn follow(
        &self,
        follower: Id,
        followee: Id,
        key: u64,
        event: &Event,
    ) -> StoreResult<bool>;
    /// Forgets the follow, with `event`; false when there was none.
    async fn unfollow(&self, follower: Id, followee: Id, event: &Event) -> StoreResult<bool>;
    async fn followers(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage>;
    async fn following(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage>;
    /// Everyone `user` follows, up to `max`.
    async fn all_following(&self, user: Id, max: usize) -> StoreResult<Vec<Id>>;
    async fn counts(&self, users: &[Id]) -> StoreResult<HashMap<Id, FollowCounts>>;
    /// Those `user` follows who have more than `threshold` followers.
    async fn following_above(&self, user: Id, threshold: u64) -> StoreResult<Vec<Id>>;
    async fn ping(&self) -> StoreResult<()>;
}
