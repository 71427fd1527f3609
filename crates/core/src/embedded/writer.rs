//! The writer thread of an [`SqliteDb`](super::sqlite::SqliteDb): it takes every write
//! waiting, runs each in a savepoint of one transaction, commits once, and only then
//! answers each caller. A write that fails rolls back to its savepoint and changes
//! nothing; the others in its group commit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

/// Writes committed together at most: bounds a group's commit latency.
pub(super) const MAX_GROUP: usize = 512;
/// A write group that takes longer than this (its writes and the commit, with any
/// checkpoint the commit runs) is logged: every write sent meanwhile waited for it.
const SLOW_GROUP: Duration = Duration::from_millis(100);
/// What the writer thread tells a write once its group is done: the commit's error, if
/// it failed.
pub(super) type Done = Box<dyn FnOnce(Option<&str>) + Send>;
/// A write: runs on the writer's connection (or learns that it cannot, with `None`), and
/// returns what to do once its group's commit is known.
pub(super) type Job = Box<dyn FnOnce(Option<&Connection>) -> Done + Send>;

pub(super) enum Msg {
    Write(Job),
    /// Stop after the writes sent before, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// Runs one statement of the writer's own, prepared once per connection (every write
/// and every group runs these: parsing them each time was a measurable share of a write).
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs `f` in a savepoint: released if it succeeds, rolled back if it fails or panics.
pub(super) fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    run(conn, "SAVEPOINT write")?;
    let result = catch_unwind(AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(anyhow::anyhow!("an SQLite write panicked")));
    let end = if result.is_ok() {
        run(conn, "RELEASE write")
    } else {
        run(conn, "ROLLBACK TO write").and_then(|()| run(conn, "RELEASE write"))
    };
    match (result, end) {
        (Ok(v), Ok(())) => Ok(v),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e.into()),
    }
}

/// The writer thread: takes the writes waiting, runs them in one transaction, commits,
/// answers them; until it is closed or every handle on the database is gone.
pub(super) fn write_loop(conn: Connection, path: &Path, mut inbox: mpsc::UnboundedReceiver<Msg>) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    let mut closed = None;
    while closed.is_none() {
        let Some(first) = inbox.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Write(job) => group.push(job),
                Msg::Close(answer) => {
                    closed = Some(answer);
                    break;
                }
            }
            if group.len() < MAX_GROUP {
                next = inbox.try_recv().ok();
            }
        }
        let (writes, started) = (group.len(), Instant::now());
        let commit = commit_group(&conn, &mut group);
        let took = started.elapsed();
        if took > SLOW_GROUP {
            tracing::warn!(
                db = %path.display(),
                writes,
                ms = took.as_millis() as u64,
                commit_ms = commit.as_millis() as u64,
                "slow SQLite write group"
            );
        }
    }
    drop(conn);
    if let Some(answer) = closed {
        let _ = answer.send(());
    }
}

/// Runs `group` in one transaction (or more, if SQLite ends one early) and answers each.
/// Returns how long the commit took (with the checkpoint it may run).
fn commit_group(conn: &Connection, group: &mut Vec<Job>) -> Duration {
    if group.is_empty() {
        return Duration::ZERO;
    }
    let mut done: Vec<Done> = Vec::with_capacity(group.len());
    let mut open = false;
    for job in group.drain(..) {
        if !open {
            open = run(conn, "BEGIN IMMEDIATE").is_ok();
        }
        done.push(job(open.then_some(conn)));
        // SQLite ends a transaction by itself on some errors (a full disk, say): what
        // ran before in it is gone, so its writers must hear that it failed.
        if open && conn.is_autocommit() {
            for d in done.drain(..) {
                d(Some("the transaction was rolled back"));
            }
            open = false;
        }
    }
    let committing = Instant::now();
    if open {
        match run(conn, "COMMIT") {
            Ok(()) => done.drain(..).for_each(|d| d(None)),
            Err(e) => {
                let _ = run(conn, "ROLLBACK");
                let e = e.to_string();
                done.drain(..).for_each(|d| d(Some(&e)));
            }
        }
    } else {
        done.drain(..)
            .for_each(|d| d(Some("no transaction could begin")));
    }
    committing.elapsed()
}
