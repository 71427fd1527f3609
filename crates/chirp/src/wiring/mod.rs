//! The composition root: a process of one role, built as small steps, each in a module of
//! its own:
//!
//! - [`data_dir`]: the data directory of the embedded stores, and its lock;
//! - [`backends`] and [`ports`]: the stores, opened on first use, and one builder per
//!   port, which picks the deployed adapter its URL names or the embedded default;
//! - [`peers`]: the other services, in process or over HTTP;
//! - [`services`]: the services the role runs;
//! - [`readiness`], [`workers`], [`routes`]: what `/readyz` checks, the background work,
//!   and the routers.

pub mod backends;
pub mod data_dir;
pub mod peers;
pub mod ports;
pub mod readiness;
pub mod routes;
pub mod services;
pub mod workers;

use axum::Router;
use chirp_core::http::extract::TrustForwardedFor;
use chirp_core::http::rate_limits::ApiLimits;
use chirp_core::http::{Readiness, Telemetry};
use chirp_core::timed::DependencyMetrics;
use chirp_core::token::TokenVerifier;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::backends::{Backends, Stores};
use self::peers::Peers;
use self::services::{Builder, Services};
use self::workers::{Consumer, Workers};
use crate::config::{Command, Settings};

/// Everything a process of one role runs, reachable for tests and tools.
pub struct System {
    pub role: Command,
    pub telemetry: Telemetry,
    pub readiness: Readiness,
    /// The stores the process opened.
    pub stores: Stores,
    pub services: Services,
    /// Checks the tokens the role's routes take.
    verifier: Option<TokenVerifier>,
    /// Whether the verifier is fed from AuthService (and refreshed in the background).
    remote_keys: bool,
    consumers: Vec<Consumer>,
    trust_forwarded_for: bool,
    /// The limits on the role's public requests.
    api_limits: Option<ApiLimits>,
    /// What calls to the role's internal API must carry.
    internal_secret: Option<String>,
    data: data_dir::DataDir,
}

impl System {
    pub async fn build(role: Command, settings: &Settings) -> anyhow::Result<Self> {
        let telemetry = Telemetry::new();
        let calls = DependencyMetrics::new(&telemetry, role.name());
        let mut backends = Backends::new(settings, role, calls.clone());
        let mut peers = Peers::new(settings, role, calls);
        let (services, verifier) = Builder::new(&mut backends, &mut peers, &telemetry)
            .build()
            .await?;
        backends.migrate_postgres().await;
        let consumes = services.fanout.is_some()
            || services.search.is_some()
            || services.notifications.is_some();
        if !services.outboxes.is_empty() || consumes {
            backends.event_log().await?;
        }
        let remote_keys = !role.runs(Command::Auth) && verifier.is_some();
        let api_limits = match role.has_public_api() {
            true => Some(ApiLimits {
                limiter: backends.limiter()?,
                requests_per_address: settings.limits.request_limit_per_address,
                writes_per_user: settings.limits.write_limit_per_user,
                writes_per_address: settings.limits.write_limit_per_address,
                verifier: verifier.clone().unwrap_or_default(),
                trust_forwarded_for: TrustForwardedFor(settings.trust_forwarded_for),
            }),
            false => None,
        };
        let consumers = workers::consumers(&services);
        let joined: Vec<_> = consumers.iter().map(|c| c.joined.clone()).collect();
        let readiness = readiness::checks(
            &backends.stores,
            &services,
            verifier.as_ref().filter(|_| remote_keys),
            &joined,
        );
        Ok(System {
            role,
            telemetry,
            readiness,
            stores: backends.stores,
            services,
            verifier,
            remote_keys,
            consumers,
            trust_forwarded_for: settings.trust_forwarded_for,
            api_limits,
            internal_secret: settings.internal_secret.as_ref().map(|s| s.0.clone()),
            data: backends.data,
        })
    }

    /// The public API of the role.
    pub fn routes(&self) -> Router {
        routes::public(
            self.role,
            &self.services,
            self.verifier.as_ref(),
            self.trust_forwarded_for,
            self.api_limits.as_ref(),
            &self.telemetry,
        )
    }

    /// The Mastodon facade over `api` (this process's public API), in `chirp all`.
    pub fn mastodon_routes(&self, api: Router) -> Option<Router> {
        if self.role != Command::All {
            return None;
        }
        routes::mastodon_in_process(
            &self.services,
            api,
            self.trust_forwarded_for,
            self.api_limits.as_ref(),
            &self.telemetry,
        )
    }

    /// The internal API of the role, if it has one.
    pub fn internal_routes(&self) -> Option<Router> {
        let secret = self.internal_secret.as_deref();
        routes::internal(self.role, &self.services, secret, &self.telemetry)
    }

    /// Starts the background workers: outbox relays, consumer groups, key refresh, the
    /// worker id lease, the timeline store's size report.
    pub fn spawn_workers(&self, stop: &CancellationToken, tasks: &mut JoinSet<()>) {
        Workers {
            role: self.role,
            services: &self.services,
            consumers: &self.consumers,
            log: self.stores.log.as_ref(),
            postgres: self.stores.postgres.as_ref(),
            remote_keys: self.verifier.as_ref().filter(|_| self.remote_keys),
            telemetry: &self.telemetry,
        }
        .spawn(stop, tasks);
    }

    /// The paths of the live streams the public listener serves, if any.
    pub fn stream_paths(&self) -> &'static [&'static str] {
        if self.role == Command::Mastodon {
            return chirp_mastodon::STREAM_PATHS;
        }
        match &self.services.notifications {
            Some(_) => chirp_notify::STREAM_PATHS,
            None => &[],
        }
    }

    /// Ends the live streams when `stop` is cancelled (a stream's answer never finishes:
    /// without this, a stop would wait the drain timeout out for each open stream).
    pub fn end_streams_on(&self, stop: CancellationToken) {
        let closing = self.services.mastodon_closing.clone();
        let stopping = stop.clone();
        tokio::spawn(async move {
            stopping.cancelled().await;
            closing.cancel();
        });
        if let Some(n) = &self.services.notifications {
            let live = n.live.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                live.close_all();
            });
        }
    }

    /// Closes the embedded database and lets another process use the data directory.
    pub async fn close(&self) {
        if let Some(db) = &self.stores.sqlite {
            db.close().await;
        }
        self.data.release();
    }

    /// What the timeline store holds for `user` (empty when cold); for tests and tools.
    pub async fn timeline_store_entries(
        &self,
        user: chirp_core::Id,
    ) -> Vec<chirp_core::peers::TimelineEntry> {
        let Some(stores) = &self.services.timeline_store else {
            return Vec::new();
        };
        stores
            .store
            .entries(user)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}
