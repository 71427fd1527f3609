//! Each service a role runs, built on the ports [`Backends`] picks and the [`Peers`] it
//! calls, in the order their dependencies ask: the graph, the timelines and the reads
//! first, since the others call them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chirp_auth::keys::{SigningKeys, KEY_FILE};
use chirp_auth::passwords::PasswordHashing;
use chirp_auth::ports::IdentityStore;
use chirp_auth::service::LoginMetrics;
use chirp_auth::AuthService;
use chirp_core::http::Telemetry;
use chirp_core::outbox::OutboxSource;
use chirp_core::peers::Directory;
use chirp_core::token::TokenVerifier;
use chirp_core::IdGenerator;
use chirp_fanout::{FanoutMetrics, FanoutService};
use chirp_graph::GraphService;
use chirp_notify::bus::RedisBus;
use chirp_notify::live::{Live, LiveMetrics, StreamSettings};
use chirp_notify::service::NotificationMetrics;
use chirp_notify::NotificationService;
use chirp_read::ReadService;
use chirp_search::service::SearchMetrics;
use chirp_search::SearchService;
use chirp_timeline::service::TimelineMetrics;
use chirp_timeline::{TimelineConfig, TimelineService};
use chirp_write::WriteService;
use tokio::sync::Notify;

use super::backends::Backends;
use super::peers::Peers;
use super::ports::TimelineStores;
use crate::config::{Command, Settings, WorkerId};

/// The services of a process; `None` for those its role does not run.
#[derive(Default)]
pub struct Services {
    pub auth: Option<Arc<AuthService>>,
    pub write: Option<Arc<WriteService>>,
    pub graph: Option<Arc<GraphService>>,
    pub timelines: Option<Arc<TimelineService>>,
    pub read: Option<Arc<ReadService>>,
    pub fanout: Option<Arc<FanoutService>>,
    pub search: Option<Arc<SearchService>>,
    pub notifications: Option<Arc<NotificationService>>,
    /// NotificationService's Redis bus, whose subscriber runs among the workers.
    pub notification_bus: Option<Arc<RedisBus>>,
    /// TimelineService's store, to look inside (tests, tools) and report on.
    pub timeline_store: Option<TimelineStores>,
    /// MongoDB's identity store, when AuthService runs on it (checked by `/readyz`).
    pub identities: Option<Arc<dyn IdentityStore>>,
    /// The outboxes of the services that write, each relayed by this process.
    pub outboxes: Vec<Outbox>,
    /// The ids minted here, when the worker id is leased.
    pub leased_ids: Option<Arc<IdGenerator>>,
    /// The web client's way to AuthService's public API, in a `chirp web` process (in
    /// `chirp all`, the routes call AuthService's routes in process).
    pub web_auth: Option<Arc<dyn chirp_web::AuthApi>>,
    /// The Mastodon facade's ways to the public API and AuthService's OAuth, in a `chirp
    /// mastodon` process (in `chirp all`, both are in process).
    pub mastodon: Option<MastodonPeers>,
    /// Cancelled at a stop: the Mastodon API's streams and WebSockets end.
    pub mastodon_closing: tokio_util::sync::CancellationToken,
}

/// What the Mastodon facade calls over HTTP.
pub struct MastodonPeers {
    pub api: Arc<dyn chirp_mastodon::ports::ChirpApi>,
    pub oauth: Arc<dyn chirp_mastodon::ports::OAuthApi>,
}

/// A service's outbox, and the signal its writers give after each commit.
pub struct Outbox {
    pub service: Command,
    pub source: Arc<dyn OutboxSource>,
    pub wake: Arc<Notify>,
}

/// What builds the services: the stores and peers, and what every service shares.
pub struct Builder<'b, 's> {
    pub backends: &'b mut Backends<'s>,
    pub peers: &'b mut Peers<'s>,
    pub telemetry: &'b Telemetry,
    pub settings: &'s Settings,
    pub role: Command,
    ids: Option<Arc<IdGenerator>>,
}

