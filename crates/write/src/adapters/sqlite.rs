//! Posts on SQLite: the embedded default.

use async_trait::async_trait;
use chirp_core::embedded::cache::PostCaches;
use chirp_core::embedded::outbox;
use chirp_core::embedded::sqlite::{post_from_row, SqliteDb};
use chirp_core::events::{Event, EventBody, EventStamp};
use chirp_core::model::{Author, Mention, Post, POST_COLUMNS, POST_FROM};
use chirp_core::store::{StoreError, StoreResult};
use chirp_core::Id;
use rusqlite::{params, Connection, OptionalExtension};

use crate::ports::{Created, Edit, Like, Liked, NewPost, NewRepost, PostHead, PostStore, Reposted};

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
                // here, so every author's recent posts (and reposts) go.
                c.by_id.forget(&post);
                c.recent.clear();
                c.reactions.clear();
                Err(e)
            }
        }
    }

    fn forget(&self, post: Id, author: Id) {
        if let Some(c) = &self.cached {
            c.forget(post, author);
        }
    }

    /// After a write that may have changed what `user` liked or reposted (committed, or
    /// failed and may have): forgets it in ReadService's keeping.
    fn forget_reactions(&self, user: Id) {
        if let Some(c) = &self.cached {
            c.reactions.forget(&user);
        }
    }
}

/// The live post `id` with its author's public name.
fn live_post(c: &Connection, id: Id) -> rusqlite::Result<Option<Post>> {
    let sql =
        format!("SELECT {POST_COLUMNS} FROM {POST_FROM} WHERE p.id = ? AND p.deleted_at IS NULL");
    c.prepare_cached(&sql)?
        .query_row([id.as_i64()], post_from_row)
        .optional()
}

