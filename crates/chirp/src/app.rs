//! Start-up and shutdown: [`Application::build`] binds the port and wires the services;
//! [`Application::run_until_stopped`] serves until told to stop, lets in-flight requests
//! finish, then stops the background workers and closes the stores.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use chirp_core::http::{finish, serve::serve};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Command, Settings};
use crate::system::System;

pub struct Application {
    pub role: Command,
    listener: TcpListener,
    router: Router,
    system: Arc<System>,
}

impl Application {
    pub async fn build(role: Command, settings: &Settings) -> anyhow::Result<Self> {
        let addr = settings
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], role.default_port())));
        let system = Arc::new(System::build(role, settings).await?);
        let router = finish(
            system.routes(role),
            system.readiness.clone(),
            system.telemetry.clone(),
            settings.body_limit,
        );
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        Ok(Application {
            role,
            listener,
            router,
            system,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn system(&self) -> Arc<System> {
        self.system.clone()
    }

    pub async fn run_until_stopped(self, stop: CancellationToken) -> anyhow::Result<()> {
        let workers_stop = CancellationToken::new();
        let mut workers = JoinSet::new();
        self.system
            .spawn_workers(self.role, &workers_stop, &mut workers);
        let served = serve(self.listener, self.router, stop).await;
        // The HTTP side is drained: stop the workers (relays make a last pass, consumers
        // commit what they finished) and wait for them, within reason.
        workers_stop.cancel();
        let drained = tokio::time::timeout(Duration::from_secs(15), async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("background workers did not stop in time");
        }
        self.system.db.close().await;
        self.system.release_data_dir();
        served.context("serving HTTP")
    }
}
