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
    pub bio: String,
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
    /// [`posts`](Self::posts), as `viewer` (if any) sees them: a store that reads the
    /// viewer's own like and repost of each post (of a repost: of its original) in the
    /// same round trip puts them in [`Post::viewer`]; one that does not leaves it `None`,
    /// and the reader asks [`viewer_state`](Self::viewer_state).
    async fn posts_seen(&self, ids: &[Id], viewer: Option<Id>) -> StoreResult<Vec<Arc<Post>>> {
        let _ = viewer;
        self.posts(ids).await
    }
    /// [`posts_by`](Self::posts_by), as `viewer` sees them, as [`posts_seen`](Self::posts_seen).
    async fn posts_by_seen(
        &self,
        authors: &[Id],
        page: PageRequest,
        viewer: Option<Id>,
    ) -> StoreResult<Vec<Arc<Post>>> {
        let _ = viewer;
        self.posts_by(authors, page).await
    }
    /// A home batch's posts as `viewer` sees them: the live ones among `stored` (from
    /// the stored timeline), and `authors`' on `page` (as [`posts_by`](Self::posts_by),
    /// one extra). A store over the network reads both in one round trip.
    async fn home_posts(
        &self,
        stored: &[Id],
        authors: &[Id],
        page: PageRequest,
        viewer: Id,
    ) -> StoreResult<(Vec<Arc<Post>>, Vec<Arc<Post>>)> {
        tokio::try_join!(
            self.posts_seen(stored, Some(viewer)),
            self.posts_by_seen(authors, page, Some(viewer))
        )
    }
    /// The live direct replies to `post`, oldest first, after `page.before` (in this list,
    /// the key the next page starts after); one extra tells whether more follow.
    async fn replies(&self, post: Id, page: PageRequest) -> StoreResult<Vec<Arc<Post>>>;
    /// The ids of the posts `post` replies to, nearest first, at most `max`: the chain
    /// ends after the first post that is deleted (which is among them) or unknown.
    async fn ancestor_ids(&self, post: Id, max: usize) -> StoreResult<Vec<Id>>;
    /// Who liked `post`, most recent like first, as (like key, user); one extra.
    async fn likers(&self, post: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>>;
    /// Who has a live repost of `post`, most recent first, as (repost id, user); one
    /// extra.
    async fn reposters(&self, post: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>>;
    /// The live posts `user` liked, most recent like first, as (like key, post); one
    /// extra.
    async fn liked(&self, user: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>>;
    /// Those of `posts` that `user` likes.
    async fn liked_among(&self, user: Id, posts: &[Id]) -> StoreResult<Vec<Id>>;
    /// Those of `posts` that `user` has a live repost of.
    async fn reposted_among(&self, user: Id, posts: &[Id]) -> StoreResult<Vec<Id>>;
    /// Both of the above: (liked, reposted). A store over the network answers in one
    /// round trip.
    async fn viewer_state(&self, user: Id, posts: &[Id]) -> StoreResult<(Vec<Id>, Vec<Id>)> {
        tokio::try_join!(
            self.liked_among(user, posts),
            self.reposted_among(user, posts)
        )
    }
    /// The live reposts of each of `originals`: `(original, repost, reposter)`.
    async fn reposts_of(&self, originals: &[Id]) -> StoreResult<Vec<(Id, Id, Id)>>;
    async fn ping(&self) -> StoreResult<()>;
}
