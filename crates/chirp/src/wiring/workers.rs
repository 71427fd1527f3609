//! The background work of a process: its services' outbox relays, its consumer groups,
//! the refresh of AuthService's keys, the worker id lease, and the in-process timeline
//! store's size report. Each stops when told, the relays after a last pass.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chirp_core::consumer::{run_consumer, ConsumerMetrics};
use chirp_core::deployed::postgres::PgDb;
use chirp_core::deployed::worker_lease::WorkerLease;
use chirp_core::events::{EventHandler, EventLog, Topic};
use chirp_core::http::Telemetry;
use chirp_core::outbox::{OutboxRelay, RelayMetrics};
use chirp_core::token::TokenVerifier;
use chirp_timeline::adapters::memory::MemoryTimelines;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::services::Services;
use crate::config::Command;

/// A consumer group the process runs, and its flag, set once it has joined the group.
pub struct Consumer {
    pub service: &'static str,
    pub group: &'static str,
    pub topics: &'static [Topic],
    pub handler: Arc<dyn EventHandler>,
    pub joined: Arc<AtomicBool>,
}

/// The consumer groups of `services`.
pub fn consumers(services: &Services) -> Vec<Consumer> {
    let mut out = Vec::new();
    if let Some(fanout) = &services.fanout {
        out.push(Consumer {
            service: "fanout",
            group: chirp_fanout::GROUP,
            topics: chirp_fanout::TOPICS,
            handler: fanout.clone(),
            joined: Arc::default(),
        });
    }
    // WriteService and UserGraphService take `user.deleted` to forget a deleted
    // account's posts, likes and edges.
    if let Some(write) = &services.write {
        out.push(Consumer {
            service: "write",
            group: chirp_write::service::GROUP,
            topics: chirp_write::service::TOPICS,
            handler: write.clone(),
            joined: Arc::default(),
        });
    }
    if let Some(graph) = &services.graph {
        out.push(Consumer {
            service: "graph",
            group: chirp_graph::service::GROUP,
            topics: chirp_graph::service::TOPICS,
            handler: graph.clone(),
            joined: Arc::default(),
        });
        // The graph's cache in Redis, told of every change again by its events.
        if let Some(cache) = &graph.cache {
            out.push(Consumer {
                service: "graph",
                group: chirp_graph::adapters::redis::GROUP,
                topics: chirp_graph::adapters::redis::TOPICS,
                handler: cache.clone(),
                joined: Arc::default(),
            });
        }
    }
    if let Some(search) = &services.search {
        out.push(Consumer {
            service: "search",
            group: chirp_search::service::GROUP,
            topics: chirp_search::service::TOPICS,
            handler: search.clone(),
            joined: Arc::default(),
        });
    }
    if let Some(notifications) = &services.notifications {
        out.push(Consumer {
            service: "notifications",
            group: chirp_notify::service::GROUP,
            topics: chirp_notify::service::TOPICS,
            handler: notifications.clone(),
            joined: Arc::default(),
        });
    }
    out
}

/// Everything the workers need.
pub struct Workers<'a> {
    pub role: Command,
    pub services: &'a Services,
    pub consumers: &'a [Consumer],
    pub log: Option<&'a Arc<dyn EventLog>>,
    pub postgres: Option<&'a PgDb>,
    pub remote_keys: Option<&'a TokenVerifier>,
    pub telemetry: &'a Telemetry,
}

impl Workers<'_> {
    pub fn spawn(&self, stop: &CancellationToken, tasks: &mut JoinSet<()>) {
        if let Some(log) = self.log {
            for outbox in &self.services.outboxes {
                let relay = OutboxRelay {
                    name: outbox.service.name(),
                    source: outbox.source.clone(),
                    log: log.clone(),
                    wake: outbox.wake.clone(),
                    metrics: RelayMetrics::new(
                        self.telemetry,
                        outbox.service.name(),
                        outbox.service.name(),
                    ),
                };
                tasks.spawn(relay.run(stop.clone()));
            }
            // The live streams read the log from its end, in no group.
            if let Some(n) = &self.services.notifications {
                if let Some(bus) = &self.services.notification_bus {
                    tasks.spawn(bus.clone().run(n.live.clone(), stop.clone()));
                }
                tasks.spawn(chirp_notify::live::run(
                    log.clone(),
                    n.live.clone(),
                    stop.clone(),
                ));
            }
            for c in self.consumers {
                tasks.spawn(run_consumer(
                    log.clone(),
                    Some(ConsumerMetrics {
                        telemetry: self.telemetry.clone(),
                        service: c.service,
                    }),
                    c.group,
                    c.topics,
                    c.handler.clone(),
                    c.joined.clone(),
                    stop.clone(),
                ));
            }
        }
        if let Some(keys) = self.remote_keys {
            tasks.spawn(refresh_keys(keys.clone(), stop.clone()));
        }
        if let (Some(ids), Some(pg)) = (&self.services.leased_ids, self.postgres) {
            let lease = WorkerLease::new(pg.clone(), ids.clone(), self.role.name());
            tasks.spawn(lease.run(stop.clone()));
        }
        if let Some(memory) = self
            .services
            .timeline_store
            .as_ref()
            .and_then(|t| t.memory.clone())
        {
            tasks.spawn(report_footprint(
                memory,
                self.telemetry.clone(),
                stop.clone(),
            ));
        }
    }
}

/// Keeps the keys of a verifier fed from AuthService in step with its JWKS: at once, then
/// every five minutes (every half second until the first answer). A token signed by a key
/// not known yet fetches them sooner (see `TokenVerifier::verify_fetching`).
async fn refresh_keys(verifier: TokenVerifier, stop: CancellationToken) {
    loop {
        if let Err(e) = verifier.fetch_keys().await {
            tracing::warn!(error = format!("{e:#}"), "fetching the token keys failed");
        }
        let wait = if verifier.has_keys() {
            Duration::from_secs(300)
        } else {
            Duration::from_millis(500)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
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
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.cancelled() => return,
        }
    }
}
