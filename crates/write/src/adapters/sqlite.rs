//! Posts on SQLite: the embedded default.

use async_trait::async_trait;
use chirp_core::embedded::outbox;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::Event;
use chirp_core::Id;
use sqlx::Row;

use crate::ports::{Created, NewPost, PostHead, PostStore};

pub const OUTBOX: &str = "write_outbox";

pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE posts (
            id INTEGER PRIMARY KEY,
            author_id INTEGER NOT NULL,
            text TEXT NOT NULL,
            reply_to INTEGER,
            created_at INTEGER NOT NULL,
            edited_at INTEGER,
            deleted_at INTEGER,
            version INTEGER NOT NULL DEFAULT 1);
         CREATE INDEX posts_author_live ON posts (author_id, id) WHERE deleted_at IS NULL;
         CREATE TABLE post_counts (user_id INTEGER PRIMARY KEY, posts INTEGER NOT NULL);
         CREATE TABLE post_idempotency (
            user_id INTEGER NOT NULL,
            key TEXT NOT NULL,
            post_id INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (user_id, key));"
            .to_owned(),
        outbox::create_table(OUTBOX),
    ]
}

#[derive(Debug, Clone)]
pub struct SqlitePostStore {
    db: SqliteDb,
}

impl SqlitePostStore {
    pub async fn new(db: SqliteDb) -> anyhow::Result<Self> {
        let steps = migrations();
        let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
        db.migrate("write", &steps).await?;
        Ok(SqlitePostStore { db })
    }
}

#[async_trait]
impl PostStore for SqlitePostStore {
    async fn create(
        &self,
        p: &NewPost,
        key: Option<&str>,
        event: &Event,
    ) -> anyhow::Result<Created> {
        let mut tx = self.db.writer.begin().await?;
        if let Some(key) = key {
            let first =
                sqlx::query("SELECT post_id FROM post_idempotency WHERE user_id = ? AND key = ?")
                    .bind(p.author.as_i64())
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(row) = first {
                return Ok(Created::Replayed(Id::from_i64(row.try_get(0)?)));
            }
            sqlx::query("INSERT INTO post_idempotency (user_id, key, post_id, created_at) VALUES (?, ?, ?, ?)")
                .bind(p.author.as_i64())
                .bind(key)
                .bind(p.id.as_i64())
                .bind(p.created_at_ms)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO posts (id, author_id, text, reply_to, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(p.id.as_i64())
        .bind(p.author.as_i64())
        .bind(&p.text)
        .bind(p.reply_to.map(Id::as_i64))
        .bind(p.created_at_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO post_counts (user_id, posts) VALUES (?, 1)
             ON CONFLICT (user_id) DO UPDATE SET posts = posts + 1",
        )
        .bind(p.author.as_i64())
        .execute(&mut *tx)
        .await?;
        outbox::enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(Created::New)
    }

    async fn head(&self, id: Id) -> anyhow::Result<Option<PostHead>> {
        let row = sqlx::query("SELECT author_id, version, deleted_at FROM posts WHERE id = ?")
            .bind(id.as_i64())
            .fetch_optional(&self.db.writer)
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
        let mut tx = self.db.writer.begin().await?;
        let changed = sqlx::query(
            "UPDATE posts SET text = ?, edited_at = ?, version = version + 1
             WHERE id = ? AND version = ? AND deleted_at IS NULL",
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
        outbox::enqueue(&mut tx, OUTBOX, event).await?;
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
        let mut tx = self.db.writer.begin().await?;
        // The text goes with the post: a deleted post keeps only what the system needs.
        let row = sqlx::query(
            "UPDATE posts SET text = '', deleted_at = ?, version = version + 1
             WHERE id = ? AND version = ? AND deleted_at IS NULL RETURNING author_id",
        )
        .bind(deleted_at_ms)
        .bind(id.as_i64())
        .bind(expected as i64)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let author: i64 = row.try_get(0)?;
        sqlx::query("UPDATE post_counts SET posts = posts - 1 WHERE user_id = ? AND posts > 0")
            .bind(author)
            .execute(&mut *tx)
            .await?;
        outbox::enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}
