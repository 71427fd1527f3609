//! The wiring: every service built on its adapters (the embedded defaults, or the
//! deployed stores each URL names, timed into the dependency metrics) and connected to
//! the others, in process or over HTTP. A role says which services' routes a process
//! serves and which background workers it runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use chirp_auth::adapters::memory::MemoryThrottle;
use chirp_auth::adapters::mongo::MongoIdentities;
use chirp_auth::adapters::postgres::PgProfileStore;
use chirp_auth::adapters::redis::{RedisSessions, RedisThrottle};
use chirp_auth::adapters::sqlite::SqliteAuthStore;
use chirp_auth::passwords::PasswordHashing;
use chirp_auth::ports::ProfileStore;
use chirp_auth::ports::{IdentityStore, LoginThrottle, SessionStore};
use chirp_auth::service::LoginMetrics;
use chirp_auth::{AuthService, AuthState};
use chirp_core::deployed::kafka::KafkaEventLog;
use chirp_core::deployed::postgres::{PgDb, PgOutbox};
use chirp_core::deployed::redis::Redis;
use chirp_core::embedded::event_log::SqliteEventLog;
use chirp_core::embedded::outbox::SqliteOutbox;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::{run_consumer, ConsumerMetrics, EventLog};
use chirp_core::http::extract::TrustForwardedFor;
use chirp_core::http::metrics::DependencyMetrics;
use chirp_core::http::{service_routes, Readiness, ReadinessCheck, Telemetry};
use chirp_core::outbox::{OutboxRelay, OutboxSource, RelayMetrics, TimedOutbox};
use chirp_core::peers::{Directory, LateDirectory, SocialGraph, Timelines};
use chirp_core::peers_http::{HttpDirectory, HttpGraph, HttpTimelines, Peer};
use chirp_core::token::TokenVerifier;
use chirp_core::IdGenerator;
use chirp_fanout::{FanoutMetrics, FanoutService};
use chirp_graph::adapters::postgres::PgFollowStore;
use chirp_graph::adapters::sqlite::SqliteFollowStore;
use chirp_graph::ports::FollowStore;
use chirp_graph::{GraphService, GraphState};
use chirp_read::adapters::postgres::PgReadStore;
use chirp_read::adapters::sqlite::SqliteReadStore;
use chirp_read::ports::ReadStore;
use chirp_read::{ReadService, ReadState};
use chirp_search::adapters::elasticsearch::ElasticIndex;
use chirp_search::adapters::tantivy::TantivyIndex;
use chirp_search::ports::SearchIndex;
use chirp_search::service::SearchMetrics;
use chirp_search::SearchService;
use chirp_timeline::adapters::memory::MemoryTimelines;
use chirp_timeline::adapters::postgres::PgPostsSource;
use chirp_timeline::adapters::redis::RedisTimelines;
use chirp_timeline::adapters::sqlite::SqlitePostsSource;
use chirp_timeline::adapters::timed::Timed;
use chirp_timeline::ports::{PostsSource, TimelineStore};
use chirp_timeline::service::TimelineMetrics;
use chirp_timeline::{TimelineConfig, TimelineService};
use chirp_write::adapters::postgres::PgPostStore;
use chirp_write::adapters::sqlite::SqlitePostStore;
use chirp_write::ports::PostStore;
use chirp_write::{WriteService, WriteState};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Command, Settings};

