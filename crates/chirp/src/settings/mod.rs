//! Every setting of a process: a flag each, which also reads the environment variable
//! shown (the doc comments are the `--help` text), shared by every subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chirp_auth::passwords::HashCost;
use chirp_auth::AuthConfig;
use chirp_core::http::serve::ServeOptions;
use chirp_core::limits::Limit;

use crate::config::{Cli, Command, LogFormat, WorkerId};

mod limits;
mod server;

pub use limits::LimitSettings;
pub use server::ServerSettings;

/// The internal API's shared secret: never shown in a log or a `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct InternalSecret(pub String);

impl std::fmt::Debug for InternalSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InternalSecret(..)")
    }
}

impl std::str::FromStr for InternalSecret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() < 16 {
            return Err("the internal secret must be at least 16 characters".into());
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the internal secret must be printable ASCII without spaces".into());
        }
        Ok(InternalSecret(s.to_owned()))
    }
}

/// An address to listen on, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<SocketAddr>);

impl std::str::FromStr for OptionalAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "off" {
            return Ok(OptionalAddr(None));
        }
        s.trim()
            .parse()
            .map(|a| OptionalAddr(Some(a)))
            .map_err(|_| format!("`{s}` is neither an address (host:port) nor `off`"))
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address to listen on [default: 127.0.0.1:8080 for `all`, 127.0.0.1:808N for a service].
    #[arg(long, env = "CHIRP_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,

    /// Directory for everything the embedded defaults keep (databases, search index,
    /// signing key).
    #[arg(long, env = "CHIRP_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Address of the internal API (`/internal/v1`, which peer services call and the
    /// gateway never exposes), for the services that have one [default: 127.0.0.1 and
    /// the public port plus 100].
    #[arg(long, env = "CHIRP_INTERNAL_LISTEN", global = true)]
    pub internal_listen: Option<SocketAddr>,

    /// Worker id (0-1023) put into every id this process mints, unique per process; or
    /// `auto`: lease one (512-1023) from PostgreSQL while the process runs, so that any
    /// number of processes of a service can run without being given one each.
    #[arg(long, env = "CHIRP_WORKER_ID", default_value = "0", global = true)]
    pub worker_id: WorkerId,

    /// The access-token signing keys (AuthService): a file with one Ed25519 private key
    /// per line, 64 hex digits; the first signs, all verify. Without it, a key kept in
    /// the data directory (made on first start).
    #[arg(long, env = "CHIRP_SIGNING_KEYS", global = true)]
    pub signing_keys: Option<PathBuf>,

    /// Seconds a graceful stop may take (in-flight requests, background workers, stores),
    /// after which the process exits anyway.
    #[arg(
        long,
        env = "CHIRP_SHUTDOWN_TIMEOUT_SECS",
        default_value_t = 20,
        global = true
    )]
    pub shutdown_timeout_secs: u64,

    /// Entries kept in each home timeline.
    #[arg(long, env = "CHIRP_TIMELINE_CAP", default_value_t = 800, global = true)]
    pub timeline_cap: usize,

    /// Seconds a home timeline in Redis is kept without a read (30 days); the next read
    /// builds it again. 0 keeps timelines until Redis evicts or loses them.
    #[arg(
        long,
        env = "CHIRP_TIMELINE_IDLE_SECS",
        default_value_t = 30 * 24 * 3600,
        global = true
    )]
    pub timeline_idle_secs: u64,

    /// Authors with more followers than this are not fanned out; their posts are merged
    /// into home timelines at read time.
    #[arg(
        long,
        env = "CHIRP_CELEBRITY_THRESHOLD",
        default_value_t = 10_000,
        global = true
    )]
    pub celebrity_threshold: u64,

    /// Seconds between the comment lines that keep an idle live stream
    /// (`/api/v1/streaming`) open through proxies.
    #[arg(
        long,
        env = "CHIRP_STREAM_KEEP_ALIVE_SECS",
        default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    pub stream_keep_alive_secs: u64,

    /// Items a live stream holds for a client that has not read them yet; when one more
    /// comes, the stream is closed as too slow (its client replays what it missed on
    /// reconnecting), so that one slow client never holds back the others.
    #[arg(
        long,
        env = "CHIRP_STREAM_BUFFER",
        default_value_t = 256,
        value_parser = clap::value_parser!(u64).range(1..=65_536),
        global = true
    )]
    pub stream_buffer: u64,

    /// Largest request body accepted, in bytes.
    #[arg(
        long,
        env = "CHIRP_BODY_LIMIT",
        default_value_t = 65_536,
        global = true
    )]
    pub body_limit: usize,

    /// Lifetime of access tokens, in seconds.
    #[arg(
        long,
        env = "CHIRP_ACCESS_TOKEN_TTL_SECS",
        default_value_t = 900,
        global = true
    )]
    pub access_token_ttl_secs: u64,

    /// Take the client address from the last `X-Forwarded-For` entry (only behind a proxy
    /// that sets it, such as the NGINX gateway).
    #[arg(long, env = "CHIRP_TRUST_FORWARDED_FOR", global = true)]
    pub trust_forwarded_for: bool,

    /// PostgreSQL for posts, profiles and outboxes (`postgres://user:pass@host/db`);
    /// unset: SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Redis for home timelines, refresh sessions and the limits' counts: one `redis://` URL,
    /// or several, comma-separated, for a Redis Cluster; unset: process memory and SQLite.
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key this deployment writes.
    #[arg(
        long,
        env = "CHIRP_REDIS_PREFIX",
        default_value = "chirp:",
        global = true
    )]
    pub redis_prefix: String,

    /// Elasticsearch 8 or OpenSearch 2 (`http://host:9200`) for the search index; unset:
    /// tantivy in the data directory.
    #[arg(long, env = "ELASTICSEARCH_URL", global = true)]
    pub elasticsearch_url: Option<String>,

    /// Prefix of the search index names (`<prefix>posts`, `<prefix>users`).
    #[arg(
        long,
        env = "CHIRP_ELASTICSEARCH_INDEX_PREFIX",
        default_value = "chirp-",
        global = true
    )]
    pub elasticsearch_index_prefix: String,

    /// MongoDB for identities (`mongodb://host:27017/chirp`); unset: SQLite.
    #[arg(long, env = "MONGODB_URL", global = true)]
    pub mongodb_url: Option<String>,

    /// Kafka brokers (`host:9092[,host:9092...]`) for the event log; unset: an SQLite log
    /// in the data directory.
    #[arg(long, env = "KAFKA_BROKERS", global = true)]
    pub kafka_brokers: Option<String>,

    /// Prefix of the Kafka topic names (`<prefix>chirp.posts`, ...).
    #[arg(
        long,
        env = "CHIRP_KAFKA_TOPIC_PREFIX",
        default_value = "",
        global = true
    )]
    pub kafka_topic_prefix: String,

    /// Partitions of each topic, when Chirp creates them.
    #[arg(
        long,
        env = "CHIRP_KAFKA_PARTITIONS",
        default_value_t = 6,
        global = true
    )]
    pub kafka_partitions: i32,

    /// Where `chirp all` serves the Mastodon API, an origin of its own (its paths collide
    /// with Chirp's `/api/v1`), or `off`.
    #[arg(
        long,
        env = "CHIRP_MASTODON_LISTEN",
        default_value = "127.0.0.1:8090",
        global = true
    )]
    pub mastodon_listen: OptionalAddr,

    /// Chirp's public API (the gateway's base URL), for `chirp mastodon`.
    #[arg(long, env = "CHIRP_API_URL", global = true)]
    pub api_url: Option<String>,

    /// AuthService's internal API (its OAuth apps and tokens), for `chirp mastodon`.
    #[arg(long, env = "CHIRP_AUTH_INTERNAL_URL", global = true)]
    pub auth_internal_url: Option<String>,

    /// AuthService's base URL, for processes that do not run it: they verify tokens with
    /// the keys it publishes at `/.well-known/jwks.json`.
    #[arg(long, env = "CHIRP_AUTH_URL", global = true)]
    pub auth_url: Option<String>,

    /// ReadService's base URL, for processes that do not run it (users and posts).
    #[arg(long, env = "CHIRP_READ_URL", global = true)]
    pub read_url: Option<String>,

    /// UserGraphService's base URL, for processes that do not run it.
    #[arg(long, env = "CHIRP_GRAPH_URL", global = true)]
    pub graph_url: Option<String>,

    /// TimelineService's base URL, for processes that do not run it.
    #[arg(long, env = "CHIRP_TIMELINE_URL", global = true)]
    pub timeline_url: Option<String>,

    /// Log format on stdout.
    #[arg(
        long,
        env = "CHIRP_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Where to send traces: the base URL of an OTLP/HTTP collector (Jaeger, the
    /// OpenTelemetry Collector), e.g. `http://127.0.0.1:4318`; they go to `/v1/traces`
    /// under it. Without it, spans still give log lines their `trace.id`, but go nowhere.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,

    /// A secret shared by the services: sent by each with its calls to the internal API
    /// of another (`/internal/v1`), which refuses any call without it (401). Unset: the
    /// internal API takes any call that reaches its listener.
    #[arg(long, env = "CHIRP_INTERNAL_SECRET", global = true)]
    pub internal_secret: Option<InternalSecret>,

    #[command(flatten)]
    pub limits: LimitSettings,

    #[command(flatten)]
    pub server: ServerSettings,

    /// Cheap password hashing, for tests only: never in production.
    #[arg(long, env = "CHIRP_INSECURE_FAST_HASHING", hide = true, global = true)]
    pub insecure_fast_hashing: bool,
}