impl<'b, 's> Builder<'b, 's> {
    pub fn new(
        backends: &'b mut Backends<'s>,
        peers: &'b mut Peers<'s>,
        telemetry: &'b Telemetry,
    ) -> Self {
        let (settings, role) = (backends.settings, backends.role);
        Builder {
            backends,
            peers,
            telemetry,
            settings,
            role,
            ids: None,
        }
    }

    /// Every service of the role, and the verifier of the tokens its routes take.
    pub async fn build(mut self) -> anyhow::Result<(Services, Option<TokenVerifier>)> {
        let mut s = Services::default();
        if self.role.runs(Command::Graph) {
            let graph = self.graph(&mut s).await?;
            self.peers.graph = Some(graph.clone());
            s.graph = Some(graph);
        }
        if self.role.runs(Command::Timeline) {
            let timelines = self.timelines(&mut s).await?;
            self.peers.timelines = Some(timelines.clone());
            s.timelines = Some(timelines);
        }
        if self.role.runs(Command::Read) {
            let read = self.read().await?;
            let directory: Arc<dyn Directory> = read.clone();
            self.peers.late_directory.bind(&directory);
            self.peers.directory = Some(directory);
            s.read = Some(read);
        }
        // AuthService signs tokens with its keys; the others verify them.
        let mut verifier = None;
        if self.role.runs(Command::Auth) {
            let auth = self.auth(&mut s).await?;
            verifier = Some(auth.verifier.clone());
            s.auth = Some(auth);
        } else if matches!(
            self.role,
            Command::Write
                | Command::Graph
                | Command::Read
                | Command::Search
                | Command::Notifications
        ) {
            let revocations = self.backends.revocations()?;
            verifier = Some(self.peers.remote_verifier()?.revoking(revocations));
        }
        if self.role.runs(Command::Write) {
            s.write = Some(self.write(&mut s).await?);
        }
        if self.role.runs(Command::Fanout) {
            s.fanout = Some(Arc::new(FanoutService {
                graph: self.peers.graph()?,
                timelines: self.peers.timelines()?,
                celebrity_threshold: self.settings.celebrity_threshold,
                metrics: FanoutMetrics::new(self.telemetry),
            }));
        }
        if self.role.runs(Command::Search) {
            s.search = Some(Arc::new(SearchService {
                index: self.backends.search_index()?,
                directory: self.peers.directory()?,
                metrics: SearchMetrics::new(self.telemetry),
            }));
        }
        if self.role.runs(Command::Notifications) {
            let (directory, graph) = (self.peers.directory()?, self.peers.graph()?);
            let live = Live::new(
                directory.clone(),
                graph.clone(),
                LiveMetrics::new(self.telemetry),
                StreamSettings {
                    keep_alive: Duration::from_secs(self.settings.stream_keep_alive_secs),
                    buffer: self.settings.stream_buffer as usize,
                },
            );
            let bus = self.backends.notification_bus(&live)?;
            s.notification_bus = bus.redis;
            s.notifications = Some(Arc::new(NotificationService {
                store: self.backends.notification_store().await?,
                live,
                bus: bus.bus,
                directory,
                graph,
                metrics: NotificationMetrics::new(self.telemetry),
                ids: self.ids()?,
            }));
        }
        if self.role == Command::Web {
            s.web_auth = Some(self.peers.auth_api()?);
        }
        if self.role == Command::Mastodon {
            s.mastodon = Some(self.peers.mastodon()?);
        }
        if self.settings.worker_id == WorkerId::Auto {
            s.leased_ids = self.ids.clone();
        }
        Ok((s, verifier))
    }

