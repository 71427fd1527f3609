//! Posts on SQLite: the embedded default.

use async_trait::async_trait;
use chirp_core::embedded::cache::PostCaches;
use chirp_core::embedded::outbox;
use chirp_core::embedded::sqlite::{post_from_row, SqliteDb};
use chirp_core::events::Event;
use chirp_core::model::{Author, Post, POST_COLUMNS};
use chirp_core::store::StoreResult;
use chirp_core::Id;
use rusqlite::{params, Connection, OptionalExtension};

use crate::ports::{Created, NewPost, PostHead, PostStore};

pub const OUTBOX: &str = "write_outbox";

#[derive(Debug, Clone)]
pub struct SqlitePostStore {
    db: SqliteDb,
    /// Posts ReadService keeps in memory in `chirp all`: a new post, an edit or a delete
    /// forgets its post (and its author's recent posts) there once it has committed.
    cached: Option<PostCaches>,
}

impl SqlitePostStore {
    pub async fn new(db: SqliteDb) -> StoreResult<Self> {
        db.migrate(crate::SCHEMA.owner, crate::SCHEMA.sqlite_steps())
            .await?;
        Ok(SqlitePostStore { db, cached: None })
    }

    /// Forgets changed posts in `caches`, ReadService's.
    pub fn forgetting_in(mut self, caches: PostCaches) -> Self {
        self.cached = Some(caches);
        self
    }

    /// After an edit or delete of `post` that answered its author (or failed): forgets
    /// what ReadService keeps of it; whether it changed.
    fn forget_changed<T>(
        &self,
        post: Id,
        result: StoreResult<Option<(Id, T)>>,
    ) -> StoreResult<Option<T>> {
        let Some(c) = &self.cached else {
            return result.map(|changed| changed.map(|(_, t)| t));
        };
        match result {
            Ok(Some((author, t))) => {
                c.forget(post, author);
                Ok(Some(t))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                // A failed commit may still have reached the disk; the author is unknown
                // here, so every author's recent posts go.
                c.by_id.forget(&post);
                c.recent.clear();
                Err(e)
            }
        }
    }

    fn forget(&self, post: Id, author: Id) {
        if let Some(c) = &self.cached {
            c.forget(post, author);
        }
    }
}

/// The live post `id` with its author's public name.
fn live_post(c: &Connection, id: Id) -> rusqlite::Result<Option<Post>> {
    let sql = format!(
        "SELECT {POST_COLUMNS} FROM posts p JOIN profiles u ON u.id = p.author_id
         WHERE p.id = ? AND p.deleted_at IS NULL"
    );
    c.prepare_cached(&sql)?
        .query_row([id.as_i64()], post_from_row)
        .optional()
}

#[async_trait]
impl PostStore for SqlitePostStore {
    async fn create(&self, p: &NewPost, key: Option<&str>, event: &Event) -> StoreResult<Created> {
        let (post, author) = (p.id, p.author);
        let (p, key, event) = (p.clone(), key.map(str::to_owned), event.clone());
        let result = self
            .db
            .write(move |c| {
                let (id, author) = (p.id.as_i64(), p.author.as_i64());
                let name: Option<(String, String)> = c
                    .prepare_cached("SELECT handle, display_name FROM profiles WHERE id = ?")?
                    .query_row([author], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let Some((handle, display_name)) = name else {
                    return Ok(Created::UnknownAuthor);
                };
                if let Some(key) = &key {
                    let first: Option<i64> = c
                        .prepare_cached(
                            "SELECT post_id FROM post_idempotency WHERE user_id = ? AND key = ?",
                        )?
                        .query_row(params![author, key], |r| r.get(0))
                        .optional()?;
                    if let Some(first) = first {
                        return Ok(Created::Replayed(live_post(c, Id::from_i64(first))?));
                    }
                    c.prepare_cached(
                        "INSERT INTO post_idempotency (user_id, key, post_id, created_at)
                         VALUES (?, ?, ?, ?)",
                    )?
                    .execute(params![author, key, id, p.created_at_ms])?;
                }
                c.prepare_cached(
                    "INSERT INTO posts (id, author_id, text, reply_to, created_at)
                     VALUES (?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    id,
                    author,
                    p.text,
                    p.reply_to.map(Id::as_i64),
                    p.created_at_ms
                ])?;
                c.prepare_cached(
                    "INSERT INTO post_counts (user_id, posts) VALUES (?, 1)
                     ON CONFLICT (user_id) DO UPDATE SET posts = posts + 1",
                )?
                .execute([author])?;
                outbox::enqueue(c, OUTBOX, &event)?;
                let author = Author {
                    id: p.author,
                    handle,
                    display_name,
                };
                Ok(Created::New(p.into_post(author)))
            })
            .await;
        // Whatever the outcome: a failed commit may still have reached the disk.
        self.forget(post, author);
        result
    }

    async fn head(&self, id: Id) -> StoreResult<Option<PostHead>> {
        let row: Option<(i64, i64, Option<i64>)> = self.db.read(|c| {
            c.prepare_cached("SELECT author_id, version, deleted_at FROM posts WHERE id = ?")?
                .query_row([id.as_i64()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })?;
        Ok(row.map(|(author, version, deleted_at)| PostHead {
            id,
            author: Id::from_i64(author),
            version: version as u64,
            deleted: deleted_at.is_some(),
        }))
    }

    async fn post(&self, id: Id) -> StoreResult<Option<Post>> {
        self.db.read(|c| live_post(c, id))
    }

    async fn edit(
        &self,
        id: Id,
        expected: u64,
        text: &str,
        edited_at_ms: i64,
        event: &Event,
    ) -> StoreResult<Option<Post>> {
        let (text, event) = (text.to_owned(), event.clone());
        let result = self
            .db
            .write(move |c| {
                let author: Option<i64> = c
                    .prepare_cached(
                        "UPDATE posts SET text = ?, edited_at = ?, version = version + 1
                         WHERE id = ? AND version = ? AND deleted_at IS NULL RETURNING author_id",
                    )?
                    .query_row(
                        params![text, edited_at_ms, id.as_i64(), expected as i64],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(author) = author else {
                    return Ok(None);
                };
                let edited = live_post(c, id)?
                    .ok_or_else(|| anyhow::anyhow!("post {id} edited without a profile"))?;
                outbox::enqueue(c, OUTBOX, &event)?;
                Ok(Some((Id::from_i64(author), edited)))
            })
            .await;
        self.forget_changed(id, result)
    }

    async fn delete(
        &self,
        id: Id,
        expected: u64,
        deleted_at_ms: i64,
        event: &Event,
    ) -> StoreResult<bool> {
        let event = event.clone();
        let result = self
            .db
            .write(move |c| {
                // The text goes with the post: a deleted post keeps only what the system
                // needs.
                let author: Option<i64> = c
                    .prepare_cached(
                        "UPDATE posts SET text = '', deleted_at = ?, version = version + 1
                         WHERE id = ? AND version = ? AND deleted_at IS NULL RETURNING author_id",
                    )?
                    .query_row(params![deleted_at_ms, id.as_i64(), expected as i64], |r| {
                        r.get(0)
                    })
                    .optional()?;
                let Some(author) = author else {
                    return Ok(None);
                };
                c.prepare_cached(
                    "UPDATE post_counts SET posts = posts - 1 WHERE user_id = ? AND posts > 0",
                )?
                .execute([author])?;
                outbox::enqueue(c, OUTBOX, &event)?;
                Ok(Some((Id::from_i64(author), ())))
            })
            .await;
        Ok(self.forget_changed(id, result)?.is_some())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}
