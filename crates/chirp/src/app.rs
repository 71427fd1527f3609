//! Start-up and shutdown: [`Application::build`] wires the role's services and binds its
//! listeners (the public API, and for the services peers call, the internal API on a
//! listener of its own); [`Application::run_until_stopped`] serves until told to stop,
//! lets in-flight requests finish, then stops the background workers and closes the
//! stores, each step within what is left of the shutdown deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use chirp_core::http::layers::{finish_as, ErrorShape};
use chirp_core::http::serve::{serve, ServeOptions};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Command, Settings};
use crate::wiring::System;

pub struct Application {
    pub role: Command,
    listener: TcpListener,
    router: Router,
    /// The internal API's listener and routes, for a role that has one.
    internal: Option<(TcpListener, Router)>,
    /// The Mastodon API's listener and routes, in `chirp all`.
    mastodon: Option<(TcpListener, Router)>,
    system: Arc<System>,
    /// How long a graceful stop may take in all.
    shutdown_timeout: Duration,
    /// The bounds on connections, and on the drain that starts a stop.
    serve_options: ServeOptions,
}

impl Application {
    pub async fn build(role: Command, settings: &Settings) -> anyhow::Result<Self> {
        let system = Arc::new(System::build(role, settings).await?);
        let ops_as = |routes: Router, shape: ErrorShape| {
            finish_as(
                routes,
                system.readiness.clone(),
                system.telemetry.clone(),
                settings.body_limit,
                shape,
            )
        };
        let ops = |routes: Router| ops_as(routes, ErrorShape::Problem);
        // The Mastodon API's errors are Mastodon's, on its own listener and in its role.
        let public_shape = match role {
            Command::Mastodon => ErrorShape::Mastodon,
            _ => ErrorShape::Problem,
        };
        let api = system.routes();
        let mastodon = match (
            settings.mastodon_listen.0,
            system.mastodon_routes(api.clone()),
        ) {
            (Some(addr), Some(routes)) => {
                let listener = bind(addr).await.context(
                    "the Mastodon API's listener: move it with --mastodon-listen ADDR, \
                     or turn it off with --mastodon-listen off",
                )?;
                Some((listener, ops_as(routes, ErrorShape::Mastodon)))
            }
            _ => None,
        };
        let router = ops_as(api, public_shape);
        let addr = settings.listen_addr(role);
        let listener = bind(addr).await?;
        let internal = match (system.internal_routes(), settings.internal_addr(role)) {
            (Some(routes), Some(addr)) => Some((bind(addr).await?, ops(routes))),
            _ => None,
        };
        Ok(Application {
            role,
            listener,
            router,
            internal,
            mastodon,
            system,
            shutdown_timeout: Duration::from_secs(settings.shutdown_timeout_secs),
            serve_options: settings.serve_options(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The internal API's address, for a role that has one.
    pub fn internal_addr(&self) -> Option<SocketAddr> {
        self.internal
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
    }

    /// The Mastodon API's address, in `chirp all`.
    pub fn mastodon_addr(&self) -> Option<SocketAddr> {
        self.mastodon
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
    }

    pub fn system(&self) -> Arc<System> {
        self.system.clone()
    }

    /// Serves until `stop`, then stops within the shutdown deadline: requests in flight
    /// finish (within the drain timeout, after which their connections are closed), the
    /// background workers stop (relays make a last pass, consumers commit what they
    /// finished), the stores close. What has not finished by the deadline is left (and
    /// the binary exits; see `main`).
    pub async fn run_until_stopped(self, stop: CancellationToken) -> anyhow::Result<()> {
        let workers_stop = CancellationToken::new();
        let mut workers = JoinSet::new();
        self.system.spawn_workers(&workers_stop, &mut workers);
        self.system.end_streams_on(stop.clone());
        let options = self.serve_options;
        let internal = self
            .internal
            .map(|(listener, router)| tokio::spawn(serve(listener, router, stop.clone(), options)));
        let mastodon_options = ServeOptions {
            stream_paths: chirp_mastodon::STREAM_PATHS,
            ..options
        };
        let mastodon = self.mastodon.map(|(listener, router)| {
            tokio::spawn(serve(listener, router, stop.clone(), mastodon_options))
        });
        let public = ServeOptions {
            stream_paths: self.system.stream_paths(),
            ..options
        };
        let served = serve(self.listener, self.router, stop.clone(), public).await;
        let drain = options.drain_timeout;
        let stopping = Instant::now();
        let left = || (self.shutdown_timeout - drain).saturating_sub(stopping.elapsed());
        if let Some(internal) = internal {
            if tokio::time::timeout(left(), internal).await.is_err() {
                tracing::warn!("the internal API did not finish its requests in time");
            }
        }
        if let Some(mastodon) = mastodon {
            if tokio::time::timeout(left(), mastodon).await.is_err() {
                tracing::warn!("the Mastodon API did not finish its requests in time");
            }
        }
        workers_stop.cancel();
        let drained = tokio::time::timeout(left(), async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("background workers did not stop in time; leaving them");
            workers.abort_all();
        }
        if tokio::time::timeout(left(), self.system.close())
            .await
            .is_err()
        {
            tracing::warn!("the stores did not close in time");
        }
        served.context("serving HTTP")
    }
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}
