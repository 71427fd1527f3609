//! An SQLite database in the data directory, as the embedded stand-in for PostgreSQL and
//! MongoDB. WAL with `synchronous=NORMAL` keeps every committed transaction across a
//! process crash.
//!
//! - **Reads** run on the calling thread, on a connection taken from a small pool. They
//!   are index lookups and short range scans of cached pages: microseconds, less
//!   than handing the query to another thread and back would cost (which is what an
//!   async driver does for SQLite, and what dominated the profile under load; see
//!   BENCHMARKS.md).
//! - **Writes** go to the one writer thread ([`super::writer`]; SQLite has one writer anyway, and this keeps
//!   `SQLITE_BUSY` out of the process), which commits them in groups: it takes every
//!   write waiting, runs each in a savepoint of one transaction, commits once, and only
//!   then answers each caller. A write that fails rolls back to its savepoint and changes
//!   nothing; the others in its group commit.

use std::fmt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::writer::{in_savepoint, write_loop, Job, Msg};

use crate::migrations::range_base;
use crate::store::{StoreError, StoreResult};
use sqlx::migrate::Migration;

/// Idle read connections kept.
const MAX_IDLE_READERS: usize = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// No memory map: pages are read with `pread`. Under steady writes a connection finds the
/// database changed at nearly every read and, with a map, unmaps it and faults its pages
/// in again (in the benchmark's profile, `munmap` and the faults took a tenth of the
/// server's time, more than the copies they save).
const MMAP_SIZE: i64 = 0;

#[derive(Clone)]
pub struct SqliteDb {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    closed: AtomicBool,
    readers: Mutex<Vec<Connection>>,
    writes: mpsc::UnboundedSender<Msg>,
}

impl fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteDb")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

impl SqliteDb {
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // The owner's alone (0600): SQLite gives its WAL and shared-memory files the mode of
        // the database file.
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        let writer =
            Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        configure(&writer)?;
        // `journal_mode` answers with the mode it set; WAL is kept in the file.
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        anyhow::ensure!(
            mode.eq_ignore_ascii_case("wal"),
            "{} cannot use WAL (journal mode {mode})",
            path.display()
        );
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        writer.pragma_update(None, "foreign_keys", true)?;