/// Every service of the process, reachable for tests and tools.
pub struct System {
    pub db: SqliteDb,
    /// PostgreSQL, when configured.
    pub pg: Option<PgDb>,
    pub log: Arc<dyn EventLog>,
    pub auth: Arc<AuthService>,
    pub write: Arc<WriteService>,
    pub graph: Arc<GraphService>,
    pub timelines: Arc<TimelineService>,
    /// The timeline store itself, to look inside.
    pub timeline_store: Arc<dyn TimelineStore>,
    /// Redis, when configured.
    pub redis: Option<Redis>,
    pub read: Arc<ReadService>,
    pub fanout: Arc<FanoutService>,
    /// Present when the role indexes or searches.
    pub search: Option<Arc<SearchService>>,
    pub telemetry: Telemetry,
    pub readiness: Readiness,
    verifier: TokenVerifier,
    trust_forwarded_for: bool,
    /// AuthService's address, when tokens are checked against its published keys.
    auth_url: Option<String>,
    outboxes: Vec<Outbox>,
    /// One flag per consumer group this process runs, set once it has joined.
    consumers_joined: Vec<(Command, Arc<AtomicBool>)>,
    /// The in-process timeline store, when there is no Redis: its size is reported.
    memory_timelines: Option<Arc<MemoryTimelines>>,
    /// The lock on the data directory's `LOCK` file, held while the process runs.
    data_lock: std::fs::File,
}

