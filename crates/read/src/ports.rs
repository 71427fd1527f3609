//! What ReadService reads: the posts (WriteService's tables) and public profiles
//! (AuthService's) in one store, so a page hydrates in one round trip. Deployed:
//! PostgreSQL. Embedded: SQLite.

use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::model::Post;
use chirp_core::page::PageRequest;
use chirp_core::store::StoreResult;
use chirp_core::Id;

/// A public profile with its post count; follow counts come from the graph.
#[derive(Debug, Clone)]
pub struct Profile {
    pub id: Id,
    pub handle: String,
    pub display_name: String,
    pub created_at_ms: i64,
    pub posts_count: u64,
}

#[async_trait]
pub trait ReadStore: Send + Sync {
    /// The profiles among `ids`, in any order.
    async fn profiles(&self, ids: &[Id]) -> StoreResult<Vec<Profile>>;
    async fn profile_id_by_handle(&self, handle_key: &str) -> StoreResult<Option<Id>>;
    async fn profile_exists(&self, id: Id) -> StoreResult<bool>;
    /// The live posts among `ids`, with authors, in any order. (Shared: a store that
    /// keeps posts in memory hands out the ones it keeps.)
    async fn posts(&self, ids: &[Id]) -> StoreResult<Vec<Arc<Post>>>;
    /// Live posts by any of `authors`, newest first, on the page asked; one extra tells
    /// whether more follow.
    async fn posts_by(&self, authors: &[Id], page: PageRequest) -> StoreResult<Vec<Arc<Post>>>;
    async fn ping(&self) -> StoreResult<()>;
}
