//! `TestApp`: the whole system started on port 0 with a fresh data directory, and typed
//! helpers so that each test reads as the scenario it checks. Logs print with TEST_LOG=1.

use std::future::Future;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use chirp::wiring::System;
use chirp::{Application, Command, Settings};
pub use chirp_testkit::api::{ids, urlencode, Session as TestUser};
use chirp_testkit::api::{Api, StackEnv};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// How long eventual effects (fanout, search, counts) may take: API.md allows 5 s.
pub const EVENTUALLY: Duration = Duration::from_secs(5);

static LOGS: Once = Once::new();

fn init_logs() {
    LOGS.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info,sqlx=warn,tantivy=warn")
                .with_test_writer()
                .try_init();
        }
    });
}

/// The system under test: `chirp all` in this process (the default), or, when
/// `CHIRP_TEST_STACK` names the env file `scripts/stack.sh up` wrote, the local stack's
/// gateway (NGINX in front of seven processes), shared by every test of the run.
pub struct TestApp {
    pub base: String,
    /// The Mastodon API's origin: `chirp all`'s second listener, or the stack's NGINX
    /// server for it.
    pub mastodon: String,
    pub http: reqwest::Client,
    /// The public API's client, on `base`.
    pub api: Api,
    /// Letters of this app's own that [`TestApp::signup`] and [`TestApp::word`] add, so
    /// that tests sharing one stack never meet each other's users or words.
    pub tag: String,
    local: Option<Local>,
    stack: Option<Arc<Stack>>,
}

/// What an in-process app holds besides its address.
struct Local {
    system: Arc<System>,
    data_dir: Arc<tempfile::TempDir>,
    /// What the app was started with, to restart it the same way.
    settings: Settings,
    /// The deployed stores this run uses, kept alive (and dropped) with the app.
    deps: Arc<Deps>,
    stop: CancellationToken,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The local stack the suite runs against, as `scripts/stack.sh` describes it.
pub struct Stack {
    pub gateway: String,
    /// The Mastodon API's origin through the stack's NGINX.
    pub mastodon: String,
    /// The stack's PostgreSQL database, for [`TestApp::fingerprint`].
    pub database_url: String,
}

impl Stack {
    /// The stack named by `CHIRP_TEST_STACK`, if any.
    pub fn from_env() -> Option<Stack> {
        let file = std::env::var_os("CHIRP_TEST_STACK")?;
        let env = StackEnv::read(std::path::Path::new(&file)).expect("the stack's env file");
        Some(Stack {
            gateway: env.gateway().expect("GATEWAY").to_owned(),
            mastodon: env
                .get("MASTODON_GATEWAY")
                .expect("MASTODON_GATEWAY")
                .to_owned(),
            database_url: env.database_url().expect("POSTGRES_PORT"),
        })
    }
}

/// Five letters no other app of this run has.
fn fresh_tag() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut n = nanos.wrapping_mul(6364136223846793005).wrapping_add(
        N.fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(1442695040888963407),
    ) ^ u64::from(std::process::id());
    (0..5)
        .map(|_| {
            let c = (b'a' + (n % 26) as u8) as char;
            n /= 26;
            c
        })
        .collect()
}

/// The system under test: the local stack when `CHIRP_TEST_STACK` names one, else a new
/// `chirp all` in this process on the dependencies `CHIRP_TEST_WITH` names.
pub async fn spawn_app() -> TestApp {
    match Stack::from_env() {
        Some(stack) => TestApp {
            base: stack.gateway.clone(),
            mastodon: stack.mastodon.clone(),
            http: reqwest::Client::new(),
            api: Api::new(&stack.gateway),
            tag: fresh_tag(),
            local: None,
            stack: Some(Arc::new(stack)),
        },
        None => spawn_app_with(|_| {}).await,
    }
}

/// The deployed dependencies the suite runs against, named in `CHIRP_TEST_WITH`
/// (comma-separated: `postgres`, `redis`, `elasticsearch`, `mongodb`, `kafka`); none
/// means the embedded defaults.
#[derive(Default)]
pub struct Deps {
    pub postgres: Option<chirp_testkit::TestDatabase>,
    pub redis: Option<chirp_testkit::TestRedisPrefix>,
    /// Elasticsearch: the server and this test's index prefix.
    pub elasticsearch: Option<(String, String)>,
    /// MongoDB: a database of this test's own.
    pub mongodb: Option<String>,
    /// Kafka: the brokers and this test's topic prefix.
    pub kafka: Option<(String, String)>,
}

