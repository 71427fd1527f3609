//! Worker ids leased from PostgreSQL (`--worker-id auto`), so that a service can run any
//! number of processes that mint ids (a Deployment that scales) without anybody handing
//! each one an id of its own.
//!
//! A process claims the lowest id of [`LEASED`] whose lease has lapsed, and renews the
//! lease every third of its length. It mints ids only while the lease is known to hold:
//! until the moment it asked for the lease (or its last renewal) plus the lease's length,
//! less a margin for clocks that disagree. PostgreSQL counts the lease from when it ran
//! the statement, which is later, so no other process can hold the id while this one
//! still mints with it. A process that cannot renew (PostgreSQL away) stops minting when
//! its lease runs out (its writes answer 503, as PostgreSQL being away makes them anyway)
//! and claims again when it can. A graceful stop gives the id back at once; a crashed
//! process's id is free again after one lease.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::deployed::postgres::PgDb;
use crate::id::{now_millis, IdGenerator};
use crate::migrations::Schema;
use crate::store::StoreResult;

/// The ids leases are taken from: the upper half, so that ids given by hand below 512
/// never meet a leased one.
pub const LEASED: RangeInclusive<u16> = 512..=1023;
/// How long a lease lasts without a renewal.
pub const LEASE: Duration = Duration::from_secs(30);
/// How much earlier than its end a lease stops being used: room for the clocks of this
/// machine and PostgreSQL's to disagree.
const MARGIN: Duration = Duration::from_secs(2);

/// The table of leases.
pub static SCHEMA: Schema = Schema {
    owner: "worker_leases",
    postgres: Some(&POSTGRES),
    sqlite: None,
};
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// Keeps a worker id leased for `ids` while it runs.
pub struct WorkerLease {
    db: PgDb,
    ids: Arc<IdGenerator>,
    /// Who holds a lease, in the table: the process, unique across restarts.
    holder: String,
    lease: Duration,
}

