//! Any post store, with every call timed into the dependency metrics.

use async_trait::async_trait;
use chirp_core::events::{Event, EventStamp};
use chirp_core::model::{Mention, Post};
use chirp_core::store::StoreResult;
pub use chirp_core::timed::Timed;
use chirp_core::Id;

use crate::ports::{Created, Edit, Like, Liked, NewPost, NewRepost, PostHead, PostStore, Reposted};

#[async_trait]
impl PostStore for Timed<dyn PostStore> {
    async fn create(
        &self,
        post: &NewPost,
        key: Option<&str>,
        event: &Event,
    ) -> StoreResult<Created> {
        self.time("post_create", self.inner().create(post, key, event))
            .await
    }
    async fn head(&self, id: Id) -> StoreResult<Option<PostHead>> {
        self.time("post_head", self.inner().head(id)).await
    }
    async fn post(&self, id: Id) -> StoreResult<Option<Post>> {
        self.time("post_get", self.inner().post(id)).await
    }
    async fn edit(
        &self,
        id: Id,
        expected_version: u64,
        edit: &Edit,
        event: &Event,
    ) -> StoreResult<Option<Post>> {
        let call = self.inner().edit(id, expected_version, edit, event);
        self.time("post_edit", call).await
    }
    async fn delete(
        &self,
        id: Id,
        expected_version: u64,
        deleted_at_ms: i64,
        event: &Event,
    ) -> StoreResult<bool> {
        let call = self
            .inner()
            .delete(id, expected_version, deleted_at_ms, event);
        self.time("post_delete", call).await
    }
    async fn users_by_handle(&self, handles: &[String]) -> StoreResult<Vec<Mention>> {
        self.time("users_by_handle", self.inner().users_by_handle(handles))
            .await
    }
    async fn delete_user(&self, user: Id, deleted_at_ms: i64) -> StoreResult<u64> {
        self.time("user_delete", self.inner().delete_user(user, deleted_at_ms))
            .await
    }
    async fn like(&self, like: &Like, event: &Event) -> StoreResult<Liked> {
        self.time("like", self.inner().like(like, event)).await
    }
    async fn unlike(&self, user: Id, post: Id, event: &Event) -> StoreResult<bool> {
        self.time("unlike", self.inner().unlike(user, post, event))
            .await
    }
    async fn made_with_key(&self, author: Id, key: &str) -> StoreResult<Option<Option<Post>>> {
        self.time("made_with_key", self.inner().made_with_key(author, key))
            .await
    }
    async fn repost(&self, repost: &NewRepost, event: &Event) -> StoreResult<Reposted> {
        self.time("repost", self.inner().repost(repost, event))
            .await
    }
    async fn unrepost(&self, user: Id, original: Id, stamp: &EventStamp) -> StoreResult<bool> {
        self.time("unrepost", self.inner().unrepost(user, original, stamp))
            .await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner().ping().await
    }
}
