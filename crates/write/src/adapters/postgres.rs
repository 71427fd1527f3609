//! Posts on PostgreSQL: the deployed adapter.

use async_trait::async_trait;
use chirp_core::deployed::postgres::{enqueue, post_from_row, PgDb};
use chirp_core::events::Event;
use chirp_core::model::{Author, Post, POST_COLUMNS};
use chirp_core::store::{StoreError, StoreResult};
use chirp_core::Id;
use sqlx::{PgConnection, Row};

use crate::ports::{Created, NewPost, PostHead, PostStore};

pub const OUTBOX: &str = "write_outbox";

#[derive(Debug, Clone)]
pub struct PgPostStore {
    db: PgDb,
}

impl PgPostStore {
    /// The store; its tables must have been made by [`crate::SCHEMA`]'s migrations.
    pub fn new(db: PgDb) -> Self {
        PgPostStore { db }
    }
}

/// The live post `id`, with its author's public name.
async fn live_post(conn: &mut PgConnection, id: Id) -> sqlx::Result<Option<Post>> {
    let sql = format!(
        "SELECT {POST_COLUMNS} FROM posts p JOIN profiles u ON u.id = p.author_id
         WHERE p.id = $1 AND p.deleted_at IS NULL"
    );
    let row = sqlx::query(&sql)
        .bind(id.as_i64())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(post_from_row).transpose()
}

#[async_trait]
impl PostStore for PgPostStore {
    async fn create(&self, p: &NewPost, key: Option<&str>, event: &Event) -> StoreResult<Created> {
        let mut tx = self.db.pool.begin().await?;
        let author = sqlx::query("SELECT handle, display_name FROM profiles WHERE id = $1")
            .bind(p.author.as_i64())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(author) = author else {
            return Ok(Created::UnknownAuthor);
        };
        let author = Author {
            id: p.author,
            handle: author.try_get(0)?,
            display_name: author.try_get(1)?,
        };
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
                let first: i64 = sqlx::query_scalar(
                    "SELECT post_id FROM post_idempotency WHERE user_id = $1 AND key = $2",
                )
                .bind(p.author.as_i64())
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                let first = live_post(&mut tx, Id::from_i64(first)).await?;
                return Ok(Created::Replayed(first));
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
        Ok(Created::New(p.clone().into_post(author)))
    }

    async fn head(&self, id: Id) -> StoreResult<Option<PostHead>> {
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

    async fn post(&self, id: Id) -> StoreResult<Option<Post>> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(live_post(&mut conn, id).await?)
    }

    async fn edit(
        &self,
        id: Id,
        expected: u64,
        text: &str,
        edited_at_ms: i64,
        event: &Event,
    ) -> StoreResult<Option<Post>> {
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
            return Ok(None);
        }
        let Some(edited) = live_post(&mut tx, id).await? else {
            let e = anyhow::anyhow!("post {id} edited without a profile");
            return Err(StoreError::new("postgres", e));
        };
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(Some(edited))
    }

    async fn delete(
        &self,
        id: Id,
        expected: u64,
        deleted_at_ms: i64,
        event: &Event,
    ) -> StoreResult<bool> {
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

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}
