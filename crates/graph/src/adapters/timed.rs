//! Any follow store, with every call timed into the dependency metrics
//! (`chirp_dependency_duration_seconds`, `chirp_dependency_errors_total`).

use async_trait::async_trait;
use chirp_core::events::Event;
use chirp_core::model::{FollowCounts, Relationship};
use chirp_core::page::PageRequest;
use chirp_core::peers::{GraphPage, Hidden, HomeContext};
use chirp_core::store::StoreResult;
pub use chirp_core::timed::Timed;
use chirp_core::Id;
use std::collections::HashMap;

use crate::ports::{BlockEvents, Edge, FollowStore, Followed};

#[async_trait]
impl FollowStore for Timed<dyn FollowStore> {
    async fn follow(
        &self,
        follower: Id,
        followee: Id,
        key: u64,
        event: &Event,
    ) -> StoreResult<Followed> {
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
    async fn block(
        &self,
        blocker: Id,
        blocked: Id,
        key: u64,
        events: &BlockEvents,
    ) -> StoreResult<bool> {
        self.time("block", self.inner().block(blocker, blocked, key, events))
            .await
    }
    async fn mute(&self, muter: Id, muted: Id, key: u64, event: &Event) -> StoreResult<bool> {
        self.time("mute", self.inner().mute(muter, muted, key, event))
            .await
    }
    async fn remove_edge(&self, edge: Edge, from: Id, to: Id, event: &Event) -> StoreResult<bool> {
        let name = match edge {
            Edge::Block => "unblock",
            Edge::Mute => "unmute",
        };
        self.time(name, self.inner().remove_edge(edge, from, to, event))
            .await
    }
    async fn forget_edges_of(&self, user: Id) -> StoreResult<()> {
        self.time("forget_edges", self.inner().forget_edges_of(user))
            .await
    }
    async fn edges(&self, edge: Edge, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        let name = match edge {
            Edge::Block => "blocks_page",
            Edge::Mute => "mutes_page",
        };
        self.time(name, self.inner().edges(edge, user, page)).await
    }
    async fn follows_each(&self, pairs: &[(Id, Id)]) -> StoreResult<Vec<bool>> {
        self.time("follows_each", self.inner().follows_each(pairs))
            .await
    }
    async fn relationships(&self, user: Id, others: &[Id]) -> StoreResult<Vec<Relationship>> {
        self.time("relationships", self.inner().relationships(user, others))
            .await
    }
    async fn hidden_from(&self, user: Id) -> StoreResult<Hidden> {
        self.time("hidden_from", self.inner().hidden_from(user))
            .await
    }
    async fn home_context(&self, user: Id, threshold: u64) -> StoreResult<HomeContext> {
        self.time("home_context", self.inner().home_context(user, threshold))
            .await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner().ping().await
    }
}