/// Locks the data directory for `role`: `chirp all` keeps copies of its rows in memory
/// (posts, timelines), which are right only while no other process writes the same
/// databases, so it takes the directory alone (an exclusive lock); single services may
/// share one directory with each other (shared locks), not with a `chirp all`.
fn lock_data_dir(data: &std::path::Path, role: Command) -> anyhow::Result<std::fs::File> {
    let path = data.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let locked = if role == Command::All {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match locked {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "the data directory {} is in use by another chirp process: `chirp all` needs one \
             of its own, and single services may share one only with each other (--data-dir)",
            data.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// A service's outbox, the signal its writers give after each commit, and the role whose
/// process relays it.
struct Outbox {
    role: Command,
    name: &'static str,
    source: Arc<dyn OutboxSource>,
    wake: Arc<Notify>,
}

fn runs(role: Command, service: Command) -> bool {
    role == Command::All || role == service
}

impl System {
    pub async fn build(role: Command, s: &Settings) -> anyhow::Result<Self> {
        let data = &s.data_dir;
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let data_lock = lock_data_dir(data, role)?;
        let db = SqliteDb::open(&data.join("chirp.db")).await?;
        let telemetry = Telemetry::new();
        let calls = DependencyMetrics::new(&telemetry, role.name());
        let log: Arc<dyn EventLog> = match &s.kafka_brokers {
            Some(brokers) => Arc::new(
                KafkaEventLog::new(brokers, &s.kafka_topic_prefix, s.kafka_partitions)?
                    .with_metrics(calls.clone()),
            ),
            None => Arc::new(SqliteEventLog::open(&data.join("events.db")).await?),
        };
        let ids = Arc::new(IdGenerator::new(s.worker_id).map_err(anyhow::Error::msg)?);
        let (auth_wake, write_wake, graph_wake) = (
            Arc::new(Notify::new()),
            Arc::new(Notify::new()),
            Arc::new(Notify::new()),
        );

        // Every service's tables exist whichever role starts first.
        let auth_store = Arc::new(SqliteAuthStore::new(db.clone()).await?);
        // `chirp all` owns its database alone, so where SQLite holds the follow graph,
        // posts and profiles it keeps them in memory too, written through.
        let owned = role == Command::All && s.database_url.is_none();
        let sqlite_follows = Arc::new(if owned {
            SqliteFollowStore::mirrored(db.clone()).await?
        } else {
            SqliteFollowStore::new(db.clone()).await?
        });
        let pg = match &s.database_url {
            Some(url) => Some(PgDb::connect_lazy(url)?),
            None => None,
        };
        let relational = match &pg {
            Some(pg) => {
                // Wait a moment for the schema, then let it finish in the background.
                let migrating = tokio::spawn(migrate_postgres(pg.clone()));
                let _ = tokio::time::timeout(std::time::Duration::from_secs(3), migrating).await;
                Relational::postgres(pg, &calls)
            }
            None => Relational::sqlite(&db, auth_store.clone(), sqlite_follows, owned).await?,
        };

        // Peers: over HTTP when this process does not run them and their URL is set, in
        // process otherwise.
        let remote = |service: Command, url: &Option<String>| -> Option<String> {
            if runs(role, service) {
                None
            } else {
                url.clone()
            }
        };
        let signing_key = chirp_auth::keys::load_or_create(data)?;
        // Tokens are verified locally: with the key itself where AuthService runs, else
        // with the public keys AuthService publishes (refreshed in the background).
        let auth_url = remote(Command::Auth, &s.auth_url);
        let verifier = match &auth_url {
            Some(_) => TokenVerifier::default(),
            None => TokenVerifier::with_keys([signing_key.verifying_key()]),
        };

        let redis = match &s.redis_url {
            Some(urls) => Some(Redis::new(urls, &s.redis_prefix)?),
            None => None,
        };
        let memory_timelines = Arc::new(MemoryTimelines::default());
        let (timeline_store, sessions, throttle): (
            Arc<dyn TimelineStore>,
            Arc<dyn SessionStore>,
            Arc<dyn LoginThrottle>,
        ) = match &redis {
            Some(r) => (
                Arc::new(Timed::<dyn TimelineStore> {
                    inner: Arc::new(RedisTimelines::new(
                        r.clone(),
                        (s.timeline_idle_secs > 0)
                            .then(|| std::time::Duration::from_secs(s.timeline_idle_secs)),
                    )),
                    dependency: "redis",
                    metrics: calls.clone(),
                }),
                Arc::new(chirp_auth::adapters::timed::Timed::<dyn SessionStore> {
                    inner: Arc::new(RedisSessions::new(r.clone())),
                    dependency: "redis",
                    metrics: calls.clone(),
                }),
                Arc::new(chirp_auth::adapters::timed::Timed::<dyn LoginThrottle> {
                    inner: Arc::new(RedisThrottle::new(r.clone())),
                    dependency: "redis",
                    metrics: calls.clone(),
                }),
            ),
            None => (
                memory_timelines.clone(),
                auth_store.clone(),
                Arc::new(MemoryThrottle::default()),
            ),
        };

        let identities: Arc<dyn IdentityStore> = match &s.mongodb_url {
            Some(url) => Arc::new(chirp_auth::adapters::timed::Timed::<dyn IdentityStore> {
                inner: Arc::new(MongoIdentities::connect(url).await?),
                dependency: "mongodb",
                metrics: calls.clone(),
            }),
            None => auth_store.clone(),
        };

        let late_directory = Arc::new(LateDirectory::default());
        let remote_directory: Option<Arc<dyn Directory>> = match remote(Command::Read, &s.read_url)
        {
            Some(url) => Some(Arc::new(HttpDirectory(
                Peer::new("read service", &url)?.with_metrics(calls.clone()),
            ))),
            None => None,
        };
        let graph = Arc::new(GraphService {
            store: relational.follows.clone(),
            directory: match &remote_directory {
                Some(d) => d.clone(),
                None => late_directory.clone(),
            },
            ids: ids.clone(),
            outbox_wake: graph_wake.clone(),
        });
        let social: Arc<dyn SocialGraph> = match remote(Command::Graph, &s.graph_url) {
            Some(url) => Arc::new(HttpGraph(
                Peer::new("graph service", &url)?.with_metrics(calls.clone()),
            )),
            None => graph.clone(),
        };
        let timelines = Arc::new(TimelineService {
            config: TimelineConfig {
                cap: s.timeline_cap,
                celebrity_threshold: s.celebrity_threshold,
                ..TimelineConfig::default()
            },
            store: timeline_store.clone(),
            posts: relational.posts_source.clone(),
            graph: social.clone(),
            metrics: TimelineMetrics::new(&telemetry),
        });
        let timelines_peer: Arc<dyn Timelines> = match remote(Command::Timeline, &s.timeline_url) {
            Some(url) => Arc::new(HttpTimelines(
                Peer::new("timeline service", &url)?.with_metrics(calls.clone()),
            )),
            None => timelines.clone(),
        };
        let read = Arc::new(ReadService {
            store: relational.read.clone(),
            graph: social.clone(),
            timelines: timelines_peer.clone(),
            celebrity_threshold: s.celebrity_threshold,
        });
        let local_directory: Arc<dyn Directory> = read.clone();
        late_directory.bind(&local_directory);
        let directory = remote_directory.unwrap_or(local_directory);

        let auth = Arc::new(AuthService {
            logins: LoginMetrics::new(&telemetry),
            config: s.auth_config(),
            identities: identities.clone(),
            profiles: relational.profiles.clone(),
            sessions,
            throttle,
            directory: directory.clone(),
            passwords: PasswordHashing::new(s.hash_cost())?,
            signing_key,
            verifier: verifier.clone(),
            ids: ids.clone(),
            outbox_wake: auth_wake.clone(),
        });
        let write = Arc::new(WriteService {
            store: relational.posts.clone(),
            directory: directory.clone(),
            ids,
            outbox_wake: write_wake.clone(),
        });
        let fanout = Arc::new(FanoutService {
            graph: social.clone(),
            timelines: timelines_peer.clone(),
            celebrity_threshold: s.celebrity_threshold,
            metrics: FanoutMetrics::new(&telemetry),
        });
        let search = if runs(role, Command::Search) {
            let index: Arc<dyn SearchIndex> = match &s.elasticsearch_url {
                Some(url) => Arc::new(
                    ElasticIndex::new(url, &s.elasticsearch_index_prefix)?
                        .with_metrics(calls.clone()),
                ),
                None => Arc::new(TantivyIndex::open(&data.join("search"))?),
            };
            Some(Arc::new(SearchService {
                index,
                directory,
                metrics: SearchMetrics::new(&telemetry),
            }))
        } else {
            None
        };

        let mut readiness = Readiness::default();
        let ping_db = db.clone();
        readiness.add(ReadinessCheck::new("database", move || {
            let db = ping_db.clone();
            async move { db.ping().await }
        }));
        if let Some(pg) = &pg {
            let pg = pg.clone();
            readiness.add(ReadinessCheck::new("postgres", move || {
                let pg = pg.clone();
                async move { pg.ping().await }
            }));
        }
        if let Some(search) = &search {
            let index = search.index.clone();
            readiness.add(ReadinessCheck::new("search index", move || {
                let index = index.clone();
                async move { index.ping().await }
            }));
        }
        if s.mongodb_url.is_some() && runs(role, Command::Auth) {
            let identities = identities.clone();
            readiness.add(ReadinessCheck::new("mongodb", move || {
                let identities = identities.clone();
                async move { identities.ping().await }
            }));
        }
        if let Some(r) = &redis {
            let r = r.clone();
            readiness.add(ReadinessCheck::new("redis", move || {
                let r = r.clone();
                async move { r.ping().await }
            }));
        }
        if matches!(
            role,
            Command::All
                | Command::Auth
                | Command::Write
                | Command::Graph
                | Command::Fanout
                | Command::Search
        ) {
            let ping_log = log.clone();
            let name = if s.kafka_brokers.is_some() {
                "kafka"
            } else {
                "event log"
            };
            readiness.add(ReadinessCheck::new(name, move || {
                let log = ping_log.clone();
                async move { log.ping().await }
            }));
        }

        // A process that verifies AuthService's tokens is ready once it has its keys:
        // before that, every signed-in request would be a 401.
        if auth_url.is_some() {
            let keys = verifier.clone();
            readiness.add(ReadinessCheck::new("token keys", move || {
                let known = keys.has_keys();
                async move {
                    anyhow::ensure!(known, "no token keys from AuthService yet");
                    Ok(())
                }
            }));
        }

        // Consumers count as ready once they have joined their group.
        let consumers_joined: Vec<(Command, Arc<AtomicBool>)> = [Command::Fanout, Command::Search]
            .into_iter()
            .filter(|c| runs(role, *c))
            .map(|c| (c, Arc::new(AtomicBool::new(false))))
            .collect();
        if !consumers_joined.is_empty() {
            let flags: Vec<Arc<AtomicBool>> =
                consumers_joined.iter().map(|(_, f)| f.clone()).collect();
            readiness.add(ReadinessCheck::new("event consumers", move || {
                let all = flags.iter().all(|f| f.load(Ordering::Acquire));
                async move {
                    anyhow::ensure!(all, "not every consumer has joined its group yet");
                    Ok(())
                }
            }));
        }

        let outboxes = vec![
            Outbox {
                role: Command::Auth,
                name: "auth",
                source: relational.auth_outbox,
                wake: auth_wake,
            },
            Outbox {
                role: Command::Write,
                name: "write",
                source: relational.write_outbox,
                wake: write_wake,
            },
            Outbox {
                role: Command::Graph,
                name: "graph",
                source: relational.graph_outbox,
                wake: graph_wake,
            },
        ];
        Ok(System {
            db,
            pg,
            log,
            auth,
            write,
            graph,
            timelines,
            timeline_store,
            redis,
            read,
            fanout,
            search,
            telemetry,
            readiness,
            verifier,
            trust_forwarded_for: s.trust_forwarded_for,
            auth_url,
            outboxes,
            consumers_joined,
            memory_timelines: s.redis_url.is_none().then_some(memory_timelines),
            data_lock,
        })
    }

    /// Lets another process use the data directory (once this one has stopped with it).
    pub fn release_data_dir(&self) {
        if let Err(e) = self.data_lock.unlock() {
            tracing::warn!(error = %e, "unlocking the data directory");
        }
    }

    /// The API routes of `role`, each service's under its own metrics label.
    pub fn routes(&self, role: Command) -> Router {
        let t = &self.telemetry;
        let mut api = Router::new();
        if runs(role, Command::Auth) {
            let state = AuthState {
                auth: self.auth.clone(),
                trust_forwarded_for: TrustForwardedFor(self.trust_forwarded_for),
            };
            api = api.merge(service_routes("auth", t, chirp_auth::router(state)));
        }
        if runs(role, Command::Write) {
            let state = WriteState {
                posts: self.write.clone(),
                verifier: self.verifier.clone(),
            };
            api = api.merge(service_routes(
                "write",
                t,
                chirp_write::router(state, role == Command::Write),
            ));
        }
        if runs(role, Command::Graph) {
            let state = GraphState {
                graph: self.graph.clone(),
                verifier: self.verifier.clone(),
            };
            api = api.merge(service_routes("graph", t, chirp_graph::router(state)));
        }
        if runs(role, Command::Read) {
            let state = ReadState {
                read: self.read.clone(),
                verifier: self.verifier.clone(),
            };
            api = api.merge(service_routes("read", t, chirp_read::router(state)));
        }
        if let Some(search) = &self.search {
            api = api.merge(service_routes(
                "search",
                t,
                chirp_search::router(search.clone()),
            ));
        }
        // The internal API, for peers in other processes; `chirp all` needs none.
        let internal = match role {
            Command::Read => Some((
                "read",
                chirp_read::routes::internal_router(self.read.clone()),
            )),
            Command::Graph => Some((
                "graph",
                chirp_graph::routes::internal_router(self.graph.clone()),
            )),
            Command::Timeline => Some((
                "timeline",
                chirp_timeline::routes::internal_router(self.timelines.clone()),
            )),
            _ => None,
        };
        if let Some((service, router)) = internal {
            api = api.merge(service_routes(service, t, router));
        }
        api
    }

    /// Starts the background workers of `role`: outbox relays and consumer groups.
    pub fn spawn_workers(&self, role: Command, stop: &CancellationToken, tasks: &mut JoinSet<()>) {
        let log = self.log.clone();
        if let (true, Some(store)) = (runs(role, Command::Timeline), &self.memory_timelines) {
            tasks.spawn(report_footprint(
                store.clone(),
                self.telemetry.clone(),
                stop.clone(),
            ));
        }
        if let Some(url) = &self.auth_url {
            tasks.spawn(refresh_keys(
                url.clone(),
                self.verifier.clone(),
                stop.clone(),
            ));
        }
        for outbox in &self.outboxes {
            if runs(role, outbox.role) {
                let relay = OutboxRelay {
                    name: outbox.name,
                    source: outbox.source.clone(),
                    log: log.clone(),
                    wake: outbox.wake.clone(),
                    metrics: Some(RelayMetrics::new(
                        &self.telemetry,
                        outbox.role.name(),
                        outbox.name,
                    )),
                };
                tasks.spawn(relay.run(stop.clone()));
            }
        }
        let joined = |c: Command| {
            self.consumers_joined
                .iter()
                .find(|(role, _)| *role == c)
                .map(|(_, f)| f.clone())
                .unwrap_or_default()
        };
        if runs(role, Command::Fanout) {
            tasks.spawn(run_consumer(
                log.clone(),
                Some(ConsumerMetrics {
                    telemetry: self.telemetry.clone(),
                    service: "fanout",
                }),
                chirp_fanout::GROUP,
                chirp_fanout::TOPICS,
                self.fanout.clone(),
                joined(Command::Fanout),
                stop.clone(),
            ));
        }
        if let Some(search) = &self.search {
            tasks.spawn(run_consumer(
                log,
                Some(ConsumerMetrics {
                    telemetry: self.telemetry.clone(),
                    service: "search",
                }),
                chirp_search::service::GROUP,
                chirp_search::service::TOPICS,
                search.clone(),
                joined(Command::Search),
                stop.clone(),
            ));
        }
    }
}

impl System {
    /// What the timeline store holds for `user` (empty when cold); for tests and tools.
    pub async fn timeline_store_entries(
        &self,
        user: chirp_core::Id,
    ) -> Vec<chirp_core::peers::TimelineEntry> {
        self.timeline_store
            .entries(user)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}

/// The stores that live in the relational database (PostgreSQL deployed, SQLite
/// embedded): posts and outboxes, public profiles, and the reads that join them. The
/// PostgreSQL ones are timed into the dependency metrics.
struct Relational {
    posts: Arc<dyn PostStore>,
    follows: Arc<dyn FollowStore>,
    profiles: Arc<dyn ProfileStore>,
    read: Arc<dyn ReadStore>,
    posts_source: Arc<dyn PostsSource>,
    auth_outbox: Arc<dyn OutboxSource>,
    write_outbox: Arc<dyn OutboxSource>,
    graph_outbox: Arc<dyn OutboxSource>,
}

impl Relational {
    async fn sqlite(
        db: &SqliteDb,
        profiles: Arc<SqliteAuthStore>,
        follows: Arc<SqliteFollowStore>,
        owned: bool,
    ) -> anyhow::Result<Self> {
        let posts = SqlitePostStore::new(db.clone()).await?;
        let (read, posts) = if owned {
            let (read, cache) = SqliteReadStore::cached(db.clone());
            (read, posts.forgetting_in(cache))
        } else {
            (SqliteReadStore::new(db.clone()), posts)
        };
        Ok(Relational {
            posts: Arc::new(posts),
            follows,
            profiles,
            read: Arc::new(read),
            posts_source: Arc::new(SqlitePostsSource { db: db.clone() }),
            auth_outbox: Arc::new(SqliteOutbox::new(
                db.clone(),
                chirp_auth::adapters::sqlite::OUTBOX,
            )),
            write_outbox: Arc::new(SqliteOutbox::new(
                db.clone(),
                chirp_write::adapters::sqlite::OUTBOX,
            )),
            graph_outbox: Arc::new(SqliteOutbox::new(
                db.clone(),
                chirp_graph::adapters::sqlite::OUTBOX,
            )),
        })
    }

    /// The stores answer 503 until PostgreSQL answers and the schema is in place (see
    /// [`migrate_postgres`]). Every call is timed into `calls`.
    fn postgres(pg: &PgDb, calls: &DependencyMetrics) -> Self {
        let dependency = "postgres";
        let metrics = calls.clone();
        let outbox = |table| -> Arc<dyn OutboxSource> {
            Arc::new(TimedOutbox {
                inner: Arc::new(PgOutbox::new(pg.clone(), table)),
                dependency,
                metrics: metrics.clone(),
            })
        };
        Relational {
            posts: Arc::new(chirp_write::adapters::timed::Timed::<dyn PostStore> {
                inner: Arc::new(PgPostStore::new(pg.clone())),
                dependency,
                metrics: metrics.clone(),
            }),
            follows: Arc::new(chirp_graph::adapters::timed::Timed::<dyn FollowStore> {
                inner: Arc::new(PgFollowStore::new(pg.clone())),
                dependency,
                metrics: metrics.clone(),
            }),
            profiles: Arc::new(chirp_auth::adapters::timed::Timed::<dyn ProfileStore> {
                inner: Arc::new(PgProfileStore::new(pg.clone())),
                dependency,
                metrics: metrics.clone(),
            }),
            read: Arc::new(chirp_read::adapters::timed::Timed::<dyn ReadStore> {
                inner: Arc::new(PgReadStore { db: pg.clone() }),
                dependency,
                metrics: metrics.clone(),
            }),
            posts_source: Arc::new(Timed::<dyn PostsSource> {
                inner: Arc::new(PgPostsSource { db: pg.clone() }),
                dependency,
                metrics: metrics.clone(),
            }),
            auth_outbox: outbox(chirp_auth::adapters::postgres::OUTBOX),
            write_outbox: outbox(chirp_write::adapters::postgres::OUTBOX),
            graph_outbox: outbox(chirp_graph::adapters::postgres::OUTBOX),
        }
    }
}

/// Runs every PostgreSQL migration this process's services own, retrying until the
/// database answers: a database that is down at start makes the process unready, not
/// dead.
async fn migrate_postgres(pg: PgDb) {
    let mut backoff = chirp_core::events::Backoff::default();
    let never = CancellationToken::new();
    loop {
        let done = async {
            chirp_write::adapters::postgres::migrate(&pg).await?;
            chirp_graph::adapters::postgres::migrate(&pg).await?;
            chirp_auth::adapters::postgres::migrate(&pg).await
        }
        .await;
        match done {
            Ok(()) => {
                pg.mark_schema_ready();
                return;
            }
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "PostgreSQL migrations failed; retrying"
                );
                let _ = backoff.wait(&never).await;
            }
        }
    }
}

/// Reports the in-process timeline store's size every two seconds: entries held, and the
/// bytes allocated for them.
async fn report_footprint(
    store: Arc<MemoryTimelines>,
    telemetry: Telemetry,
    stop: CancellationToken,
) {
    let labels = [("service", "timeline")];
    let entries = telemetry.gauge_with(
        "timeline_entries",
        "Entries held in the in-process home-timeline store",
        &labels,
    );
    let bytes = telemetry.gauge_with(
        "timeline_bytes",
        "Bytes allocated by the in-process home-timeline store for its timelines",
        &labels,
    );
    loop {
        let f = store.footprint();
        entries.set(f.entries as i64);
        bytes.set(f.bytes as i64);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Keeps `verifier`'s keys in step with AuthService's JWKS: at once, then every five
/// minutes (every half second until the first answer).
async fn refresh_keys(auth_url: String, verifier: TokenVerifier, stop: CancellationToken) {
    let peer = match Peer::new("auth service", &auth_url) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "cannot reach AuthService for its keys"
            );
            return;
        }
    };
    let mut have_keys = false;
    loop {
        match peer
            .get::<chirp_core::token::Jwks>("/.well-known/jwks.json")
            .await
        {
            Ok(jwks) => {
                let keys: Vec<_> = jwks.keys.iter().filter_map(|k| k.to_key()).collect();
                have_keys = !keys.is_empty();
                verifier.replace_keys(keys);
            }
            Err(e) => tracing::warn!(error = %e, "fetching the token keys failed"),
        }
        let wait = if have_keys { 300_000 } else { 500 };
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
            _ = stop.cancelled() => return,
        }
    }
}