impl Settings {
    /// The defaults, whatever the environment says: what a test starts from, so that an
    /// exported `REDIS_URL` cannot turn an embedded test into a deployed one.
    pub fn defaults() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let cli = Cli::command().mut_args(|a| a.env(Option::<&'static str>::None));
        let matches = cli.get_matches_from(["chirp"]);
        let parsed = Cli::from_arg_matches(&matches);
        match parsed {
            Ok(cli) => cli.settings,
            // The defaults are constants of this file; a test would show them wrong.
            Err(e) => panic!("the default settings do not parse: {e}"),
        }
    }

    /// Settings for a test: cheap hashing, ports 0, no limit on signups per address (a
    /// test signs up as many users as it needs, all from 127.0.0.1), everything else
    /// default.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        let mut s = Settings::defaults();
        s.data_dir = data_dir;
        s.listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        s.internal_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        s.mastodon_listen = OptionalAddr(Some(SocketAddr::from(([127, 0, 0, 1], 0))));
        s.insecure_fast_hashing = true;
        s.limits.signup_limit_per_address = Limit::OFF;
        s
    }

    pub fn auth_config(&self) -> AuthConfig {
        AuthConfig {
            access_ttl: Duration::from_secs(self.access_token_ttl_secs),
            login_per_account: self.limits.login_limit_per_account,
            login_per_address: self.limits.login_limit_per_address,
            signup_per_address: self.limits.signup_limit_per_address,
            ..AuthConfig::default()
        }
    }

