//! Posts on PostgreSQL: the deployed adapter.

use async_trait::async_trait;
use chirp_core::deployed::postgres::{enqueue, post_from_row, PgDb};
use chirp_core::events::{Event, EventBody, EventStamp};
use chirp_core::model::{Author, Mention, Post, POST_COLUMNS, POST_FROM};
use chirp_core::store::{StoreError, StoreResult};
use chirp_core::Id;
use sqlx::{PgConnection, Row};

use crate::ports::{Created, Edit, Like, Liked, NewPost, NewRepost, PostHead, PostStore, Reposted};

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
    let sql =
        format!("SELECT {POST_COLUMNS} FROM {POST_FROM} WHERE p.id = $1 AND p.deleted_at IS NULL");
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
            "INSERT INTO posts (id, author_id, text, reply_to, created_at, mentions)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(p.id.as_i64())
        .bind(p.author.as_i64())
        .bind(&p.text)
        .bind(p.reply_to.map(Id::as_i64))
        .bind(p.created_at_ms)
        .bind(Post::mentions_json(&p.mentions))
        .execute(&mut *tx)
        .await?;
        if let Some(parent) = p.reply_to {
            count(&mut tx, parent, "replies", 1).await?;
        }
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
        let row = sqlx::query(
            "SELECT author_id, version, deleted_at, repost_of FROM posts WHERE id = $1",
        )
        .bind(id.as_i64())
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PostHead {
            id,
            author: Id::from_i64(row.try_get(0)?),
            version: row.try_get::<i64, _>(1)? as u64,
            deleted: row.try_get::<Option<i64>, _>(2)?.is_some(),
            repost_of: row.try_get::<Option<i64>, _>(3)?.map(Id::from_i64),
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
        edit: &Edit,
        event: &Event,
    ) -> StoreResult<Option<Post>> {
        let mut tx = self.db.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE posts SET text = $1, edited_at = $2, mentions = $5, version = version + 1
             WHERE id = $3 AND version = $4 AND deleted_at IS NULL",
        )
        .bind(&edit.text)
        .bind(edit.edited_at_ms)
        .bind(id.as_i64())
        .bind(expected as i64)
        .bind(Post::mentions_json(&edit.mentions))
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
             WHERE id = $2 AND version = $3 AND deleted_at IS NULL
             RETURNING author_id, reply_to, repost_of",
        )
        .bind(deleted_at_ms)
        .bind(id.as_i64())
        .bind(expected as i64)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let author: i64 = row.try_get(0)?;
        // A repost is counted on its original, not among its author's posts.
        match row.try_get::<Option<i64>, _>(2)? {
            Some(original) => count(&mut tx, Id::from_i64(original), "reposts", -1).await?,
            None => {
                sqlx::query(
                    "UPDATE post_counts SET posts = posts - 1 WHERE user_id = $1 AND posts > 0",
                )
                .bind(author)
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some(parent) = row.try_get::<Option<i64>, _>(1)? {
            count(&mut tx, Id::from_i64(parent), "replies", -1).await?;
        }
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_user(&self, user: Id, deleted_at_ms: i64) -> StoreResult<u64> {
        let mut tx = self.db.pool.begin().await?;
        let u = user.as_i64();
        let liked: Vec<i64> =
            sqlx::query_scalar("DELETE FROM likes WHERE user_id = $1 RETURNING post_id")
                .bind(u)
                .fetch_all(&mut *tx)
                .await?;
        let gone = sqlx::query(
            "UPDATE posts SET text = '', mentions = '[]', deleted_at = $2, version = version + 1
             WHERE author_id = $1 AND deleted_at IS NULL
             RETURNING reply_to, repost_of",
        )
        .bind(u)
        .bind(deleted_at_ms)
        .fetch_all(&mut *tx)
        .await?;
        let mut parents = Vec::new();
        let mut originals = Vec::new();
        for row in &gone {
            if let Some(p) = row.try_get::<Option<i64>, _>(0)? {
                parents.push(p);
            }
            if let Some(o) = row.try_get::<Option<i64>, _>(1)? {
                originals.push(o);
            }
        }
        for (column, posts) in [
            ("likes", liked),
            ("replies", parents),
            ("reposts", originals),
        ] {
            uncount_each(&mut tx, column, &posts).await?;
        }
        sqlx::query("DELETE FROM post_counts WHERE user_id = $1")
            .bind(u)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM post_idempotency WHERE user_id = $1")
            .bind(u)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.len() as u64)
    }

    async fn users_by_handle(&self, handles: &[String]) -> StoreResult<Vec<Mention>> {
        let keys: Vec<String> = handles.iter().map(|h| h.to_ascii_lowercase()).collect();
        let rows =
            sqlx::query("SELECT id, handle, handle_key FROM profiles WHERE handle_key = ANY($1)")
                .bind(&keys)
                .fetch_all(&self.db.pool)
                .await?;
        let mut found = Vec::with_capacity(rows.len());
        for r in &rows {
            let key: String = r.try_get(2)?;
            let mention = Mention {
                id: Id::from_i64(r.try_get(0)?),
                handle: r.try_get(1)?,
            };
            found.push((key, mention));
        }
        Ok(in_order_asked(&keys, found))
    }

    async fn like(&self, like: &Like, event: &Event) -> StoreResult<Liked> {
        let mut tx = self.db.pool.begin().await?;
        // The post's row is locked until the like commits: a delete waits, or comes first
        // and is seen here.
        let live =
            sqlx::query("SELECT 1 FROM posts WHERE id = $1 AND deleted_at IS NULL FOR SHARE")
                .bind(like.post.as_i64())
                .fetch_optional(&mut *tx)
                .await?;
        if live.is_none() {
            return Ok(Liked::NoPost);
        }
        let added = sqlx::query(
            "INSERT INTO likes (user_id, post_id, id) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, post_id) DO NOTHING",
        )
        .bind(like.user.as_i64())
        .bind(like.post.as_i64())
        .bind(like.id.as_i64())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added == 0 {
            return Ok(Liked::Already);
        }
        count(&mut tx, like.post, "likes", 1).await?;
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(Liked::New)
    }

    async fn unlike(&self, user: Id, post: Id, event: &Event) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        let removed = sqlx::query("DELETE FROM likes WHERE user_id = $1 AND post_id = $2")
            .bind(user.as_i64())
            .bind(post.as_i64())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        count(&mut tx, post, "likes", -1).await?;
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn made_with_key(&self, author: Id, key: &str) -> StoreResult<Option<Option<Post>>> {
        let mut conn = self.db.pool.acquire().await?;
        let first: Option<i64> = sqlx::query_scalar(
            "SELECT post_id FROM post_idempotency WHERE user_id = $1 AND key = $2",
        )
        .bind(author.as_i64())
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(first) = first else { return Ok(None) };
        Ok(Some(live_post(&mut conn, Id::from_i64(first)).await?))
    }

    async fn repost(&self, r: &NewRepost, event: &Event) -> StoreResult<Reposted> {
        let mut tx = self.db.pool.begin().await?;
        // The original's row is held until the repost commits, as a like holds it.
        let live =
            sqlx::query("SELECT 1 FROM posts WHERE id = $1 AND deleted_at IS NULL FOR SHARE")
                .bind(r.original.as_i64())
                .fetch_optional(&mut *tx)
                .await?;
        if live.is_none() {
            return Ok(Reposted::NoPost);
        }
        let added = sqlx::query(
            "INSERT INTO posts (id, author_id, text, reply_to, created_at, mentions, repost_of)
             VALUES ($1, $2, '', NULL, $3, '[]', $4)
             ON CONFLICT (author_id, repost_of) WHERE repost_of IS NOT NULL AND deleted_at IS NULL
             DO NOTHING",
        )
        .bind(r.id.as_i64())
        .bind(r.author.as_i64())
        .bind(r.created_at_ms)
        .bind(r.original.as_i64())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added == 0 {
            let earlier: i64 = sqlx::query_scalar(
                "SELECT id FROM posts
                 WHERE author_id = $1 AND repost_of = $2 AND deleted_at IS NULL",
            )
            .bind(r.author.as_i64())
            .bind(r.original.as_i64())
            .fetch_one(&mut *tx)
            .await?;
            return Ok(match live_post(&mut tx, Id::from_i64(earlier)).await? {
                Some(p) => Reposted::Already(p),
                None => Reposted::NoPost,
            });
        }
        count(&mut tx, r.original, "reposts", 1).await?;
        let Some(repost) = live_post(&mut tx, r.id).await? else {
            // The reposter has no public profile: the account is gone.
            return Ok(Reposted::NoPost);
        };
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(Reposted::New(repost))
    }

    async fn unrepost(&self, user: Id, original: Id, stamp: &EventStamp) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE posts SET deleted_at = $3, version = version + 1
             WHERE author_id = $1 AND repost_of = $2 AND deleted_at IS NULL
             RETURNING id, version",
        )
        .bind(user.as_i64())
        .bind(original.as_i64())
        .bind(stamp.occurred_at_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let (repost, version): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        count(&mut tx, original, "reposts", -1).await?;
        let body = EventBody::PostDeleted {
            post_id: Id::from_i64(repost),
            author_id: user,
        };
        enqueue(&mut tx, OUTBOX, &stamp.event(version as u64, body)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}

/// Adds `by` to one of `post`'s counts (`replies`, `likes` or `reposts`), never below 0.
async fn count(conn: &mut PgConnection, post: Id, column: &str, by: i64) -> sqlx::Result<()> {
    debug_assert!(["replies", "likes", "reposts"].contains(&column));
    let sql = format!(
        "INSERT INTO post_stats (post_id, {column}) VALUES ($1, GREATEST($2, 0))
         ON CONFLICT (post_id) DO UPDATE SET {column} = GREATEST(post_stats.{column} + $2, 0)"
    );
    sqlx::query(&sql)
        .bind(post.as_i64())
        .bind(by)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes one off `column` of each of `posts` (a post named twice loses two), in one
/// statement.
async fn uncount_each(conn: &mut PgConnection, column: &str, posts: &[i64]) -> sqlx::Result<()> {
    debug_assert!(["replies", "likes", "reposts"].contains(&column));
    if posts.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE post_stats s SET {column} = GREATEST(s.{column} - g.n, 0)
         FROM (SELECT p, count(*) AS n FROM unnest($1::bigint[]) AS p GROUP BY p) g
         WHERE s.post_id = g.p"
    );
    sqlx::query(&sql).bind(posts).execute(conn).await?;
    Ok(())
}

/// `found` (each with its handle's key) in the order of `keys`, each once.
pub(crate) fn in_order_asked(keys: &[String], found: Vec<(String, Mention)>) -> Vec<Mention> {
    keys.iter()
        .filter_map(|k| {
            found
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, m)| m.clone())
        })
        .collect()
}