impl Drop for Deps {
    fn drop(&mut self) {
        if let Some((url, prefix)) = self.elasticsearch.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(chirp_testkit::drop_indices(&url, &prefix));
                }
            })
            .join();
        }
    }
}

impl Deps {
    pub async fn from_env() -> Deps {
        let wanted = std::env::var("CHIRP_TEST_WITH").unwrap_or_default();
        let wanted: Vec<&str> = wanted
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect();
        for w in &wanted {
            assert!(
                ["postgres", "redis", "elasticsearch", "mongodb", "kafka"].contains(w),
                "CHIRP_TEST_WITH names an unknown dependency: {w}"
            );
        }
        Deps {
            postgres: if wanted.contains(&"postgres") {
                Some(chirp_testkit::postgres().await)
            } else {
                None
            },
            redis: wanted
                .contains(&"redis")
                .then(chirp_testkit::TestRedisPrefix::new),
            elasticsearch: wanted.contains(&"elasticsearch").then(|| {
                (
                    chirp_testkit::elasticsearch_url(),
                    format!("{}-", chirp_testkit::unique("test")).to_lowercase(),
                )
            }),
            mongodb: wanted.contains(&"mongodb").then(|| {
                format!(
                    "{}/{}",
                    chirp_testkit::mongodb_url().trim_end_matches('/'),
                    chirp_testkit::unique("test")
                )
            }),
            kafka: wanted.contains(&"kafka").then(|| {
                (
                    chirp_testkit::kafka_brokers(),
                    format!("{}.", chirp_testkit::unique("test")),
                )
            }),
        }
    }

    /// Points `settings` at these dependencies.
    pub fn configure(&self, settings: &mut Settings) {
        settings.database_url = self.postgres.as_ref().map(|d| d.url.clone());
        if let Some(r) = &self.redis {
            settings.redis_url = Some(r.url.clone());
            settings.redis_prefix = r.prefix.clone();
        }
        settings.mongodb_url = self.mongodb.clone();
        if let Some((brokers, prefix)) = &self.kafka {
            settings.kafka_brokers = Some(brokers.clone());
            settings.kafka_topic_prefix = prefix.clone();
            settings.kafka_partitions = 2;
        }
        if let Some((url, prefix)) = &self.elasticsearch {
            settings.elasticsearch_url = Some(url.clone());
            settings.elasticsearch_index_prefix = prefix.clone();
        }
    }

    /// The same, as environment variables for a `chirp` process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(pg) = &self.postgres {
            env.push(("DATABASE_URL", pg.url.clone()));
        }
        if let Some(r) = &self.redis {
            env.push(("REDIS_URL", r.url.clone()));
            env.push(("CHIRP_REDIS_PREFIX", r.prefix.clone()));
        }
        if let Some(url) = &self.mongodb {
            env.push(("MONGODB_URL", url.clone()));
        }
        if let Some((brokers, prefix)) = &self.kafka {
            env.push(("KAFKA_BROKERS", brokers.clone()));
            env.push(("CHIRP_KAFKA_TOPIC_PREFIX", prefix.clone()));
            env.push(("CHIRP_KAFKA_PARTITIONS", "2".into()));
        }
        if let Some((url, prefix)) = &self.elasticsearch {
            env.push(("ELASTICSEARCH_URL", url.clone()));
            env.push(("CHIRP_ELASTICSEARCH_INDEX_PREFIX", prefix.clone()));
        }
        env
    }
}

/// A new `chirp all` in this process, with `configure` applied to its settings: for the
/// tests that need a setting of their own or a look inside (`mod inside` in each file).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temporary data directory"));
    let deps = Arc::new(Deps::from_env().await);
    let mut settings = Settings::for_tests(dir.path().to_path_buf());
    deps.configure(&mut settings);
    configure(&mut settings);
    start(settings, dir, deps).await
}

/// Starts an app on a data directory and dependencies (a restart, when they were used),
/// and waits until it is ready.
pub async fn start(settings: Settings, dir: Arc<tempfile::TempDir>, deps: Arc<Deps>) -> TestApp {
    let app = launch(settings, dir, deps).await;
    app.wait_until_ready().await;
    app
}

