//! PostgreSQL: a pool, migrations that each service owns, and the outbox on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Row};

use crate::events::Event;
use crate::migrations::{on_own_connection, run_postgres, Schema};
use crate::outbox::{OutboxSource, PendingEvent};
use crate::store::{StoreError, StoreResult};

/// A connection pool. Connecting is lazy: a database that is down at start makes the
/// process unready, not dead, and it recovers when the database returns.
#[derive(Debug, Clone)]
pub struct PgDb {
    pub pool: PgPool,
    /// Set once this process's migrations have run.
    schema_ready: Arc<AtomicBool>,
}

impl PgDb {
    pub fn connect_lazy(url: &str) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url
            .parse()
            .context("DATABASE_URL is not a PostgreSQL URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy_with(options);
        Ok(PgDb {
            pool,
            schema_ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Applies `schema`'s migrations not applied yet, on a connection of its own.
    pub async fn migrate(&self, schema: &'static Schema) -> StoreResult<()> {
        on_own_connection(&self.pool, |conn| Box::pin(run_postgres(conn, schema))).await
    }

    pub fn mark_schema_ready(&self) {
        self.schema_ready.store(true, Ordering::Release);
    }

    /// Answers when the database does and the schema is in place.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        if !self.schema_ready.load(Ordering::Acquire) {
            return Err(StoreError::new(
                "postgres",
                anyhow::anyhow!("migrations have not run yet"),
            ));
        }
        Ok(())
    }
}

/// Adds `event` to `table` inside the caller's transaction. Call it after the statements
/// that lock what the event is about (the row changed, or the one that stands for it):
/// the event's `seq` is taken here, so two transactions on the same thing take theirs in
/// the order they commit, and their events reach the log in that order (a relay reads by
/// `seq`).
pub async fn enqueue(conn: &mut PgConnection, table: &str, event: &Event) -> StoreResult<()> {
    let payload = event
        .to_json()
        .map_err(|e| StoreError::new("postgres", e))?;
    sqlx::query(&format!("INSERT INTO {table} (payload) VALUES ($1)"))
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

/// An outbox table in PostgreSQL. Each process of the service runs a relay, and only one
/// relays at a time: the leader holds a session advisory lock on a connection of its own,
/// so the table's events reach the log in `seq` order as it reads them. A transaction
/// that took its `seq` before another's but committed after that one was read goes with
/// the next batch (the relay removes only what it relayed). When the leader's connection
/// dies, its lock goes with it and another relay takes over from the head of the table.
pub struct PgOutbox {
    db: PgDb,
    table: &'static str,
    lock_key: i64,
    leader: tokio::sync::Mutex<Option<PgConnection>>,
}

impl PgOutbox {
    pub fn new(db: PgDb, table: &'static str) -> Self {
        let lock_key = table.bytes().fold(1_469_598_103_934_665_603u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211)
        }) as i64;
        PgOutbox {
            db,
            table,
            lock_key,
            leader: tokio::sync::Mutex::new(None),
        }
    }

    /// Runs `f` on the leader connection, becoming leader first if no relay is; `None`
    /// when another relay leads. A failed call gives up the leadership.
    async fn as_leader<T>(
        &self,
        f: impl for<'c> FnOnce(&'c mut PgConnection) -> futures::future::BoxFuture<'c, sqlx::Result<T>>,
    ) -> anyhow::Result<Option<T>> {
        use sqlx::Connection;
        let mut guard = self.leader.lock().await;
        if guard.is_none() {
            let mut conn = self.db.pool.acquire().await?.detach();
            let locked: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
                .bind(self.lock_key)
                .fetch_one(&mut conn)
                .await?
                .try_get(0)?;
            if !locked {
                let _ = conn.close().await;
                return Ok(None);
            }
            *guard = Some(conn);
        }
        let Some(conn) = guard.as_mut() else {
            return Ok(None);
        };
        match f(conn).await {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                *guard = None;
                Err(e.into())
            }
        }
    }
}

#[async_trait]
impl OutboxSource for PgOutbox {
    async fn pending(&self, max: usize) -> anyhow::Result<Vec<PendingEvent>> {
        let sql = format!(
            "SELECT seq, payload FROM {} ORDER BY seq LIMIT $1",
            self.table
        );
        let rows = self
            .as_leader(move |conn| {
                Box::pin(async move { sqlx::query(&sql).bind(max as i64).fetch_all(conn).await })
            })
            .await?
            .unwrap_or_default();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let payload: String = row.try_get(1)?;
            out.push(PendingEvent {
                seq: row.try_get(0)?,
                event: Event::from_json(&payload)?,
            });
        }
        Ok(out)
    }

    async fn remove(&self, seqs: &[i64]) -> anyhow::Result<()> {
        let sql = format!("DELETE FROM {} WHERE seq = ANY($1)", self.table);
        let seqs = seqs.to_vec();
        self.as_leader(move |conn| {
            Box::pin(async move { sqlx::query(&sql).bind(seqs).execute(conn).await.map(|_| ()) })
        })
        .await?;
        Ok(())
    }

    async fn backlog(&self) -> anyhow::Result<u64> {
        let row = sqlx::query(&format!("SELECT COUNT(*) FROM {}", self.table))
            .fetch_one(&self.db.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)? as u64)
    }
}

/// Whether a PostgreSQL error is the violation of the unique constraint `constraint`.
pub fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}

/// A post read with [`POST_COLUMNS`](crate::model::POST_COLUMNS).
pub fn post_from_row(row: &sqlx::postgres::PgRow) -> sqlx::Result<crate::model::Post> {
    use crate::id::Id;
    use crate::time::rfc3339;
    let text: String = row.try_get(2)?;
    Ok(crate::model::Post {
        id: Id::from_i64(row.try_get(0)?),
        author: crate::model::Author {
            id: Id::from_i64(row.try_get(1)?),
            handle: row.try_get(6)?,
            display_name: row.try_get(7)?,
        },
        reply_to: row.try_get::<Option<i64>, _>(3)?.map(Id::from_i64),
        created_at: rfc3339(row.try_get(4)?),
        edited_at: row.try_get::<Option<i64>, _>(5)?.map(rfc3339),
        repost_of: row
            .try_get::<Option<i64>, _>(12)?
            .map(|o| Box::new(crate::model::Post::placeholder(Id::from_i64(o)))),
        mentions: crate::model::Post::mentions_from_json(&row.try_get::<String, _>(8)?),
        tags: crate::text::hashtags(&text),
        reply_count: row.try_get::<i64, _>(9)?.max(0) as u64,
        like_count: row.try_get::<i64, _>(10)?.max(0) as u64,
        repost_count: row.try_get::<i64, _>(11)?.max(0) as u64,
        viewer: None,
        text,
    })
}
