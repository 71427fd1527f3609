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
        pending_events_come_oldest_first,
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

async fn pending_events_come_oldest_first(f: &Fixture) {
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

/// Two events in the outbox of `db`: the first of a transaction that took its `seq` and
/// has not committed (given back), then the second, committed.
async fn one_late_then_one_committed(
    db: &chirp_testkit::TestDatabase,
    f: &Fixture,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let pg = PgDb::connect_lazy(&db.url).unwrap();
    let mut late = pg.pool.begin().await.unwrap();
    pg_enqueue(&mut late, TABLE, &events(1..2)[0])
        .await
        .unwrap();
    (f.enqueue)(events(2..3)).await;
    late
}

/// PostgreSQL gives a transaction its `seq` when it writes its event, not when it
/// commits: an event can commit after a later `seq`'s was read and relayed. Removing what
/// was relayed leaves it for the next batch (removing every `seq` up to the last relayed
/// lost it: a burst of likes in the API suite lost up to 7 of 40 notifications so).
#[tokio::test]
async fn an_event_committed_after_a_later_one_was_relayed_is_relayed_next() {
    let (db, f) = postgres_outbox().await;
    let slow = one_late_then_one_committed(&db, &f).await;
    let pending = f.outbox.pending(10).await.unwrap();
    assert_eq!(ids(&pending), [2], "the first is not committed yet");
    slow.commit().await.unwrap();
    f.outbox.remove(&[pending[0].seq]).await.unwrap();
    assert_eq!(ids(&f.outbox.pending(10).await.unwrap()), [1]);
}

/// The real log, with a transaction of the test's committed as the relay's batch is
/// appended: between the relay's read of the outbox and its removal of what it relayed.
struct CommitsOnAppend {
    log: Arc<dyn crate::events::EventLog>,
    late: tokio::sync::Mutex<Option<sqlx::Transaction<'static, sqlx::Postgres>>>,
}

#[async_trait::async_trait]
impl crate::events::EventLog for CommitsOnAppend {
    async fn append(&self, events: &[Event]) -> anyhow::Result<()> {
        self.log.append(events).await?;
        if let Some(tx) = self.late.lock().await.take() {
            tx.commit().await?;
        }
        Ok(())
    }
    async fn consumer(
        &self,
        group: &str,
        topics: &[crate::events::Topic],
    ) -> anyhow::Result<Box<dyn crate::events::EventConsumer>> {
        self.log.consumer(group, topics).await
    }
    async fn tail(
        &self,
        topics: &[crate::events::Topic],
    ) -> anyhow::Result<Box<dyn crate::events::EventConsumer>> {
        self.log.tail(topics).await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.log.ping().await
    }
}

/// The relay itself, from a PostgreSQL outbox to a log: an event whose transaction took
/// its `seq` first but commits while the relay appends a later one reaches the log with
/// the relay's next batch, and nothing is relayed twice.
#[tokio::test]
async fn the_relay_moves_an_event_that_committed_late_with_its_next_batch() {
    use crate::embedded::event_log::SqliteEventLog;
    use crate::events::{EventLog, Topic};
    use crate::http::Telemetry;
    use crate::outbox::{OutboxRelay, RelayMetrics};

    let (db, f) = postgres_outbox().await;
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(
        SqliteEventLog::open(&dir.path().join("log.db"))
            .await
            .unwrap(),
    );
    let mut reader = log.tail(&[Topic::Posts]).await.unwrap();
    let late = one_late_then_one_committed(&db, &f).await;
    let relay = OutboxRelay {
        name: "test",
        source: f.outbox.clone(),
        log: Arc::new(CommitsOnAppend {
            log: log.clone(),
            late: tokio::sync::Mutex::new(Some(late)),
        }),
        wake: Arc::new(tokio::sync::Notify::new()),
        metrics: RelayMetrics::new(&Telemetry::new(), "test", "test"),
    };
    assert_eq!(relay.relay_once().await.unwrap(), 1, "the committed one");
    assert_eq!(relay.relay_once().await.unwrap(), 1, "the late one");
    assert_eq!(relay.relay_once().await.unwrap(), 0);
    let logged = reader
        .next_batch(10, std::time::Duration::from_secs(1))
        .await
        .unwrap();
    let logged: Vec<u64> = logged.iter().map(|e| e.id.get()).collect();
    assert_eq!(logged, [2, 1]);
}
