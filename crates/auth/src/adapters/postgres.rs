//! Public profiles and the auth outbox on PostgreSQL: the deployed adapter.

use async_trait::async_trait;
use chirp_core::deployed::postgres::{enqueue, PgDb};
use chirp_core::events::Event;
use chirp_core::store::StoreResult;

use crate::ports::{ProfileStore, PublicProfile};

pub const OUTBOX: &str = "auth_outbox";

#[derive(Debug, Clone)]
pub struct PgProfileStore {
    db: PgDb,
}

impl PgProfileStore {
    /// The store; its tables must have been made by [`crate::SCHEMA`]'s migrations.
    pub fn new(db: PgDb) -> Self {
        PgProfileStore { db }
    }
}

#[async_trait]
impl ProfileStore for PgProfileStore {
    async fn create(&self, p: &PublicProfile, event: &Event) -> StoreResult<()> {
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(
            "INSERT INTO profiles (id, handle, handle_key, display_name, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(p.id.as_i64())
        .bind(&p.handle)
        .bind(p.handle.to_ascii_lowercase())
        .bind(&p.display_name)
        .bind(p.created_at_ms)
        .execute(&mut *tx)
        .await?;
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}