    /// The bounds on every connection this process serves.
    pub fn serve_options(&self) -> ServeOptions {
        self.server
            .serve_options(Duration::from_secs(self.shutdown_timeout_secs))
    }

    /// The public address of `role`.
    pub fn listen_addr(&self, role: Command) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], role.default_port())))
    }

    /// The internal API's address of `role`, when it has one.
    pub fn internal_addr(&self, role: Command) -> Option<SocketAddr> {
        role.has_internal_routes().then(|| {
            self.internal_listen.unwrap_or_else(|| {
                let public = self.listen_addr(role);
                SocketAddr::new(public.ip(), public.port().saturating_add(100))
            })
        })
    }

    pub fn hash_cost(&self) -> HashCost {
        if self.insecure_fast_hashing {
            HashCost::InsecureFast
        } else {
            HashCost::Standard
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_settings_ignore_the_environment() {
        // An exported dependency must not turn a test's embedded defaults into it.
        std::env::set_var("REDIS_URL", "redis://127.0.0.1:1");
        std::env::set_var("CHIRP_WORKER_ID", "7");
        let s = Settings::for_tests(PathBuf::from("/tmp/x"));
        std::env::remove_var("REDIS_URL");
        std::env::remove_var("CHIRP_WORKER_ID");
        assert_eq!(s.redis_url, None);
        assert_eq!(s.worker_id, WorkerId::Fixed(0));
    }

    #[test]
    fn internal_addresses_follow_the_public_one() {
        let mut s = Settings::defaults();
        assert_eq!(s.internal_addr(Command::Write), None);
        assert_eq!(
            s.internal_addr(Command::Read),
            Some("127.0.0.1:8186".parse().unwrap())
        );
        s.listen = Some("0.0.0.0:9000".parse().unwrap());
        assert_eq!(
            s.internal_addr(Command::Graph),
            Some("0.0.0.0:9100".parse().unwrap())
        );
    }
}