#[async_trait]
impl PostStore for SqlitePostStore {
    async fn create(&self, p: &NewPost, key: Option<&str>, event: &Event) -> StoreResult<Created> {
        let (post, author, parent) = (p.id, p.author, p.reply_to);
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
                    return Ok((Created::UnknownAuthor, None));
                };
                if let Some(key) = &key {
                    let first: Option<i64> = c
                        .prepare_cached(
                            "SELECT post_id FROM post_idempotency WHERE user_id = ? AND key = ?",
                        )?
                        .query_row(params![author, key], |r| r.get(0))
                        .optional()?;
                    if let Some(first) = first {
                        let first = live_post(c, Id::from_i64(first))?;
                        return Ok((Created::Replayed(first), None));
                    }
                    c.prepare_cached(
                        "INSERT INTO post_idempotency (user_id, key, post_id, created_at)
                         VALUES (?, ?, ?, ?)",
                    )?
                    .execute(params![author, key, id, p.created_at_ms])?;
                }
                c.prepare_cached(
                    "INSERT INTO posts (id, author_id, text, reply_to, created_at, mentions)
                     VALUES (?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    id,
                    author,
                    p.text,
                    p.reply_to.map(Id::as_i64),
                    p.created_at_ms,
                    Post::mentions_json(&p.mentions),
                ])?;
                let mut parent_author = None;
                if let Some(parent) = p.reply_to {
                    count(c, parent, "replies", 1)?;
                    parent_author = live_author(c, parent)?;
                }
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
                Ok((Created::New(p.into_post(author)), parent_author))
            })
            .await;
        // Whatever the outcome: a failed commit may still have reached the disk.
        self.forget(post, author);
        if let Some(parent) = parent {
            self.forget_counted(parent, result.as_ref().map(|r| r.1));
        }
        result.map(|r| r.0)
    }

    async fn head(&self, id: Id) -> StoreResult<Option<PostHead>> {
        type Head = (i64, i64, Option<i64>, Option<i64>);
        let row: Option<Head> = self.db.read(|c| {
            c.prepare_cached(
                "SELECT author_id, version, deleted_at, repost_of FROM posts WHERE id = ?",
            )?
            .query_row([id.as_i64()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
        })?;
        Ok(
            row.map(|(author, version, deleted_at, repost_of)| PostHead {
                id,
                author: Id::from_i64(author),
                version: version as u64,
                deleted: deleted_at.is_some(),
                repost_of: repost_of.map(Id::from_i64),
            }),
        )
    }

    async fn post(&self, id: Id) -> StoreResult<Option<Post>> {
        self.db.read(|c| live_post(c, id))
    }

    async fn edit(
        &self,
        id: Id,
        expected: u64,
        edit: &Edit,
        event: &Event,
    ) -> StoreResult<Option<Post>> {
        let (edit, event) = (edit.clone(), event.clone());
        let result = self
            .db
            .write(move |c| {
                let author: Option<i64> = c
                    .prepare_cached(
                        "UPDATE posts SET text = ?, edited_at = ?, mentions = ?, version = version + 1
                         WHERE id = ? AND version = ? AND deleted_at IS NULL RETURNING author_id",
                    )?
                    .query_row(
                        params![
                            edit.text,
                            edit.edited_at_ms,
                            Post::mentions_json(&edit.mentions),
                            id.as_i64(),
                            expected as i64
                        ],
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
                let row: Option<(i64, Option<i64>, Option<i64>)> = c
                    .prepare_cached(
                        "UPDATE posts SET text = '', deleted_at = ?, version = version + 1
                         WHERE id = ? AND version = ? AND deleted_at IS NULL
                         RETURNING author_id, reply_to, repost_of",
                    )?
                    .query_row(params![deleted_at_ms, id.as_i64(), expected as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?;
                let Some((author, parent, original)) = row else {
                    return Ok(None);
                };
                // A repost is counted on its original, not among its author's posts.
                let mut parent_of = None;
                match original.map(Id::from_i64) {
                    Some(original) => {
                        count(c, original, "reposts", -1)?;
                        parent_of = Some((original, live_author(c, original)?));
                    }
                    None => {
                        c.prepare_cached(
                            "UPDATE post_counts SET posts = posts - 1
                             WHERE user_id = ? AND posts > 0",
                        )?
                        .execute([author])?;
                    }
                }
                if let Some(parent) = parent.map(Id::from_i64) {
                    count(c, parent, "replies", -1)?;
                    parent_of = Some((parent, live_author(c, parent)?));
                }
                outbox::enqueue(c, OUTBOX, &event)?;
                let author = Id::from_i64(author);
                let repost_by = original.map(|_| author);
                Ok(Some((author, (parent_of, repost_by))))
            })
            .await;
        match self.forget_changed(id, result)? {
            Some((parent_of, repost_by)) => {
                if let Some((parent, author)) = parent_of {
                    self.forget_counted(parent, Ok(author));
                }
                if let Some(reposter) = repost_by {
                    self.forget_reactions(reposter);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_user(&self, user: Id, deleted_at_ms: i64) -> StoreResult<u64> {
        let result = self
            .db
            .write(move |c| {
                let u = user.as_i64();
                // The posts whose counts change, and their live authors (to forget).
                let mut counted: Vec<(Id, &str)> = Vec::new();
                let liked: Vec<i64> = c
                    .prepare_cached("SELECT post_id FROM likes WHERE user_id = ?")?
                    .query_map([u], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                counted.extend(liked.into_iter().map(|p| (Id::from_i64(p), "likes")));
                c.prepare_cached("DELETE FROM likes WHERE user_id = ?")?
                    .execute([u])?;
                let posts: Vec<(i64, Option<i64>, Option<i64>)> = c
                    .prepare_cached(
                        "SELECT id, reply_to, repost_of FROM posts
                         WHERE author_id = ? AND deleted_at IS NULL",
                    )?
                    .query_map([u], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?;
                for (_, parent, original) in &posts {
                    if let Some(p) = parent {
                        counted.push((Id::from_i64(*p), "replies"));
                    }
                    if let Some(o) = original {
                        counted.push((Id::from_i64(*o), "reposts"));
                    }
                }
                c.prepare_cached(
                    "UPDATE posts SET text = '', mentions = '[]', deleted_at = ?,
                     version = version + 1 WHERE author_id = ? AND deleted_at IS NULL",
                )?
                .execute(params![deleted_at_ms, u])?;
                let mut forget = Vec::with_capacity(counted.len());
                for (post, column) in counted {
                    count(c, post, column, -1)?;
                    if let Some(author) = live_author(c, post)? {
                        forget.push((post, author));
                    }
                }
                c.prepare_cached("DELETE FROM post_counts WHERE user_id = ?")?
                    .execute([u])?;
                c.prepare_cached("DELETE FROM post_idempotency WHERE user_id = ?")?
                    .execute([u])?;
                let own: Vec<Id> = posts.iter().map(|p| Id::from_i64(p.0)).collect();
                Ok((own, forget))
            })
            .await;
        let Some(c) = &self.cached else {
            return result.map(|(own, _)| own.len() as u64);
        };
        match result {
            Ok((own, forget)) => {
                for post in &own {
                    c.forget(*post, user);
                }
                c.recent.forget(&user);
                c.reactions.forget(&user);
                for (post, author) in forget {
                    c.forget(post, author);
                }
                Ok(own.len() as u64)
            }
            Err(e) => {
                // A failed commit may still have reached the disk.
                c.by_id.clear();
                c.recent.clear();
                c.reactions.forget(&user);
                Err(e)
            }
        }
    }

    async fn users_by_handle(&self, handles: &[String]) -> StoreResult<Vec<Mention>> {
        let keys: Vec<String> = handles.iter().map(|h| h.to_ascii_lowercase()).collect();
        let found = self.db.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT id, handle FROM profiles WHERE handle_key = ?")?;
            let mut found = Vec::new();
            for key in &keys {
                let m = stmt
                    .query_row([key], |r| {
                        Ok(Mention {
                            id: Id::from_i64(r.get(0)?),
                            handle: r.get(1)?,
                        })
                    })
                    .optional()?;
                found.extend(m.map(|m| (key.clone(), m)));
            }
            Ok(found)
        })?;
        Ok(super::postgres::in_order_asked(&keys, found))
    }

    async fn like(&self, like: &Like, event: &Event) -> StoreResult<Liked> {
        let (like, event) = (*like, event.clone());
        let result = self
            .db
            .write(move |c| {
                let Some(author) = live_author(c, like.post)? else {
                    return Ok((Liked::NoPost, None));
                };
                let added = c
                    .prepare_cached(
                        "INSERT INTO likes (user_id, post_id, id) VALUES (?, ?, ?)
                         ON CONFLICT (user_id, post_id) DO NOTHING",
                    )?
                    .execute(params![
                        like.user.as_i64(),
                        like.post.as_i64(),
                        like.id.as_i64()
                    ])?;
                if added == 0 {
                    return Ok((Liked::Already, None));
                }
                count(c, like.post, "likes", 1)?;
                outbox::enqueue(c, OUTBOX, &event)?;
                Ok((Liked::New, Some(author)))
            })
            .await;
        self.forget_counted(like.post, result.as_ref().map(|r| r.1));
        self.forget_reactions(like.user);
        result.map(|r| r.0)
    }

    async fn unlike(&self, user: Id, post: Id, event: &Event) -> StoreResult<bool> {
        let event = event.clone();
        let result = self
            .db
            .write(move |c| {
                let removed = c
                    .prepare_cached("DELETE FROM likes WHERE user_id = ? AND post_id = ?")?
                    .execute([user.as_i64(), post.as_i64()])?;
                if removed == 0 {
                    return Ok(None);
                }
                count(c, post, "likes", -1)?;
                outbox::enqueue(c, OUTBOX, &event)?;
                Ok(Some(live_author(c, post)?))
            })
            .await;
        self.forget_counted(post, result.as_ref().map(|r| r.flatten()));
        self.forget_reactions(user);
        result.map(|r| r.is_some())
    }

    async fn made_with_key(&self, author: Id, key: &str) -> StoreResult<Option<Option<Post>>> {
        self.db.read(|c| {
            let first: Option<i64> = c
                .prepare_cached(
                    "SELECT post_id FROM post_idempotency WHERE user_id = ? AND key = ?",
                )?
                .query_row(params![author.as_i64(), key], |r| r.get(0))
                .optional()?;
            first
                .map(|first| live_post(c, Id::from_i64(first)))
                .transpose()
        })
    }

    async fn repost(&self, r: &NewRepost, event: &Event) -> StoreResult<Reposted> {
        let (r, event) = (*r, event.clone());
        let result = self
            .db
            .write(move |c| {
                let Some(original_author) = live_author(c, r.original)? else {
                    return Ok((Reposted::NoPost, None));
                };
                // A reposter with no public profile: the account is gone.
                let known: Option<i64> = c
                    .prepare_cached("SELECT 1 FROM profiles WHERE id = ?")?
                    .query_row([r.author.as_i64()], |row| row.get(0))
                    .optional()?;
                if known.is_none() {
                    return Ok((Reposted::NoPost, None));
                }
                let earlier: Option<i64> = c
                    .prepare_cached(
                        "SELECT id FROM posts
                         WHERE author_id = ? AND repost_of = ? AND deleted_at IS NULL",
                    )?
                    .query_row([r.author.as_i64(), r.original.as_i64()], |row| row.get(0))
                    .optional()?;
                if let Some(earlier) = earlier {
                    let earlier = live_post(c, Id::from_i64(earlier))?;
                    return Ok((earlier.map_or(Reposted::NoPost, Reposted::Already), None));
                }
                c.prepare_cached(
                    "INSERT INTO posts (id, author_id, text, reply_to, created_at, mentions, repost_of)
                     VALUES (?, ?, '', NULL, ?, '[]', ?)",
                )?
                .execute(params![
                    r.id.as_i64(),
                    r.author.as_i64(),
                    r.created_at_ms,
                    r.original.as_i64()
                ])?;
                count(c, r.original, "reposts", 1)?;
                let Some(repost) = live_post(c, r.id)? else {
                    anyhow::bail!("repost {} not found where it was written", r.id);
                };
                outbox::enqueue(c, OUTBOX, &event)?;
                Ok((Reposted::New(repost), Some(original_author)))
            })
            .await;
        self.forget_counted(r.original, result.as_ref().map(|r| r.1));
        self.forget_reactions(r.author);
        if let (Some(c), Ok((Reposted::New(_), _))) = (&self.cached, &result) {
            c.forget(r.id, r.author);
        }
        result.map(|r| r.0)
    }

    async fn unrepost(&self, user: Id, original: Id, stamp: &EventStamp) -> StoreResult<bool> {
        let stamp = stamp.clone();
        let result = self
            .db
            .write(move |c| {
                let row: Option<(i64, i64)> = c
                    .prepare_cached(
                        "UPDATE posts SET deleted_at = ?, version = version + 1
                         WHERE author_id = ? AND repost_of = ? AND deleted_at IS NULL
                         RETURNING id, version",
                    )?
                    .query_row(
                        params![stamp.occurred_at_ms, user.as_i64(), original.as_i64()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let Some((repost, version)) = row else {
                    return Ok(None);
                };
                count(c, original, "reposts", -1)?;
                let body = EventBody::PostDeleted {
                    post_id: Id::from_i64(repost),
                    author_id: user,
                };
                outbox::enqueue(c, OUTBOX, &stamp.event(version as u64, body))?;
                Ok(Some((Id::from_i64(repost), live_author(c, original)?)))
            })
            .await;
        self.forget_counted(original, result.as_ref().map(|r| r.and_then(|(_, a)| a)));
        self.forget_reactions(user);
        if let (Some(c), Ok(Some((repost, _)))) = (&self.cached, &result) {
            c.forget(*repost, user);
        }
        result.map(|r| r.is_some())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}

impl SqlitePostStore {
    /// After a change of `post`'s counts: forgets what ReadService keeps of it, with its
    /// author's recent posts. `Ok(None)`: the counts did not change, or the post is no
    /// longer live (nothing of it is kept); an error: the commit may still have reached the
    /// disk, and the author is unknown, so every author's recent posts go.
    fn forget_counted(&self, post: Id, author: Result<Option<Id>, &StoreError>) {
        let Some(c) = &self.cached else { return };
        match author {
            Ok(Some(author)) => c.forget(post, author),
            Ok(None) => {}
            Err(_) => {
                c.by_id.forget(&post);
                c.recent.clear();
            }
        }
    }
}

/// The author of `post` if it is live.
fn live_author(c: &Connection, post: Id) -> rusqlite::Result<Option<Id>> {
    c.prepare_cached("SELECT author_id FROM posts WHERE id = ? AND deleted_at IS NULL")?
        .query_row([post.as_i64()], |r| r.get(0).map(Id::from_i64))
        .optional()
}

/// Adds `by` to one of `post`'s counts (`replies`, `likes` or `reposts`), never below 0.
fn count(c: &Connection, post: Id, column: &str, by: i64) -> rusqlite::Result<()> {
    debug_assert!(["replies", "likes", "reposts"].contains(&column));
    let sql = format!(
        "INSERT INTO post_stats (post_id, {column}) VALUES (?1, max(?2, 0))
         ON CONFLICT (post_id) DO UPDATE SET {column} = max({column} + ?2, 0)"
    );
    c.prepare_cached(&sql)?
        .execute(params![post.as_i64(), by])?;
    Ok(())
}