/// Starts an app without waiting for it to be ready.
pub async fn launch(settings: Settings, dir: Arc<tempfile::TempDir>, deps: Arc<Deps>) -> TestApp {
    init_logs();
    let app = Application::build(Command::All, &settings)
        .await
        .expect("the application builds");
    let addr = app.local_addr().expect("bound address");
    let mastodon = format!(
        "http://{}",
        app.mastodon_addr().expect("the Mastodon API's address")
    );
    let system = app.system();
    let stop = CancellationToken::new();
    let running = tokio::spawn(app.run_until_stopped(stop.clone()));
    let base = format!("http://{addr}");
    TestApp {
        api: Api::new(&base),
        base,
        mastodon,
        http: reqwest::Client::new(),
        tag: fresh_tag(),
        local: Some(Local {
            system,
            data_dir: dir,
            settings,
            deps,
            stop,
            running: Some(running),
        }),
        stack: None,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(local) = &self.local {
            local.stop.cancel();
        }
    }
}

/// Retries `check` until it returns `Some`, for up to [`EVENTUALLY`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(EVENTUALLY, what, check).await
}

/// Retries `check` until it returns `Some`, for up to `bound`.
pub async fn eventually_within<T, F, Fut>(bound: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if started.elapsed() > bound {
            panic!("not within {bound:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn body(res: Response) -> Value {
    let text = res.text().await.expect("a body");
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts a problem document with `status`, and returns it.
pub async fn assert_problem(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status, "unexpected status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        ct, "application/problem+json",
        "errors are problem documents"
    );
    let doc = body(res).await;
    assert_eq!(doc["status"], status.as_u16());
    for field in ["type", "title", "detail"] {
        assert!(doc[field].is_string(), "problem without {field}: {doc}");
    }
    doc
}

/// Polls `<base>/readyz` until it answers 200 (true) or `within` has passed (false).
pub async fn wait_ready(http: &reqwest::Client, base: &str, within: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        if let Ok(res) = http.get(format!("{base}/readyz")).send().await {
            if res.status() == StatusCode::OK {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

impl TestApp {
    fn local(&self) -> &Local {
        self.local
            .as_ref()
            .expect("a look inside needs the app in this process (a test of `mod inside`)")
    }

    /// The in-process system, for tests that look inside.
    pub fn system(&self) -> &Arc<System> {
        &self.local().system
    }

    /// The in-process system, or none when the suite runs against a stack.
    pub fn system_if_local(&self) -> Option<&Arc<System>> {
        self.local.as_ref().map(|l| &l.system)
    }

    /// `stem` with this app's tag: a word, handle or search term no other test uses.
    pub fn word(&self, stem: &str) -> String {
        format!("{stem}{}", self.tag)
    }

    /// Waits until `/readyz` answers 200: stores reachable, consumers in their groups.
    /// Gives up quietly after 30 s (a test of an unready app checks that itself).
    pub async fn wait_until_ready(&self) {
        wait_ready(&self.http, &self.base, Duration::from_secs(30)).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        json: Option<Value>,
    ) -> Response {
        self.api
            .send(method, path, token, json.as_ref())
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        let res = self.get(path, token).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        body(res).await
    }

    pub async fn signup_raw(&self, body: Value) -> Response {
        self.send(Method::POST, "/api/v1/auth/signup", None, Some(body))
            .await
    }

    /// Signs up `<handle>_<tag>` with `<that>@example.com` and a fixed password.
    pub async fn signup(&self, handle: &str) -> TestUser {
        let handle = &format!("{handle}_{}", self.tag);
        let email = format!("{handle}@example.com");
        let password = format!("{handle}-secret-password");
        self.api
            .signup(handle, &email, &password)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub async fn login(&self, login: &str, password: &str) -> Response {
        self.send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"login": login, "password": password})),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.send(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh_token})),
        )
        .await
    }

    pub async fn follow(&self, who: &TestUser, whom: &TestUser) {
        let followed = self.api.follow(&who.access, &whom.id).await;
        followed.unwrap_or_else(|e| panic!("follow: {e:#}"));
    }

    pub async fn follow_raw(&self, token: &str, id: &str) -> Response {
        self.send(
            Method::POST,
            &format!("/api/v1/users/{id}/follow"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn unfollow(&self, who: &TestUser, whom: &TestUser) {
        let unfollowed = self.api.unfollow(&who.access, &whom.id).await;
        unfollowed.unwrap_or_else(|e| panic!("unfollow: {e:#}"));
    }

    pub async fn post_raw(&self, token: &str, body: Value) -> Response {
        self.send(Method::POST, "/api/v1/posts", Some(token), Some(body))
            .await
    }

    /// Posts `text` as `who`; returns the post.
    pub async fn post(&self, who: &TestUser, text: &str) -> Value {
        let posted = self.api.post(&who.access, text).await;
        posted.unwrap_or_else(|e| panic!("post {text:?}: {e:#}"))
    }

    pub async fn post_id(&self, who: &TestUser, text: &str) -> String {
        self.post(who, text).await["id"]
            .as_str()
            .expect("post id")
            .to_owned()
    }

    pub async fn edit(&self, who: &TestUser, id: &str, text: &str) -> Response {
        self.send(
            Method::PATCH,
            &format!("/api/v1/posts/{id}"),
            Some(&who.access),
            Some(json!({"text": text})),
        )
        .await
    }

    pub async fn delete(&self, who: &TestUser, id: &str) -> Response {
        self.send(
            Method::DELETE,
            &format!("/api/v1/posts/{id}"),
            Some(&who.access),
            None,
        )
        .await
    }

    pub async fn home(&self, who: &TestUser, query: &str) -> Value {
        self.get_json(&format!("/api/v1/timelines/home{query}"), Some(&who.access))
            .await
    }

    pub async fn home_ids(&self, who: &TestUser) -> Vec<String> {
        ids(&self.home(who, "?limit=100").await)
    }

    pub async fn user(&self, id: &str) -> Value {
        self.get_json(&format!("/api/v1/users/{id}"), None).await
    }

    pub async fn search_posts(&self, q: &str) -> Value {
        self.get_json(&format!("/api/v1/search/posts?q={}", urlencode(q)), None)
            .await
    }

    pub async fn search_users(&self, q: &str) -> Value {
        self.get_json(&format!("/api/v1/search/users?q={}", urlencode(q)), None)
            .await
    }

    /// Waits until `who`'s home timeline holds exactly `expected` (newest first).
    pub async fn home_becomes(&self, who: &TestUser, expected: &[String]) {
        eventually(
            &format!("{}'s home is {expected:?}", who.handle),
            || async { (self.home_ids(who).await == expected).then_some(()) },
        )
        .await
    }

    /// Waits until searching posts for `q` gives exactly `expected`.
    pub async fn search_becomes(&self, q: &str, expected: &[String]) {
        eventually(&format!("search {q:?} gives {expected:?}"), || async {
            (ids(&self.search_posts(q).await) == expected).then_some(())
        })
        .await
    }

    /// Row counts of every table a request could change, and the number of events ever
    /// logged, once every outbox has drained into the log. Against a stack, the counts of
    /// its PostgreSQL tables (the suite runs one test at a time there).
    pub async fn fingerprint(&self) -> Vec<i64> {
        if let Some(stack) = &self.stack {
            let pool = sqlx::PgPool::connect(&stack.database_url)
                .await
                .expect("the stack's PostgreSQL answers");
            let counts = relational_counts(Counted::Postgres(&pool)).await;
            pool.close().await;
            return counts;
        }
        const EMBEDDED: &str =
            "SELECT (SELECT COUNT(*) FROM auth_identities), (SELECT COUNT(*) FROM auth_sessions)";
        let local = self.local();
        let stores = &local.system.stores;
        let mut counts = match (&stores.postgres, &stores.sqlite) {
            (Some(pg), _) => relational_counts(Counted::Postgres(&pg.pool)).await,
            (None, Some(db)) => relational_counts(Counted::Sqlite(db)).await,
            (None, None) => panic!("chirp all keeps its rows somewhere"),
        };
        // Identities and sessions, where the embedded database holds them.
        if let Some(db) = &stores.sqlite {
            counts.extend(Counted::Sqlite(db).row(EMBEDDED, 2).await);
        }
        // The number of events ever in the embedded log (none when Kafka is the log).
        let events_db = local.data_dir.path().join("events.db");
        let logged: i64 = if events_db.exists() {
            let log = rusqlite::Connection::open_with_flags(
                &events_db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .expect("the event log opens");
            log.query_row("SELECT COALESCE(MAX(pos), 0) FROM events", [], |r| r.get(0))
                .expect("event log query")
        } else {
            0
        };
        counts.push(logged);
        counts
    }

    /// Stops the app gracefully, then starts it again on the same data and dependencies,
    /// with `change` applied to its settings.
    pub async fn restart(self, change: impl FnOnce(&mut Settings)) -> TestApp {
        let local = self.local();
        let (dir, deps, mut settings) = (
            local.data_dir.clone(),
            local.deps.clone(),
            local.settings.clone(),
        );
        self.shutdown().await;
        change(&mut settings);
        start(settings, dir, deps).await
    }

    /// Stops the app gracefully and waits for it.
    pub async fn shutdown(mut self) {
        let local = self.local.as_mut().expect("an app in this process");
        local.stop.cancel();
        if let Some(h) = local.running.take() {
            h.await.expect("app task").expect("app stopped cleanly");
        }
    }
}

/// The relational stores' row counts (profiles, posts, deletions, versions, idempotency
/// keys, post counts, follows, follow counts, likes, the counts of posts, profile
/// versions, blocks, mutes), once the
/// outboxes have drained.
/// A database whose rows the fingerprint counts.
#[derive(Clone, Copy)]
enum Counted<'a> {
    Postgres(&'a sqlx::PgPool),
    Sqlite(&'a chirp_core::embedded::sqlite::SqliteDb),
}

impl Counted<'_> {
    /// The first `n` columns, numbers all, of the one row `sql` answers.
    async fn row(self, sql: &str, n: usize) -> Vec<i64> {
        match self {
            Counted::Postgres(pool) => {
                let row = sqlx::query(sql).fetch_one(pool).await.expect("counts");
                (0..n).map(|i| sqlx::Row::get::<i64, _>(&row, i)).collect()
            }
            Counted::Sqlite(db) => db
                .read(|c| c.query_row(sql, [], |r| (0..n).map(|i| r.get::<_, i64>(i)).collect()))
                .expect("counts"),
        }
    }
}

async fn relational_counts(db: Counted<'_>) -> Vec<i64> {
    const OUTBOXES: &str = "SELECT CAST((SELECT COUNT(*) FROM auth_outbox)
            + (SELECT COUNT(*) FROM write_outbox) + (SELECT COUNT(*) FROM graph_outbox) AS BIGINT)";
    const RELATIONAL: &str = "SELECT (SELECT COUNT(*) FROM profiles), (SELECT COUNT(*) FROM posts),
            (SELECT COUNT(*) FROM posts WHERE deleted_at IS NOT NULL),
            CAST((SELECT COALESCE(SUM(version), 0) FROM posts) AS BIGINT),
            (SELECT COUNT(*) FROM post_idempotency),
            CAST((SELECT COALESCE(SUM(posts), 0) FROM post_counts) AS BIGINT),
            (SELECT COUNT(*) FROM follows),
            CAST((SELECT COALESCE(SUM(followers + following), 0) FROM follow_counts) AS BIGINT),
            (SELECT COUNT(*) FROM likes),
            CAST((SELECT COALESCE(SUM(replies + likes + reposts), 0) FROM post_stats) AS BIGINT),
            CAST((SELECT COALESCE(SUM(version), 0) FROM profiles) AS BIGINT),
            (SELECT COUNT(*) FROM blocks), (SELECT COUNT(*) FROM mutes)";
    eventually("the outboxes drain", || async {
        (db.row(OUTBOXES, 1).await == [0]).then_some(())
    })
    .await;
    db.row(RELATIONAL, 13).await
}

impl TestApp {
    /// Walks every page of the list at `path` (see [`Api::walk`]); the ids seen.
    pub async fn walk<F, Fut>(
        &self,
        path: &str,
        token: Option<&str>,
        limit: usize,
        between: F,
    ) -> Vec<String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        let walked = self.api.walk(path, token, limit, between).await;
        walked.unwrap_or_else(|e| panic!("walking {path}: {e:#}"))
    }
}

/// A new `chirp all` in this process, whatever `CHIRP_TEST_STACK` says.
pub async fn spawn_local() -> TestApp {
    spawn_app_with(|_| {}).await
}
