//! Public profiles and the auth outbox on PostgreSQL: the deployed adapter.

use async_trait::async_trait;
use chirp_core::deployed::postgres::{enqueue, PgDb};
use chirp_core::events::{Event, EventStamp};
use chirp_core::store::StoreResult;
use chirp_core::Id;
use sqlx::Row;

use crate::ports::{ProfileChange, ProfileStore, PublicProfile};

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

    async fn update(
        &self,
        id: Id,
        change: &ProfileChange,
        stamp: &EventStamp,
    ) -> StoreResult<Option<PublicProfile>> {
        let mut tx = self.db.pool.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT handle, display_name, bio, created_at, version FROM profiles
             WHERE id = $1 FOR UPDATE",
        )
        .bind(id.as_i64())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let now = PublicProfile {
            id,
            handle: row.try_get(0)?,
            display_name: row.try_get(1)?,
            bio: row.try_get(2)?,
            created_at_ms: row.try_get(3)?,
        };
        let Some(changed) = change.applied_to(&now) else {
            return Ok(Some(now));
        };
        let version = row.try_get::<i64, _>(4)? as u64 + 1;
        sqlx::query("UPDATE profiles SET display_name = $2, bio = $3, version = $4 WHERE id = $1")
            .bind(id.as_i64())
            .bind(&changed.display_name)
            .bind(&changed.bio)
            .bind(version as i64)
            .execute(&mut *tx)
            .await?;
        enqueue(&mut tx, OUTBOX, &stamp.event(version, changed.updated())).await?;
        tx.commit().await?;
        Ok(Some(changed))
    }

    async fn delete(&self, id: Id, event: &Event) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM profiles WHERE id = $1")
            .bind(id.as_i64())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Ok(false);
        }
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}
