//! The relay from a service's outbox to the event log. An event leaves the outbox only
//! after the log has accepted it, so a crash anywhere delivers it again instead of losing
//! it; consumers are idempotent, so a second delivery changes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::events::{Event, EventLog, Topic};
use crate::http::metrics::{CounterMetric, FloatGauge, GaugeMetric};
use crate::http::Telemetry;
use crate::id::now_millis;
use crate::traces;

/// An outbox's signals: events published, and what waits (how many, and how old the
/// oldest is), sampled at most once a second.
#[derive(Clone)]
pub struct RelayMetrics {
    telemetry: Telemetry,
    service: &'static str,
    backlog: GaugeMetric,
    oldest_age: FloatGauge,
}

impl RelayMetrics {
    /// The metrics of outbox `name`, which belongs to `service`.
    pub fn new(telemetry: &Telemetry, service: &'static str, name: &'static str) -> Self {
        let labels = [("service", service), ("outbox", name)];
        RelayMetrics {
            telemetry: telemetry.clone(),
            service,
            backlog: telemetry.gauge_with(
                "outbox_backlog",
                "Events in an outbox, waiting to be published",
                &labels,
            ),
            oldest_age: telemetry.float_gauge_with(
                "outbox_oldest_age_seconds",
                "Age of the oldest event waiting in an outbox",
                &labels,
            ),
        }
    }

    fn published(&self, events: &[Event]) {
        let mut by_topic: Vec<(&'static str, u64)> = Vec::new();
        for e in events {
            let t = e.topic().map_or("unknown", Topic::name);
            match by_topic.iter_mut().find(|(n, _)| *n == t) {
                Some((_, c)) => *c += 1,
                None => by_topic.push((t, 1)),
            }
        }
        for (topic, n) in by_topic {
            let c: CounterMetric = self.telemetry.counter_with(
                "events_published",
                "Events published to the event log",
                &[("service", self.service), ("topic", topic)],
            );
            c.inc_by(n);
        }
    }
}

#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub seq: i64,
    pub event: Event,
}

/// The outbox of one service.
#[async_trait]
pub trait OutboxSource: Send + Sync {
    /// The oldest events not yet relayed, in order.
    async fn pending(&self, max: usize) -> anyhow::Result<Vec<PendingEvent>>;
    /// Forgets the events `seqs`, those relayed, and only them: an event whose
    /// transaction took its `seq` before another's yet committed after that one was read
    /// (PostgreSQL's sequences) is still there, relayed with the next batch.
    async fn remove(&self, seqs: &[i64]) -> anyhow::Result<()>;
    /// How many events wait.
    async fn backlog(&self) -> anyhow::Result<u64>;
}

/// Moves events from one outbox to the log. `wake` is notified by writers after each
/// commit, so events move at once; a slow poll catches anything else.
pub struct OutboxRelay {
    pub name: &'static str,
    pub source: Arc<dyn OutboxSource>,
    pub log: Arc<dyn EventLog>,
    pub wake: Arc<Notify>,
    pub metrics: RelayMetrics,
}

impl OutboxRelay {
    /// Relays until `stop`, then once more so that nothing committed before the stop waits
    /// for the next start.
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Backoff::default();
        let mut sampled: Option<Instant> = None;
        loop {
            if sampled.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                self.sample().await;
                sampled = Some(Instant::now());
            }
            match self.relay_once().await {
                Ok(0) => {
                    if stop.is_cancelled() {
                        return;
                    }
                    backoff.reset();
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.cancelled() => {}
                    }
                }
                Ok(_) => backoff.reset(),
                Err(e) => {
                    tracing::warn!(
                        outbox = self.name,
                        error = format!("{e:#}"),
                        "relaying events failed; retrying"
                    );
                    if backoff.wait(&stop).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Relays one batch; returns how many events moved.
    pub async fn relay_once(&self) -> anyhow::Result<usize> {
        let batch = self.source.pending(512).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let seqs: Vec<i64> = batch.iter().map(|p| p.seq).collect();
        let mut events: Vec<Event> = batch.into_iter().map(|p| p.event).collect();
        // Each traced event is published in a span of its request's trace, and carries
        // that span's context on to its consumers. The spans end when the log has them.
        let _publishing: Vec<tracing::Span> = events
            .iter_mut()
            .filter(|e| e.trace.is_some())
            .map(|e| {
                let span = traces::publish_span(e);
                if let Some(tp) = traces::traceparent(&span) {
                    e.trace = Some(tp);
                }
                span
            })
            .collect();
        self.log.append(&events).await?;
        self.source.remove(&seqs).await?;
        self.metrics.published(&events);
        Ok(events.len())
    }

    /// Samples the backlog and the age of its oldest event into the metrics.
    async fn sample(&self) {
        let m = &self.metrics;
        if let Ok(n) = self.source.backlog().await {
            m.backlog.set(n as i64);
        }
        if let Ok(oldest) = self.source.pending(1).await {
            let age_ms = oldest
                .first()
                .map(|p| now_millis().saturating_sub(p.event.id.unix_millis()))
                .unwrap_or(0);
            m.oldest_age.set(age_ms as f64 / 1000.0);
        }
    }
}
