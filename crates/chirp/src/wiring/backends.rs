//! The stores of a process, each opened on first use: from the URL configured for it, or
//! without one, the embedded default in the data directory. The port builders of
//! [`ports`](super::ports) ask for them, and only the services a role runs ask for
//! ports, so a process opens only the stores its services use.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chirp_core::backoff::Backoff;
use chirp_core::deployed::kafka::KafkaEventLog;
use chirp_core::deployed::postgres::PgDb;
use chirp_core::deployed::redis::Redis;
use chirp_core::embedded::event_log::SqliteEventLog;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::EventLog;
use chirp_core::migrations::Schema;
use chirp_core::timed::{DependencyMetrics, Timed};
use tokio_util::sync::CancellationToken;

use super::data_dir::DataDir;
use crate::config::{Command, Settings};

/// What the process opened, kept for readiness checks, workers and tests.
#[derive(Clone, Default)]
pub struct Stores {
    /// The embedded database (`chirp.db`), when a store of the process lives in it.
    pub sqlite: Option<SqliteDb>,
    pub postgres: Option<PgDb>,
    pub redis: Option<Redis>,
    /// The event log, when the process appends to it or consumes it.
    pub log: Option<Arc<dyn EventLog>>,
    /// Whether the log is Kafka (else the embedded log, `events.db`).
    pub log_is_kafka: bool,
}

pub struct Backends<'s> {
    pub settings: &'s Settings,
    pub role: Command,
    /// Where deployed stores' calls are timed.
    pub calls: DependencyMetrics,
    pub data: DataDir,
    pub stores: Stores,
    /// The PostgreSQL schemas the ports built so far use.
    schemas: Vec<&'static Schema>,
    /// The embedded store of identities, profiles and sessions: one for the three ports.
    pub(super) sqlite_auth: Option<Arc<chirp_auth::adapters::sqlite::SqliteAuthStore>>,
    /// Posts kept in memory by the read store and forgotten by the post store, when this
    /// process owns the embedded database.
    pub(super) post_caches: Option<chirp_core::embedded::cache::PostCaches>,
    /// The limits' counts: one for every service of the process.
    pub(super) limiter: Option<Arc<dyn chirp_core::limits::Limiter>>,
    pub(super) revocations: Option<Arc<dyn chirp_core::token::Revocations>>,
}

impl<'s> Backends<'s> {
    pub fn new(settings: &'s Settings, role: Command, calls: DependencyMetrics) -> Self {
        Backends {
            settings,
            role,
            calls,
            data: DataDir::new(&settings.data_dir, role),
            stores: Stores::default(),
            schemas: Vec::new(),
            sqlite_auth: None,
            post_caches: None,
            limiter: None,
            revocations: None,
        }
    }

    /// Whether this process owns the embedded database alone (`chirp all` on SQLite), and
    /// so may keep copies of its rows in memory.
    pub fn owns_sqlite(&self) -> bool {
        self.role == Command::All && self.settings.database_url.is_none()
    }

    /// The embedded database, with the tables of `schemas` in it.
    pub async fn sqlite(&mut self, schemas: &[&'static Schema]) -> anyhow::Result<SqliteDb> {
        let db = match &self.stores.sqlite {
            Some(db) => db.clone(),
            None => {
                let path = self.data.file("chirp.db")?;
                let db = SqliteDb::open(&path).await?;
                self.stores.sqlite = Some(db.clone());
                db
            }
        };
        for schema in schemas {
            db.migrate(schema.owner, schema.sqlite_steps())
                .await
                .with_context(|| format!("migrating {} in the embedded database", schema.owner))?;
        }
        Ok(db)
    }

    /// PostgreSQL, whose `schemas` are migrated once every port is built
    /// ([`Backends::migrate_postgres`]).
    pub fn postgres(&mut self, url: &str, schemas: &[&'static Schema]) -> anyhow::Result<PgDb> {
        for s in schemas {
            if !self.schemas.iter().any(|have| have.owner == s.owner) {
                self.schemas.push(s);
            }
        }
        if let Some(pg) = &self.stores.postgres {
            return Ok(pg.clone());
        }
        let pg = PgDb::connect_lazy(url)?;
        self.stores.postgres = Some(pg.clone());
        Ok(pg)
    }

    pub fn redis(&mut self, urls: &str) -> anyhow::Result<Redis> {
        if let Some(r) = &self.stores.redis {
            return Ok(r.clone());
        }
        let r = Redis::new(urls, &self.settings.redis_prefix)?;
        self.stores.redis = Some(r.clone());
        Ok(r)
    }

    /// The event log: Kafka (`--kafka-brokers`, publishing timed), or the embedded log in
    /// `events.db`.
    pub async fn event_log(&mut self) -> anyhow::Result<Arc<dyn EventLog>> {
        if let Some(log) = &self.stores.log {
            return Ok(log.clone());
        }
        let s = self.settings;
        let log: Arc<dyn EventLog> = match &s.kafka_brokers {
            Some(brokers) => {
                let kafka = KafkaEventLog::new(brokers, &s.kafka_topic_prefix, s.kafka_partitions)?;
                self.stores.log_is_kafka = true;
                Arc::new(Timed::<dyn EventLog>::new(
                    Arc::new(kafka),
                    "kafka",
                    &self.calls,
                ))
            }
            None => Arc::new(SqliteEventLog::open(&self.data.file("events.db")?).await?),
        };
        self.stores.log = Some(log.clone());
        Ok(log)
    }

    /// Migrates the PostgreSQL schemas the ports use: waits a moment for them, then lets
    /// them finish in the background, retrying while the database is away (the stores
    /// answer 503 and `/readyz` names PostgreSQL until they are done).
    pub async fn migrate_postgres(&self) {
        let Some(pg) = self.stores.postgres.clone() else {
            return;
        };
        let schemas = self.schemas.clone();
        let migrating = tokio::spawn(migrate(pg, schemas));
        let _ = tokio::time::timeout(Duration::from_secs(3), migrating).await;
    }
}

async fn migrate(pg: PgDb, schemas: Vec<&'static Schema>) {
    let mut backoff = Backoff::default();
    let never = CancellationToken::new();
    loop {
        let mut done = Ok(());
        for schema in &schemas {
            done = pg.migrate(schema).await;
            if done.is_err() {
                break;
            }
        }
        match done {
            Ok(()) => {
                pg.mark_schema_ready();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "PostgreSQL migrations failed; retrying");
                let _ = backoff.wait(&never).await;
            }
        }
    }
}
