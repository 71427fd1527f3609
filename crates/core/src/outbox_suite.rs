//! The behaviour every [`OutboxSource`] adapter must have: each case a test of its own,
//! run against each adapter (`sqlite`, `postgres`), on an outbox table of the shape the
//! services' migrations make (`seq`, `payload`) written by the services' `enqueue`.

use std::sync::Arc;

use crate::deployed::postgres::{enqueue as pg_enqueue, PgDb, PgOutbox};
use crate::embedded::outbox::{enqueue as sqlite_enqueue, SqliteOutbox};
use crate::embedded::sqlite::SqliteDb;
use crate::events::{Event, EventBody};
use crate::id::Id;
use crate::outbox::OutboxSource;

const TABLE: &str = "test_outbox";

/// An outbox and a way to write to its table, as a service's transaction would.
struct Fixture {
    outbox: Arc<dyn OutboxSource>,
    enqueue: Box<dyn Fn(Vec<Event>) -> futures::future::BoxFuture<'static, ()> + Send + Sync>,
}

async fn sqlite_outbox() -> (tempfile::TempDir, Arc<Fixture>) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    db.write(|c| {
        c.execute_batch(
            "CREATE TABLE test_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)",
        )?;
        Ok(())
    })
    .await
    .unwrap();
    let writer = db.clone();
    let enqueue = Box::new(move |events: Vec<Event>| {
        let db = writer.clone();
        Box::pin(async move {
            db.write(move |c| {
                for e in &events {
                    sqlite_enqueue(c, TABLE, e)?;
                }
                Ok(())
            })
            .await
            .unwrap();
        }) as futures::future::BoxFuture<'static, ()>
    });
    let outbox = Arc::new(SqliteOutbox::new(db, TABLE));
    (dir, Arc::new(Fixture { outbox, enqueue }))
}

async fn postgres_outbox() -> (chirp_testkit::TestDatabase, Arc<Fixture>) {
    let pg = chirp_testkit::postgres().await;
    let db = PgDb::connect_lazy(&pg.url).unwrap();
    sqlx::query("CREATE TABLE test_outbox (seq BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)")
        .execute(&db.pool)
        .await
        .unwrap();
    let writer = db.clone();
    let enqueue = Box::new(move |events: Vec<Event>| {
        let db = writer.clone();
        Box::pin(async move {
            let mut tx = db.pool.begin().await.unwrap();
            for e in &events {
                pg_enqueue(&mut tx, TABLE, e).await.unwrap();
            }
            tx.commit().await.unwrap();
        }) as futures::future::BoxFuture<'static, ()>
    });
    let outbox = Arc::new(PgOutbox::new(db, TABLE));
    (pg, Arc::new(Fixture { outbox, enqueue }))
}

chirp_testkit::port_suite! {
    cases: [
        pending_events_come_in_commit_order,
        removed_events_are_gone_and_the_others_stay,
        the_backlog_counts_what_waits,
    ],
    adapters: { sqlite => sqlite_outbox, postgres => postgres_outbox },
}

fn events(ids: std::ops::Range<u64>) -> Vec<Event> {
    ids.map(|i| Event {
        id: Id(i),
        version: 1,
        occurred_at_ms: i as i64,
        trace: None,
        body: EventBody::PostDeleted {
            post_id: Id(i),
            author_id: Id(1),
        },
    })
    .collect()
}

fn ids(pending: &[crate::outbox::PendingEvent]) -> Vec<u64> {
    pending.iter().map(|p| p.event.id.get()).collect()
}

async fn pending_events_come_in_commit_order(f: &Fixture) {
    assert!(f.outbox.pending(10).await.unwrap().is_empty());
    (f.enqueue)(events(1..4)).await;
    (f.enqueue)(events(4..6)).await;
    let pending = f.outbox.pending(10).await.unwrap();
    assert_eq!(ids(&pending), [1, 2, 3, 4, 5]);
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(pending[0].event, events(1..2)[0]);
    assert_eq!(ids(&f.outbox.pending(2).await.unwrap()), [1, 2]);
}

async fn removed_events_are_gone_and_the_others_stay(f: &Fixture) {
    (f.enqueue)(events(1..4)).await;
    let pending = f.outbox.pending(10).await.unwrap();
    // Only those named, not every event up to the last of them.
    f.outbox
        .remove(&[pending[0].seq, pending[2].seq])
        .await
        .unwrap();
    assert_eq!(ids(&f.outbox.pending(10).await.unwrap()), [2]);
    (f.enqueue)(events(4..5)).await;
    assert_eq!(ids(&f.outbox.pending(10).await.unwrap()), [2, 4]);
    f.outbox.remove(&[]).await.unwrap();
    assert_eq!(ids(&f.outbox.pending(10).await.unwrap()), [2, 4]);
}

async fn the_backlog_counts_what_waits(f: &Fixture) {
    assert_eq!(f.outbox.backlog().await.unwrap(), 0);
    (f.enqueue)(events(1..8)).await;
    assert_eq!(f.outbox.backlog().await.unwrap(), 7);
    let pending = f.outbox.pending(3).await.unwrap();
    let seqs: Vec<i64> = pending.iter().map(|p| p.seq).collect();
    f.outbox.remove(&seqs).await.unwrap();
    assert_eq!(f.outbox.backlog().await.unwrap(), 4);
}

/// Only one relay reads a PostgreSQL outbox at a time: the others find nothing while it
/// leads, so that the table's events reach the log in the order it reads them.
#[tokio::test]
async fn one_relay_leads_a_postgres_outbox_at_a_time() {
    let (db, f) = postgres_outbox().await;
    (f.enqueue)(events(1..3)).await;
    let pg = PgDb::connect_lazy(&db.url).unwrap();
    let second = PgOutbox::new(pg, TABLE);
    assert_eq!(ids(&f.outbox.pending(10).await.unwrap()), [1, 2]);
    assert!(second.pending(10).await.unwrap().is_empty());
}

/// PostgreSQL gives a transaction its `seq` when it writes its event, not when it
/// commits: an event can commit after a later `seq`'s was read and relayed. Removing what
/// was relayed leaves it for the next batch (removing every `seq` up to the last relayed
/// lost it: a burst of likes in the API suite lost up to 7 of 40 notifications so).
#[tokio::test]
async fn an_event_committed_after_a_later_one_was_relayed_is_relayed_next() {
    let (db, f) = postgres_outbox().await;
    let pg = PgDb::connect_lazy(&db.url).unwrap();
    let mut slow = pg.pool.begin().await.unwrap();
    pg_enqueue(&mut slow, TABLE, &events(1..2)[0])
        .await
        .unwrap();
    (f.enqueue)(events(2..3)).await;
    let pending = f.outbox.pending(10).await.unwrap();
    assert_eq!(ids(&pending), [2], "the first is not committed yet");
    slow.commit().await.unwrap();
    f.outbox.remove(&[pending[0].seq]).await.unwrap();
    assert_eq!(ids(&f.outbox.pending(10).await.unwrap()), [1]);
}
