//! The transactional outbox on SQLite: a service writes its change and the event for it
//! in one transaction ([`enqueue`]); the [`OutboxRelay`](crate::outbox::OutboxRelay)
//! moves events from here to the event log and deletes them only once the log has them.

use async_trait::async_trait;
use rusqlite::Connection;

use super::sqlite::SqliteDb;
use crate::events::Event;
use crate::outbox::{OutboxSource, PendingEvent};

/// Adds `event` to `table` inside the caller's transaction.
pub fn enqueue(conn: &Connection, table: &str, event: &Event) -> anyhow::Result<()> {
    conn.prepare_cached(&format!("INSERT INTO {table} (payload) VALUES (?)"))?
        .execute([event.to_json()?])?;
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
        let sql = format!(
            "SELECT seq, payload FROM {} ORDER BY seq LIMIT ?",
            self.table
        );
        let rows: Vec<(i64, String)> = self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map([max as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })?;
        rows.into_iter()
            .map(|(seq, payload)| {
                Ok(PendingEvent {
                    seq,
                    event: Event::from_json(&payload)?,
                })
            })
            .collect()
    }

    async fn remove(&self, seqs: &[i64]) -> anyhow::Result<()> {
        let sql = format!("DELETE FROM {} WHERE seq = ?", self.table);
        let seqs = seqs.to_vec();
        self.db
            .write(move |c| {
                let mut delete = c.prepare_cached(&sql)?;
                for seq in seqs {
                    delete.execute([seq])?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn backlog(&self) -> anyhow::Result<u64> {
        let sql = format!("SELECT COUNT(*) FROM {}", self.table);
        let n: i64 = self
            .db
            .read(|c| c.prepare_cached(&sql)?.query_row([], |r| r.get(0)))?;
        Ok(n.max(0) as u64)
    }
}
