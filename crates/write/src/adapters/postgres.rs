//! Posts on PostgreSQL: the deployed adapter.

use async_trait::async_trait;
use chirp_core::deployed::postgres::{create_outbox, enqueue, PgDb};
use chirp_core::events::Event;
use chirp_core::Id;
use sqlx::Row;

use crate::ports::{Created, NewPost, PostHead, PostStore};

pub const OUTBOX: &str = "write_outbox";

pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE posts (
            id BIGINT PRIMARY KEY,
            author_id BIGINT NOT NULL,
            text TEXT NOT NULL,
            reply_to BIGINT,
            created_at BIGINT NOT NULL,
            edited_at BIGINT,
            deleted_at BIGINT,
            version BIGINT NOT NULL DEFAULT 1);
         CREATE INDEX posts_author_live ON posts (author_id, id DESC) WHERE deleted_at IS NULL;
         CREATE TABLE post_counts (user_id BIGINT PRIMARY KEY, posts BIGINT NOT NULL);
         CREATE TABLE post_idempotency (
            user_id BIGINT NOT NULL,
            key TEXT NOT NULL,
            post_id BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, key));"
            .to_owned(),
        create_outbox(OUTBOX),
    ]
}

#[derive(Debug, Clone)]
pub struct PgPostStore {
    db: PgDb,
}

/// Creates or updates this service's tables.
pub async fn migrate(db: &PgDb) -> anyhow::Result<()> {
    let steps = migrations();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    db.migrate("write", &steps).await
}

impl PgPostStore {
    /// The store; its tables must have been made by [`migrate`].
    pub fn new(db: PgDb) -> Self {
        PgPostStore { db }
    }
}

#[async_trait]
impl PostStore for PgPostStore {
    async fn create(
        &self,
        p: &NewPost,
        key: Option<&str>,
        event: &Event,
    ) -> anyhow::Result<Created> {
        let mut tx = self.db.pool.begin().await?;
        if let Some(key) = key {
            // Claim the key first; a concurrent retry waits here, then finds the claim.
            let claimed = sqlx::query(
                "INSERT INTO post_idempotency (user_id, key, post_id, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, key) DO NOTHING",
            )
            .bind(p.author.as_i64())
            .bind(key)
            .bind(p.id.as_i64())
            .bind(p.created_at_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                let row = sqlx::query(
                    "SELECT post_id FROM post_idempotency WHERE user_id = $1 AND key = $2",
                )
                .bind(p.author.as_i64())
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                return Ok(Created::Replayed(Id::from_i64(row.try_get(0)?)));
            }
        }
        sqlx::query(
            "INSERT INTO posts (id, author_id, text, reply_to, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(p.id.as_i64())
        .bind(p.author.as_i64())
        .bind(&p.text)
        .bind(p.reply_to.map(Id::as_i64))
        .bind(p.created_at_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO post_counts (user_id, posts) VALUES ($1, 1)
             ON CONFLICT (user_id) DO UPDATE SET posts = post_counts.posts + 1",
        )
        .bind(p.author.as_i64())
        .execute(&mut *tx)
        .await?;
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(Created::New)
    }

    async fn head(&self, id: Id) -> anyhow::Result<Option<PostHead>> {
        let row = sqlx::query("SELECT author_id, version, deleted_at FROM posts WHERE id = $1")
            .bind(id.as_i64())
            .fetch_optional(&self.db.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PostHead {
            id,
            author: Id::from_i64(row.try_get(0)?),
            version: row.try_get::<i64, _>(1)? as u64,
            deleted: row.try_get::<Option<i64>, _>(2)?.is_some(),
        }))
    }

    async fn edit(
        &self,
        id: Id,
        expected: u64,
        text: &str,
        edited_at_ms: i64,
        event: &Event,
    ) -> anyhow::Result<bool> {
        let mut tx = self.db.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE posts SET text = $1, edited_at = $2, version = version + 1
             WHERE id = $3 AND version = $4 AND deleted_at IS NULL",
        )
        .bind(text)
        .bind(edited_at_ms)
        .bind(id.as_i64())
        .bind(expected as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete(
        &self,
        id: Id,
        expected: u64,
        deleted_at_ms: i64,
        event: &Event,
    ) -> anyhow::Result<bool> {
        let mut tx = self.db.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE posts SET text = '', deleted_at = $1, version = version + 1
             WHERE id = $2 AND version = $3 AND deleted_at IS NULL RETURNING author_id",
        )
        .bind(deleted_at_ms)
        .bind(id.as_i64())
        .bind(expected as i64)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let author: i64 = row.try_get(0)?;
        sqlx::query("UPDATE post_counts SET posts = posts - 1 WHERE user_id = $1 AND posts > 0")
            .bind(author)
            .execute(&mut *tx)
            .await?;
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}