        let (writes, jobs) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn({
                let path = path.to_owned();
                move || write_loop(writer, &path, jobs)
            })
            .context("starting the SQLite writer thread")?;
        let db = SqliteDb {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                closed: AtomicBool::new(false),
                readers: Mutex::new(Vec::new()),
                writes,
            }),
        };
        // A reader now, so that a database that cannot be read fails here.
        db.read(|_| Ok(()))?;
        Ok(db)
    }

    /// Runs `f` on a read connection, on this thread. Each statement sees every write
    /// committed before it started.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(sqlite_error(anyhow::anyhow!("the database is closed")));
        }
        let idle = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open_reader().map_err(sqlite_error)?,
        };
        let out = f(&conn);
        let mut idle = self.inner.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        drop(idle);
        Ok(out?)
    }

    fn open_reader(&self) -> anyhow::Result<Connection> {
        let path = &self.inner.path;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {} to read", path.display()))?;
        configure(&conn)?;
        Ok(conn)
    }

    /// Runs `f` on the writer's connection, in a savepoint of the writer's current
    /// transaction, and returns its answer once that transaction has committed. If `f`
    /// fails, what it did is rolled back and nothing else is affected.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<anyhow::Result<T>>();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => in_savepoint(conn, f),
                None => Err(anyhow::anyhow!(
                    "the SQLite writer could not begin a transaction"
                )),
            };
            Box::new(move |commit_error: Option<&str>| {
                let result = match (commit_error, result) {
                    (Some(e), Ok(_)) => Err(anyhow::anyhow!("SQLite commit failed: {e}")),
                    (_, result) => result,
                };
                // The caller may have gone; the write stands either way.
                let _ = answer.send(result);
            })
        });
        self.inner
            .writes
            .send(Msg::Write(job))
            .map_err(|_| sqlite_error(anyhow::anyhow!("the SQLite writer has stopped")))?;
        answered
            .await
            .map_err(|_| {
                sqlite_error(anyhow::anyhow!(
                    "the SQLite writer stopped before answering"
                ))
            })?
            .map_err(sqlite_error)
    }

    /// Applies the migrations of `owner` that have not run yet, each in its own
    /// savepoint (see [`crate::migrations`]).
    pub async fn migrate(&self, owner: &str, migrations: Vec<Migration>) -> StoreResult<()> {
        let owner = owner.to_owned();
        self.write(move |conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    owner TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (owner, version))",
            )?;
            // Steps recorded before the files existed, counted from 1, become versions.
            let base = range_base(&migrations);
            if base > 0 {
                conn.execute(
                    "UPDATE schema_migrations SET version = version + ?1
                     WHERE owner = ?2 AND version < ?1",
                    rusqlite::params![base, owner],
                )?;
            }
            for m in &migrations {
                let done = conn
                    .prepare("SELECT 1 FROM schema_migrations WHERE owner = ? AND version = ?")?
                    .exists(rusqlite::params![owner, m.version])?;
                if !done {
                    conn.execute_batch(&m.sql)
                        .with_context(|| format!("migration {owner} {}", m.version))?;
                    conn.execute(
                        "INSERT INTO schema_migrations (owner, version) VALUES (?, ?)",
                        rusqlite::params![owner, m.version],
                    )?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Commits what was sent before, closes the writer's connection (checkpointing the
    /// WAL) and the idle readers. Writes after it fail.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
        let (closed, on_closed) = oneshot::channel();
        if self.inner.writes.send(Msg::Close(closed)).is_ok() {
            let _ = on_closed.await;
        }
        self.inner
            .readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub async fn ping(&self) -> StoreResult<()> {
        let one: i64 = self.read(|c| c.query_row("SELECT 1", [], |r| r.get(0)))?;
        if one != 1 {
            return Err(sqlite_error(anyhow::anyhow!(
                "unexpected answer to SELECT 1"
            )));
        }
        Ok(())
    }
}

fn sqlite_error(e: anyhow::Error) -> StoreError {
    StoreError::new("sqlite", e)
}

/// Whether an SQLite error is the violation of a unique index on a column whose name
/// contains `column` (SQLite names the columns, as `table.column`, in its message).
pub fn is_unique_violation(err: &StoreError, column: &str) -> bool {
    match err.cause().downcast_ref::<rusqlite::Error>() {
        Some(rusqlite::Error::SqliteFailure(e, Some(message))) => {
            e.code == rusqlite::ErrorCode::ConstraintViolation
                && message.starts_with("UNIQUE")
                && message.contains(column)
        }
        _ => false,
    }
}

/// A post read with [`POST_COLUMNS`](crate::model::POST_COLUMNS).
pub fn post_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<crate::model::Post> {
    use crate::id::Id;
    use crate::time::rfc3339;
    let text: String = row.get(2)?;
    Ok(crate::model::Post {
        id: Id::from_i64(row.get(0)?),
        author: crate::model::Author {
            id: Id::from_i64(row.get(1)?),
            handle: row.get(6)?,
            display_name: row.get(7)?,
        },
        reply_to: row.get::<_, Option<i64>>(3)?.map(Id::from_i64),
        created_at: rfc3339(row.get(4)?),
        edited_at: row.get::<_, Option<i64>>(5)?.map(rfc3339),
        repost_of: row
            .get::<_, Option<i64>>(12)?
            .map(|o| Box::new(crate::model::Post::placeholder(Id::from_i64(o)))),
        mentions: crate::model::Post::mentions_from_json(&row.get::<_, String>(8)?),
        tags: crate::text::hashtags(&text),
        reply_count: row.get::<_, i64>(9)?.max(0) as u64,
        like_count: row.get::<_, i64>(10)?.max(0) as u64,
        repost_count: row.get::<_, i64>(11)?.max(0) as u64,
        viewer: None,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(version: i64, sql: &'static str) -> Migration {
        Migration::new(
            version,
            "t".into(),
            sqlx::migrate::MigrationType::Simple,
            sql.into(),
            false,
        )
    }

    async fn db() -> (tempfile::TempDir, SqliteDb) {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
        let steps = vec![step(
            1,
            "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT UNIQUE)",
        )];
        db.migrate("t", steps).await.unwrap();
        (dir, db)
    }

    fn count(db: &SqliteDb) -> i64 {
        db.read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)))
            .unwrap()
    }

    #[tokio::test]
    async fn a_failed_write_changes_nothing_and_spares_its_group() {
        let (_dir, db) = db().await;
        let mut writes = Vec::new();
        for k in 0..200i64 {
            let db = db.clone();
            writes.push(tokio::spawn(async move {
                db.write(move |c| {
                    c.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, format!("v{k}")))?;
                    // Every tenth write fails after its insert, another panics.
                    anyhow::ensure!(k % 10 != 3, "refused");
                    if k % 10 == 7 {
                        panic!("a bug in a write");
                    }
                    Ok(k)
                })
                .await
            }));
        }
        let mut ok = 0;
        for w in writes {
            if w.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 160);
        // What was answered committed is there, what failed is not.
        assert_eq!(count(&db), 160);
        let missing: bool = db
            .read(|c| {
                c.prepare("SELECT 1 FROM t WHERE k IN (3, 7, 13, 197)")?
                    .exists([])
            })
            .unwrap();
        assert!(!missing);
    }

    #[tokio::test]
    async fn unique_violations_are_recognised_by_column() {
        let (_dir, db) = db().await;
        db.write(|c| Ok(c.execute("INSERT INTO t (k, v) VALUES (1, 'a')", [])?))
            .await
            .unwrap();
        let err = db
            .write(|c| Ok(c.execute("INSERT INTO t (k, v) VALUES (2, 'a')", [])?))
            .await
            .unwrap_err();
        assert!(is_unique_violation(&err, "t.v"));
        assert!(!is_unique_violation(&err, "t.other"));
        assert_eq!(count(&db), 1);
    }

    #[tokio::test]
    async fn writes_survive_reopening_and_migrations_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let steps = || vec![step(1, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")];
        {
            let db = SqliteDb::open(&path).await.unwrap();
            db.migrate("t", steps()).await.unwrap();
            db.write(|c| Ok(c.execute("INSERT INTO t (k, v) VALUES (1, 'a')", [])?))
                .await
                .unwrap();
        }
        let db = SqliteDb::open(&path).await.unwrap();
        db.migrate("t", steps()).await.unwrap();
        assert_eq!(count(&db), 1);
        db.ping().await.unwrap();
    }

    /// A database whose steps were recorded as 1, 2, ... before the files existed keeps
    /// them: they count as versions 1001, 1002 of a range that starts at 1001.
    #[tokio::test]
    async fn steps_recorded_before_the_files_count_as_their_versions() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
        db.write(|c| {
            c.execute_batch(
                "CREATE TABLE schema_migrations (
                    owner TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (owner, version));
                 CREATE TABLE t (k INTEGER PRIMARY KEY);
                 INSERT INTO schema_migrations VALUES ('t', 1);",
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let steps = vec![
            step(1001, "CREATE TABLE t (k INTEGER PRIMARY KEY)"),
            step(1002, "CREATE TABLE u (k INTEGER PRIMARY KEY)"),
        ];
        db.migrate("t", steps).await.unwrap();
        let versions: Vec<i64> = db
            .read(|c| {
                c.prepare("SELECT version FROM schema_migrations WHERE owner = 't' ORDER BY 1")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .unwrap();
        assert_eq!(versions, [1001, 1002]);
    }
}
