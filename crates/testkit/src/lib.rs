//! What tests and tools share: real dependencies (each test gets its own PostgreSQL
//! database, dropped when it ends, and its own Redis key prefix; a dependency that cannot
//! be reached fails the test, and `make test` starts them), one client of the public API
//! ([`api`]) and of its live streams ([`sse`]), and the macro that runs a port's suite against each of its adapters.
#![allow(clippy::expect_used)]

pub mod api;
pub mod sse;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

/// The server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("CHIRP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The Redis server tests use, each under its own key prefix.
pub fn redis_url() -> String {
    std::env::var("CHIRP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The nodes of a Redis Cluster, comma-separated (started by `scripts/with-deps.sh`).
pub fn redis_cluster_urls() -> String {
    std::env::var("CHIRP_TEST_REDIS_CLUSTER_URLS")
        .expect("CHIRP_TEST_REDIS_CLUSTER_URLS is not set: run the tests with `make test`")
}

/// A name no other test of any process uses: `<stem>_<pid>_<nanos>_<n>`.
pub fn unique(stem: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{stem}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A PostgreSQL database made for one test and dropped after it.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

pub async fn postgres() -> TestDatabase {
    let admin = postgres_admin_url();
    let name = unique("chirp_test");
    let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {admin} is not reachable ({e}); `make test` starts it")
    });
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("creating a test database");
    let _ = conn.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    TestDatabase {
        url: format!("{base}/{name}"),
        name,
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        // Drop runs inside or outside a runtime: use a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// A Redis key prefix of one test, on the test server or the test Cluster; its keys are
/// deleted after it.
pub struct TestRedisPrefix {
    /// One `redis://` URL, or the Cluster's, comma-separated.
    pub url: String,
    pub prefix: String,
}

impl TestRedisPrefix {
    /// A prefix on the test server.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self::on(&redis_url())
    }

    /// A prefix on the server or Cluster at `urls`.
    pub fn on(urls: &str) -> Self {
        TestRedisPrefix {
            url: urls.to_owned(),
            prefix: format!("{}:", unique("test")),
        }
    }

    /// Deletes every key under the prefix (KEYS through a Cluster asks every primary).
    fn clean(&self) -> redis::RedisResult<()> {
        let pattern = format!("{}*", self.prefix);
        let nodes: Vec<&str> = self.url.split(',').collect();
        let mut conn: Box<dyn redis::ConnectionLike> = match nodes.as_slice() {
            [one] => Box::new(redis::Client::open(*one)?.get_connection()?),
            many => Box::new(redis::cluster::ClusterClient::new(many.to_vec())?.get_connection()?),
        };
        let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query(conn.as_mut())?;
        for k in keys {
            redis::cmd("DEL").arg(&k).exec(conn.as_mut())?;
        }
        Ok(())
    }
}

impl Drop for TestRedisPrefix {
    fn drop(&mut self) {
        let _ = self.clean();
    }
}

/// The Elasticsearch-API server tests use (started by `scripts/with-deps.sh`).
pub fn elasticsearch_url() -> String {
    std::env::var("CHIRP_TEST_ELASTICSEARCH_URL")
        .expect("CHIRP_TEST_ELASTICSEARCH_URL is not set: run the tests with `make test`")
}

/// Deletes the indices a test made under `prefix`.
pub async fn drop_indices(url: &str, prefix: &str) {
    let http = reqwest::Client::new();
    for index in ["posts", "users"] {
        let _ = http.delete(format!("{url}/{prefix}{index}")).send().await;
    }
}

/// The MongoDB-protocol server tests use (started by `scripts/with-deps.sh`), without a
/// database; tests add one of their own.
pub fn mongodb_url() -> String {
    std::env::var("CHIRP_TEST_MONGODB_URL")
        .expect("CHIRP_TEST_MONGODB_URL is not set: run the tests with `make test`")
}

/// The Kafka-protocol broker tests use (started by `scripts/with-deps.sh`).
pub fn kafka_brokers() -> String {
    std::env::var("CHIRP_TEST_KAFKA_BROKERS")
        .expect("CHIRP_TEST_KAFKA_BROKERS is not set: run the tests with `make test`")
}

/// A pool of one connection to `url`: every query runs in one session, so that what the
/// session holds (its prepared statements) can be asked about.
pub fn one_connection_pool(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(url)
        .expect("a PostgreSQL URL")
}

/// How many statements prepared (by name) in the session of `pool`'s connection hold
/// `text`: with a pool of one connection, whether a query was prepared, and so whether
/// PostgreSQL may settle on a generic plan for it.
pub async fn prepared_statements_with(pool: &sqlx::PgPool, text: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_prepared_statements WHERE strpos(statement, $1) > 0",
    )
    .persistent(false)
    .bind(text)
    .fetch_one(pool)
    .await
    .expect("reading pg_prepared_statements")
}

/// One suite of cases for a port, run against each of its adapters: every case is a test
/// of its own, named `<adapter>::<case>`, so that a failure names both. Each adapter is
/// made fresh for each case by an async function returning what must stay alive during
/// the case (a temporary directory, a test database) and the port, as an
/// `Arc<dyn Port>`; each case is an async function taking `&dyn Port`.
///
/// ```text
/// chirp_testkit::port_suite! {
///     cases: [creates_then_reads, refuses_a_stale_version],
///     adapters: { sqlite => sqlite_store, postgres => postgres_store },
/// }
/// ```
#[macro_export]
macro_rules! port_suite {
    (cases: $cases:tt, adapters: { $($adapter:ident => $make:ident),+ $(,)? } $(,)?) => {
        $( $crate::port_suite!(@adapter $adapter, $make, $cases); )+
    };
    (@adapter $adapter:ident, $make:ident, [$($case:ident),+ $(,)?]) => {
        mod $adapter {
            $(
                #[tokio::test]
                async fn $case() {
                    let (_alive, port) = super::$make().await;
                    super::$case(&*port).await;
                }
            )+
        }
    };
}

/// What a release before shipped: the migrations of `all` below `first_new`, for a test
/// that a database made by that release opens with this build.
pub fn migrations_before(
    all: &sqlx::migrate::Migrator,
    first_new: i64,
) -> Vec<sqlx::migrate::Migration> {
    all.iter()
        .filter(|m| m.version < first_new)
        .cloned()
        .collect()
}

/// Runs on the PostgreSQL database at `url` the migrations of `all` below `first_new`
/// only, as the release before would have.
pub async fn postgres_migrated_before(url: &str, all: &sqlx::migrate::Migrator, first_new: i64) {
    /// Migrations given as they are.
    #[derive(Debug)]
    struct Given(Vec<sqlx::migrate::Migration>);
    impl<'s> sqlx::migrate::MigrationSource<'s> for Given {
        fn resolve(
            self,
        ) -> std::pin::Pin<
            Box<
                dyn std::future::Future<
                        Output = Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>,
                    > + Send
                    + 's,
            >,
        > {
            Box::pin(async move { Ok(self.0) })
        }
    }
    let old = migrations_before(all, first_new);
    assert!(
        !old.is_empty() && old.len() < all.iter().count(),
        "the release before shipped some of the migrations, not all"
    );
    let pool = sqlx::PgPool::connect(url).await.expect("PostgreSQL");
    let mut migrator = sqlx::migrate::Migrator::new(Given(old))
        .await
        .expect("the migrations of the release before");
    migrator.set_ignore_missing(true);
    migrator
        .run(&pool)
        .await
        .expect("migrating as the release before");
    pool.close().await;
}