impl WorkerLease {
    /// A lease for `ids` on `db`, held in the name of `role` on this host.
    pub fn new(db: PgDb, ids: Arc<IdGenerator>, role: &str) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        let holder = format!(
            "{role}@{host}:{}:{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        WorkerLease {
            db,
            ids,
            holder,
            lease: LEASE,
        }
    }

    /// With a lease of `lease` instead of [`LEASE`] (tests).
    pub fn lasting(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Claims, renews and finally gives back the lease, until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Backoff::default();
        let mut held: Option<u16> = None;
        while !stop.is_cancelled() {
            let asked_at = now_millis();
            let outcome = match held {
                None => self.claim().await,
                Some(w) => self.renew(w).await.map(|kept| kept.then_some(w)),
            };
            let wait = match outcome {
                Ok(Some(worker)) => {
                    if held != Some(worker) {
                        tracing::info!(worker, holder = %self.holder, "worker id leased");
                    }
                    held = Some(worker);
                    let usable = self.lease.saturating_sub(MARGIN).as_millis() as u64;
                    self.ids.grant(worker, asked_at + usable);
                    backoff.reset();
                    self.lease / 3
                }
                Ok(None) => {
                    match held.take() {
                        Some(w) => tracing::warn!(worker = w, "the worker id lease was lost"),
                        None => tracing::warn!("no worker id is free to lease"),
                    }
                    self.ids.revoke();
                    backoff.next_wait()
                }
                Err(e) => {
                    // The lease in hand lapses on its own; the next turn tries again.
                    tracing::warn!(error = format!("{e:#}"), "leasing a worker id failed");
                    backoff.next_wait()
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => {}
            }
        }
        if let Some(worker) = held {
            self.ids.revoke();
            if let Err(e) = self.release(worker).await {
                tracing::warn!(
                    worker,
                    error = format!("{e:#}"),
                    "the worker id lease was not given back; it lapses on its own"
                );
            }
        }
    }

    /// The lowest free id of [`LEASED`], now leased to this process; `None` if all are held.
    async fn claim(&self) -> StoreResult<Option<u16>> {
        let mut tx = self.db.pool.begin().await?;
        // Claims one at a time: two claimers never pick the same free id.
        sqlx::query("SELECT pg_advisory_xact_lock(7263011920384002)")
            .execute(&mut *tx)
            .await?;
        let worker: Option<i32> = sqlx::query_scalar(
            "INSERT INTO worker_leases (worker_id, holder, expires_at)
             SELECT w, $1, now() + make_interval(secs => $2)
             FROM generate_series($3::int, $4::int) AS w
             WHERE NOT EXISTS (
                SELECT 1 FROM worker_leases l WHERE l.worker_id = w AND l.expires_at > now())
             ORDER BY w LIMIT 1
             ON CONFLICT (worker_id) DO UPDATE
                SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
             RETURNING worker_id",
        )
        .bind(&self.holder)
        .bind(self.lease.as_secs_f64())
        .bind(i32::from(*LEASED.start()))
        .bind(i32::from(*LEASED.end()))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(worker.map(|w| w as u16))
    }

    /// Extends the lease of `worker`; false if it is no longer this process's.
    async fn renew(&self, worker: u16) -> StoreResult<bool> {
        let renewed = sqlx::query(
            "UPDATE worker_leases SET expires_at = now() + make_interval(secs => $1)
             WHERE worker_id = $2 AND holder = $3 AND expires_at > now()",
        )
        .bind(self.lease.as_secs_f64())
        .bind(i32::from(worker))
        .bind(&self.holder)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    async fn release(&self, worker: u16) -> StoreResult<()> {
        sqlx::query("DELETE FROM worker_leases WHERE worker_id = $1 AND holder = $2")
            .bind(i32::from(worker))
            .bind(&self.holder)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn leases() -> (chirp_testkit::TestDatabase, PgDb) {
        let pg = chirp_testkit::postgres().await;
        let db = PgDb::connect_lazy(&pg.url).unwrap();
        db.migrate(&SCHEMA).await.unwrap();
        (pg, db)
    }

    async fn held(ids: &IdGenerator) -> u16 {
        for _ in 0..100 {
            if let Some(w) = ids.worker() {
                return w;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no worker id leased within 2 s");
    }

    #[tokio::test]
    async fn processes_lease_distinct_ids_and_give_them_back() {
        let (_pg, db) = leases().await;
        let stop = CancellationToken::new();
        let (a, b) = (
            Arc::new(IdGenerator::leased()),
            Arc::new(IdGenerator::leased()),
        );
        let ta = tokio::spawn(WorkerLease::new(db.clone(), a.clone(), "write").run(stop.clone()));
        let tb = tokio::spawn(WorkerLease::new(db.clone(), b.clone(), "write").run(stop.clone()));
        let (wa, wb) = (held(&a).await, held(&b).await);
        assert_ne!(wa, wb);
        assert!(LEASED.contains(&wa) && LEASED.contains(&wb));
        stop.cancel();
        ta.await.unwrap();
        tb.await.unwrap();
        assert_eq!(a.next_id(), Err(crate::id::NoWorkerId));
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM worker_leases")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(left, 0);
    }

    /// A process that stops renewing (killed, or cut off from PostgreSQL) stops minting
    /// before its lease ends, and only then may another take its id.
    #[tokio::test]
    async fn a_lapsed_lease_stops_its_ids_and_frees_the_worker_id() {
        let (_pg, db) = leases().await;
        let lease = Duration::from_secs(3);
        let a = Arc::new(IdGenerator::leased());
        let gone = tokio::spawn(
            WorkerLease::new(db.clone(), a.clone(), "graph")
                .lasting(lease)
                .run(CancellationToken::new()),
        );
        let first = held(&a).await;
        let taken_at = std::time::Instant::now();
        // Killed: no renewal, no release.
        gone.abort();
        let b = Arc::new(IdGenerator::leased());
        let stop = CancellationToken::new();
        let tb = tokio::spawn(
            WorkerLease::new(db.clone(), b.clone(), "graph")
                .lasting(lease)
                .run(stop.clone()),
        );
        let other = held(&b).await;
        assert_ne!(other, first, "the id is still leased");
        // A stops minting before its lease could have ended...
        while a.next_id().is_ok() {
            assert!(
                taken_at.elapsed() < lease,
                "still minting when the lease ended"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // ...and once it has, a third process may lease its id.
        tokio::time::sleep(lease).await;
        let c = Arc::new(IdGenerator::leased());
        let tc = tokio::spawn(
            WorkerLease::new(db.clone(), c.clone(), "graph")
                .lasting(lease)
                .run(stop.clone()),
        );
        assert_eq!(held(&c).await, first);
        stop.cancel();
        tb.await.unwrap();
        tc.await.unwrap();
    }
}
