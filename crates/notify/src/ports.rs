//! The store NotificationService keeps its notifications in. Deployed: PostgreSQL.
//! Embedded: SQLite in the data directory.

use async_trait::async_trait;
use chirp_core::store::StoreResult;
use chirp_core::Id;

use crate::domain::{Change, Kind, NewNotification};

/// A stored notification, as a page reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: Id,
    pub kind: Kind,
    pub actor: Id,
    pub post: Option<Id>,
    pub created_at_ms: i64,
}

/// Which of a user's notifications a page reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Only these kinds; empty for every kind.
    pub kinds: Vec<Kind>,
    /// Not by these actors (whom the user blocks or mutes, and who block the user).
    pub hidden: Vec<Id>,
    /// Only ids strictly below this one.
    pub before: Option<u64>,
    pub limit: usize,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Applies the changes in order, in one transaction; applying them again changes
    /// nothing. Returns the notifications added.
    async fn apply(&self, changes: &[Change]) -> StoreResult<Vec<NewNotification>>;
    /// The notifications stored for these (recipient, event) pairs, whichever delivery
    /// of the event stored them (with the id it gave).
    async fn stored(&self, keys: &[(Id, Id)]) -> StoreResult<Vec<NewNotification>>;
    /// `recipient`'s notifications that `q` asks for, newest first (none whose post,
    /// actor or subject is gone, even one stored while it went).
    async fn page(&self, recipient: Id, q: &Query) -> StoreResult<Vec<Row>>;
    /// Every notification of `recipient`'s with an id up to this one is read (0: none).
    async fn read_up_to(&self, recipient: Id) -> StoreResult<u64>;
    /// Marks every notification up to `up_to` read; a mark never moves back.
    async fn mark_read(&self, recipient: Id, up_to: u64) -> StoreResult<()>;
    /// Removes `recipient`'s notification `id`, or with `None` every one of theirs; how
    /// many were removed.
    async fn dismiss(&self, recipient: Id, id: Option<Id>) -> StoreResult<u64>;
    /// How many of `recipient`'s notifications are unread, leaving out those by `hidden`.
    async fn unread(&self, recipient: Id, hidden: &[Id]) -> StoreResult<u64>;
    async fn ping(&self) -> StoreResult<()>;
}