    /// The ids this process mints: of the worker id given, or of one leased.
    fn ids(&mut self) -> anyhow::Result<Arc<IdGenerator>> {
        if let Some(ids) = &self.ids {
            return Ok(ids.clone());
        }
        let ids = Arc::new(match self.settings.worker_id {
            WorkerId::Fixed(n) => IdGenerator::new(n).map_err(anyhow::Error::msg)?,
            WorkerId::Auto => {
                let url = self.settings.database_url.as_deref().context(
                    "--worker-id auto leases worker ids from PostgreSQL: set DATABASE_URL",
                )?;
                self.backends
                    .postgres(url, &[&chirp_core::deployed::worker_lease::SCHEMA])?;
                IdGenerator::leased()
            }
        });
        self.ids = Some(ids.clone());
        Ok(ids)
    }

    async fn outbox(&mut self, s: &mut Services, service: Command) -> anyhow::Result<Arc<Notify>> {
        let wake = Arc::new(Notify::new());
        s.outboxes.push(Outbox {
            service,
            source: self.backends.outbox(service).await?,
            wake: wake.clone(),
        });
        Ok(wake)
    }

    async fn graph(&mut self, s: &mut Services) -> anyhow::Result<Arc<GraphService>> {
        let (store, cache) = self.backends.follow_store().await?;
        Ok(Arc::new(GraphService {
            store,
            cache,
            directory: self.peers.directory()?,
            ids: self.ids()?,
            outbox_wake: self.outbox(s, Command::Graph).await?,
        }))
    }

    async fn timelines(&mut self, s: &mut Services) -> anyhow::Result<Arc<TimelineService>> {
        let stores = self.backends.timeline_store()?;
        let service = TimelineService {
            config: TimelineConfig {
                cap: self.settings.timeline_cap,
                celebrity_threshold: self.settings.celebrity_threshold,
                ..TimelineConfig::default()
            },
            store: stores.store.clone(),
            posts: self.backends.posts_source().await?,
            graph: self.peers.graph()?,
            metrics: TimelineMetrics::new(self.telemetry),
        };
        s.timeline_store = Some(stores);
        Ok(Arc::new(service))
    }

    async fn read(&mut self) -> anyhow::Result<Arc<ReadService>> {
        Ok(Arc::new(ReadService {
            store: self.backends.read_store().await?,
            graph: self.peers.graph()?,
            timelines: self.peers.timelines()?,
            celebrity_threshold: self.settings.celebrity_threshold,
        }))
    }

    async fn auth(&mut self, s: &mut Services) -> anyhow::Result<Arc<AuthService>> {
        let keys = match &self.settings.signing_keys {
            Some(file) => SigningKeys::from_file(file)?,
            None => {
                // Locks the data directory before the key file is read or made.
                self.backends.data.file(KEY_FILE)?;
                SigningKeys::load_or_create(&self.settings.data_dir)?
            }
        };
        let identities = self.backends.identity_store().await?;
        if self.settings.mongodb_url.is_some() {
            s.identities = Some(identities.clone());
        }
        Ok(Arc::new(AuthService {
            logins: LoginMetrics::new(self.telemetry),
            config: self.settings.auth_config(),
            identities,
            profiles: self.backends.profile_store().await?,
            sessions: self.backends.session_store().await?,
            limiter: self.backends.limiter()?,
            directory: self.peers.directory()?,
            passwords: PasswordHashing::new(self.settings.hash_cost())?,
            verifier: TokenVerifier::with_keys(keys.verifying())
                .revoking(self.backends.revocations()?),
            keys,
            ids: self.ids()?,
            outbox_wake: self.outbox(s, Command::Auth).await?,
            oauth: Some(self.backends.oauth_store().await?),
        }))
    }

    async fn write(&mut self, s: &mut Services) -> anyhow::Result<Arc<WriteService>> {
        Ok(Arc::new(WriteService {
            store: self.backends.post_store().await?,
            graph: self.peers.graph()?,
            ids: self.ids()?,
            outbox_wake: self.outbox(s, Command::Write).await?,
        }))
    }
}
