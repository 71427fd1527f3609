//! Public profiles and the auth outbox on PostgreSQL: the deployed adapter.

use async_trait::async_trait;
use chirp_core::deployed::postgres::{create_outbox, enqueue, PgDb};
use chirp_core::events::Event;

use crate::ports::{ProfileStore, PublicProfile};

pub const OUTBOX: &str = "auth_outbox";

pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE profiles (
            id BIGINT PRIMARY KEY,
            handle TEXT NOT NULL,
            handle_key TEXT NOT NULL,
            display_name TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            CONSTRAINT profiles_handle_key UNIQUE (handle_key));"
            .to_owned(),
        create_outbox(OUTBOX),
    ]
}

#[derive(Debug, Clone)]
pub struct PgProfileStore {
    db: PgDb,
}

/// Creates or updates this service's tables.
pub async fn migrate(db: &PgDb) -> anyhow::Result<()> {
    let steps = migrations();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    db.migrate("auth", &steps).await
}

impl PgProfileStore {
    /// The store; its tables must have been made by [`migrate`].
    pub fn new(db: PgDb) -> Self {
        PgProfileStore { db }
    }
}

#[async_trait]
impl ProfileStore for PgProfileStore {
    async fn create(&self, p: &PublicProfile, event: &Event) -> anyhow::Result<()> {
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

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}
