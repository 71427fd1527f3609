//! The transactional outbox on SQLite: a service writes its change and the event for it
//! in one transaction ([`enqueue`]); the [`OutboxRelay`](crate::outbox::OutboxRelay)
//! moves events from here to the event log and deletes them only once the log has them.

use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};

use super::sqlite::SqliteDb;
use crate::events::Event;
use crate::outbox::{OutboxSource, PendingEvent};

/// The statement that creates an outbox table called `table`.
pub fn create_table(table: &str) -> String {
    format!("CREATE TABLE {table} (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)")
}

/// Adds `event` to `table` inside the caller's transaction.
pub async fn enqueue(conn: &mut SqliteConnection, table: &str, event: &Event) -> sqlx::Result<()> {
    sqlx::query(&format!("INSERT INTO {table} (payload) VALUES (?)"))
        .bind(event.to_json())
        .execute(conn)
        .await?;
    Ok(())
}

/// The outbox table `table` of an SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteOutbox {
    db: SqliteDb,
    table: &'static str,
}

impl SqliteOutbox {
    pub fn new(db: SqliteDb, table: &'static str) -> Self {
        SqliteOutbox { db, table }
    }
}

#[async_trait]
impl OutboxSource for SqliteOutbox {
    async fn pending(&self, max: usize) -> anyhow::Result<Vec<PendingEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT seq, payload FROM {} ORDER BY seq LIMIT ?",
            self.table
        ))
        .bind(max as i64)
        .fetch_all(&self.db.writer)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get(0)?;
            let payload: String = row.try_get(1)?;
            out.push(PendingEvent {
                seq,
                event: Event::from_json(&payload)?,
            });
        }
        Ok(out)
    }

    async fn remove_through(&self, seq: i64) -> anyhow::Result<()> {
        sqlx::query(&format!("DELETE FROM {} WHERE seq <= ?", self.table))
            .bind(seq)
            .execute(&self.db.writer)
            .await?;
        Ok(())
    }

    async fn backlog(&self) -> anyhow::Result<u64> {
        let row = sqlx::query(&format!("SELECT COUNT(*) FROM {}", self.table))
            .fetch_one(&self.db.reader)
            .await?;
        Ok(row.try_get::<i64, _>(0)? as u64)
    }
}
