//! An SQLite database in the data directory, as the embedded stand-in for PostgreSQL and
//! MongoDB. Writes go through one connection (SQLite has one writer anyway, and this
//! keeps `SQLITE_BUSY` out of the process); reads use a small pool. WAL with
//! `synchronous=NORMAL` keeps every committed transaction across a process crash. Pages
//! are read through a memory map.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

#[derive(Debug, Clone)]
pub struct SqliteDb {
    /// The one connection that writes.
    pub writer: SqlitePool,
    /// Connections that only read.
    pub reader: SqlitePool,
}

impl SqliteDb {
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Pages read through a memory map: a reader whose cache a write invalidated
            // (every one, under steady writes) re-reads nothing by copying.
            .pragma("mmap_size", "1073741824");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await
            .with_context(|| format!("opening {} to read", path.display()))?;
        Ok(SqliteDb { writer, reader })
    }

    /// Applies the schema steps of `owner` that have not run yet, each in its own
    /// transaction. Steps are append-only: never edit one that has shipped.
    pub async fn migrate(&self, owner: &str, steps: &[&str]) -> anyhow::Result<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                owner TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (owner, version))",
        )
        .execute(&self.writer)
        .await?;
        for (i, step) in steps.iter().enumerate() {
            let version = i as i64 + 1;
            let mut tx = self.writer.begin().await?;
            let done =
                sqlx::query("SELECT 1 FROM schema_migrations WHERE owner = ? AND version = ?")
                    .bind(owner)
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
            if !done {
                sqlx::raw_sql(step)
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("migration {owner} #{version}"))?;
                sqlx::query("INSERT INTO schema_migrations (owner, version) VALUES (?, ?)")
                    .bind(owner)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        let row = sqlx::query("SELECT 1").fetch_one(&self.reader).await?;
        let one: i64 = row.try_get(0)?;
        anyhow::ensure!(one == 1, "unexpected answer");
        Ok(())
    }
}

/// Whether an SQLite error is the violation of a unique index whose name contains `index`.
pub fn is_unique_violation(err: &sqlx::Error, index: &str) -> bool {
    match err {
        sqlx::Error::Database(db) => db.is_unique_violation() && db.message().contains(index),
        _ => false,
    }
}
