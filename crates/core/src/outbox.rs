//! The relay from a service's outbox to the event log. An event leaves the outbox only
//! after the log has accepted it, so a crash anywhere delivers it again instead of losing
//! it; consumers are idempotent, so a second delivery changes nothing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::events::{Backoff, Event, EventLog};

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
    /// Forgets every event up to and including `seq`.
    async fn remove_through(&self, seq: i64) -> anyhow::Result<()>;
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
}

impl OutboxRelay {
    /// Relays until `stop`, then once more so that nothing committed before the stop waits
    /// for the next start.
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Backoff::default();
        loop {
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
        let Some(last) = batch.last().map(|p| p.seq) else {
            return Ok(0);
        };
        let events: Vec<Event> = batch.into_iter().map(|p| p.event).collect();
        self.log.append(&events).await?;
        self.source.remove_through(last).await?;
        Ok(events.len())
    }
}
