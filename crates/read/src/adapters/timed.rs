//! Any read store, with every call timed into the dependency metrics.

use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::model::Post;
use chirp_core::page::PageRequest;
use chirp_core::store::StoreResult;
pub use chirp_core::timed::Timed;
use chirp_core::Id;

use crate::ports::{Profile, ReadStore};

#[async_trait]
impl ReadStore for Timed<dyn ReadStore> {
    async fn profiles(&self, ids: &[Id]) -> StoreResult<Vec<Profile>> {
        self.time("profiles_find", self.inner().profiles(ids)).await
    }
    async fn profile_id_by_handle(&self, handle_key: &str) -> StoreResult<Option<Id>> {
        self.time(
            "profile_by_handle",
            self.inner().profile_id_by_handle(handle_key),
        )
        .await
    }
    async fn profile_exists(&self, id: Id) -> StoreResult<bool> {
        self.time("profile_exists", self.inner().profile_exists(id))
            .await
    }
    async fn posts(&self, ids: &[Id]) -> StoreResult<Vec<Arc<Post>>> {
        self.time("posts_find", self.inner().posts(ids)).await
    }
    async fn posts_by(&self, authors: &[Id], page: PageRequest) -> StoreResult<Vec<Arc<Post>>> {
        self.time("posts_by_authors", self.inner().posts_by(authors, page))
            .await
    }
    // Timed as the reads they extend: the same statement, with the caller's state.
    async fn posts_seen(&self, ids: &[Id], viewer: Option<Id>) -> StoreResult<Vec<Arc<Post>>> {
        self.time("posts_find", self.inner().posts_seen(ids, viewer))
            .await
    }
    async fn posts_by_seen(
        &self,
        authors: &[Id],
        page: PageRequest,
        viewer: Option<Id>,
    ) -> StoreResult<Vec<Arc<Post>>> {
        self.time(
            "posts_by_authors",
            self.inner().posts_by_seen(authors, page, viewer),
        )
        .await
    }
    async fn home_posts(
        &self,
        stored: &[Id],
        authors: &[Id],
        page: PageRequest,
        viewer: Id,
    ) -> StoreResult<(Vec<Arc<Post>>, Vec<Arc<Post>>)> {
        self.time(
            "home_posts",
            self.inner().home_posts(stored, authors, page, viewer),
        )
        .await
    }
    async fn replies(&self, post: Id, page: PageRequest) -> StoreResult<Vec<Arc<Post>>> {
        self.time("replies", self.inner().replies(post, page)).await
    }
    async fn ancestor_ids(&self, post: Id, max: usize) -> StoreResult<Vec<Id>> {
        self.time("ancestors", self.inner().ancestor_ids(post, max))
            .await
    }
    async fn likers(&self, post: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>> {
        self.time("likers", self.inner().likers(post, page)).await
    }

    async fn reposters(&self, post: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>> {
        self.time("reposters", self.inner().reposters(post, page))
            .await
    }
    async fn liked(&self, user: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>> {
        self.time("liked", self.inner().liked(user, page)).await
    }
    async fn viewer_state(&self, user: Id, posts: &[Id]) -> StoreResult<(Vec<Id>, Vec<Id>)> {
        self.time("viewer_state", self.inner().viewer_state(user, posts))
            .await
    }
    async fn reposted_among(&self, user: Id, posts: &[Id]) -> StoreResult<Vec<Id>> {
        self.time("reposted_among", self.inner().reposted_among(user, posts))
            .await
    }
    async fn reposts_of(&self, originals: &[Id]) -> StoreResult<Vec<(Id, Id, Id)>> {
        self.time("reposts_of", self.inner().reposts_of(originals))
            .await
    }
    async fn liked_among(&self, user: Id, posts: &[Id]) -> StoreResult<Vec<Id>> {
        self.time("liked_among", self.inner().liked_among(user, posts))
            .await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner().ping().await
    }
}
