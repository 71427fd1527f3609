//! Any notification store, with every call timed into the dependency metrics.

use async_trait::async_trait;
use chirp_core::store::StoreResult;
pub use chirp_core::timed::Timed;
use chirp_core::Id;

use crate::domain::{Change, NewNotification};
use crate::ports::{NotificationStore, Query, Row};

#[async_trait]
impl NotificationStore for Timed<dyn NotificationStore> {
    async fn apply(&self, changes: &[Change]) -> StoreResult<Vec<NewNotification>> {
        self.time("notifications_apply", self.inner().apply(changes))
            .await
    }
    async fn stored(&self, keys: &[(Id, Id)]) -> StoreResult<Vec<NewNotification>> {
        self.time("notifications_stored", self.inner().stored(keys))
            .await
    }
    async fn page(&self, recipient: Id, q: &Query) -> StoreResult<Vec<Row>> {
        self.time("notifications_page", self.inner().page(recipient, q))
            .await
    }
    async fn read_up_to(&self, recipient: Id) -> StoreResult<u64> {
        self.time("notifications_mark", self.inner().read_up_to(recipient))
            .await
    }
    async fn mark_read(&self, recipient: Id, up_to: u64) -> StoreResult<()> {
        self.time(
            "notifications_mark_read",
            self.inner().mark_read(recipient, up_to),
        )
        .await
    }
    async fn dismiss(&self, recipient: Id, id: Option<Id>) -> StoreResult<u64> {
        self.time("notifications_dismiss", self.inner().dismiss(recipient, id))
            .await
    }
    async fn unread(&self, recipient: Id, hidden: &[Id]) -> StoreResult<u64> {
        self.time(
            "notifications_unread",
            self.inner().unread(recipient, hidden),
        )
        .await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner().ping().await
    }
}
