//! What UserGraphService needs from storage. Deployed: PostgreSQL, with an outbox whose
//! events go to Kafka. Embedded: SQLite, with an outbox.

use std::collections::HashMap;

use async_trait::async_trait;
use chirp_core::events::Event;
use chirp_core::model::{FollowCounts, Relationship};
use chirp_core::page::PageRequest;
use chirp_core::peers::{GraphPage, Hidden, HomeContext};
use chirp_core::store::StoreResult;
use chirp_core::Id;

/// What a follow did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// Stored, with its event; `followers`: the followee's followers counted with it (a
    /// cache learns from it the moment an account goes above the hybrid-fanout threshold).
    Now { followers: u64 },
    /// It existed already: nothing stored.
    Already,
    /// One of the two blocks the other: nothing stored.
    Blocked,
}

/// The edges between two users other than follows: each `(from, to)` pair exists or not,
/// ordered by a key, listed most recent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// `from` blocks `to`.
    Block,
    /// `from` mutes `to`.
    Mute,
}

impl Edge {
    /// The table and its two user columns (`from`, `to`).
    pub fn table(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Edge::Block => ("blocks", "blocker", "blocked"),
            Edge::Mute => ("mutes", "muter", "muted"),
        }
    }
}

/// The events a block may commit with: its own, and the ends of the follows between the
/// two users (each enqueued only when that follow existed).
#[derive(Debug, Clone)]
pub struct BlockEvents {
    pub block: Event,
    /// `follow.deleted` of blocker → blocked.
    pub unfollow: Event,
    /// `follow.deleted` of blocked → blocker.
    pub unfollowed: Event,
}

#[async_trait]
pub trait FollowStore: Send + Sync {
    /// Records that `follower` follows `followee`, ordered by `key`, with `event`, unless
    /// it already did or a block stands between them (either way): checked in the same
    /// transaction, so a block and a follow racing never leave both.
    async fn follow(
        &self,
        follower: Id,
        followee: Id,
        key: u64,
        event: &Event,
    ) -> StoreResult<Followed>;
    /// Forgets the follow, with `event`; false when there was none.
    async fn unfollow(&self, follower: Id, followee: Id, event: &Event) -> StoreResult<bool>;
    async fn followers(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage>;
    async fn following(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage>;
    /// Everyone `user` follows, up to `max`.
    async fn all_following(&self, user: Id, max: usize) -> StoreResult<Vec<Id>>;
    async fn counts(&self, users: &[Id]) -> StoreResult<HashMap<Id, FollowCounts>>;
    /// Those `user` follows who have more than `threshold` followers.
    async fn following_above(&self, user: Id, threshold: u64) -> StoreResult<Vec<Id>>;
    /// `blocker` blocks `blocked`, ordered by `key`: the block, the end of the follows
    /// between them both ways (with their counts), and the events, in one transaction;
    /// false (nothing changed) when the block existed.
    async fn block(
        &self,
        blocker: Id,
        blocked: Id,
        key: u64,
        events: &BlockEvents,
    ) -> StoreResult<bool>;
    /// `muter` mutes `muted`, ordered by `key`, with `event`; false when it did already.
    async fn mute(&self, muter: Id, muted: Id, key: u64, event: &Event) -> StoreResult<bool>;
    /// Removes the edge `from` → `to` with `event`; false when there was none.
    async fn remove_edge(&self, edge: Edge, from: Id, to: Id, event: &Event) -> StoreResult<bool>;
    /// Removes every block and mute `user` is on either side of (a deleted account's),
    /// without events: the `user.deleted` being handled says it all.
    async fn forget_edges_of(&self, user: Id) -> StoreResult<()>;
    /// The users `user` blocks or mutes, most recent first.
    async fn edges(&self, edge: Edge, user: Id, page: PageRequest) -> StoreResult<GraphPage>;
    /// Whether each `(follower, followee)` pair is a follow, in the order asked.
    async fn follows_each(&self, pairs: &[(Id, Id)]) -> StoreResult<Vec<bool>>;
    /// What lies between `user` and each of `others`, in their order.
    async fn relationships(&self, user: Id, others: &[Id]) -> StoreResult<Vec<Relationship>>;
    /// Whose posts `user` does not see: those `user` blocks and who block `user`, and
    /// those `user` mutes.
    async fn hidden_from(&self, user: Id) -> StoreResult<Hidden>;
    /// What a home read needs: [`HomeContext`]. A store over the network answers in one
    /// round trip.
    async fn home_context(&self, user: Id, threshold: u64) -> StoreResult<HomeContext> {
        let me = [user];
        let (hidden, mut celebrities, own) = tokio::try_join!(
            self.hidden_from(user),
            self.following_above(user, threshold),
            self.counts(&me)
        )?;
        if own.get(&user).is_some_and(|c| c.followers > threshold) {
            celebrities.push(user);
        }
        Ok(HomeContext {
            hidden,
            celebrities,
        })
    }
    async fn ping(&self) -> StoreResult<()>;
}
