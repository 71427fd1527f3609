//! How the processes of NotificationService tell one another of the notifications they
//! store. The process whose consumer group stored a notification is not, in general, the
//! one that holds its recipient's stream (the gateway spreads streams over the
//! processes; the log's partitions spread events over them), so a notification stored
//! goes on a bus that every process reads, and each sends it to the streams it holds.
//!
//! One process (`chirp all` on the embedded defaults) is its own bus. Deployed, the bus is
//! a Redis pub/sub channel. Pub/sub keeps nothing: what is published while a process is
//! not subscribed never reaches it. So a process takes notification streams only while
//! it is subscribed, and when its subscription breaks it closes the notification streams
//! it holds: their clients reconnect, get 503 until it is subscribed again, and then
//! replay what they missed from the store (`Last-Event-ID`), which nothing bypasses.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chirp_core::backoff::Backoff;
use chirp_core::deployed::redis::Redis;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::domain::NewNotification;
use crate::live::Live;

/// How often every process publishes an empty message on the bus, so that a subscription
/// that has died unseen is noticed.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// Where the processes of the service hear of the notifications stored.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Tells every process (this one too) of notifications just stored.
    async fn publish(&self, stored: Vec<NewNotification>) -> anyhow::Result<()>;
}

/// One process: what it stores goes to its own streams.
pub struct Local(pub Arc<Live>);

#[async_trait]
impl Bus for Local {
    async fn publish(&self, stored: Vec<NewNotification>) -> anyhow::Result<()> {
        self.0.notifications(stored).await;
        Ok(())
    }
}

/// Redis pub/sub: one channel, which every process subscribes to ([`RedisBus::run`]).
pub struct RedisBus {
    pub redis: Redis,
    pub channel: String,
}

impl RedisBus {
    pub fn new(redis: Redis) -> RedisBus {
        RedisBus {
            channel: redis.channel("notifications:stored"),
            redis,
        }
    }

    /// Subscribes, and hands what arrives to `live`, until `stop`; subscribes again (with
    /// backoff) whenever the subscription breaks, closing the notification streams in
    /// between (see the module's notes). `live` takes notification streams only while
    /// subscribed. A subscription that hears nothing, not even the heartbeat every
    /// process publishes every [`HEARTBEAT`], for three of them is taken as broken (a
    /// connection can die without closing).
    pub async fn run(self: Arc<Self>, live: Arc<Live>, stop: CancellationToken) {
        let beat = {
            let (bus, stop) = (self.clone(), stop.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(HEARTBEAT);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = every.tick() => {}
                    }
                    if let Err(e) = bus.redis.publish(&bus.channel, b"[]").await {
                        tracing::debug!(error = %e, "the notification bus's heartbeat was not published");
                    }
                }
            })
        };
        let mut backoff = Backoff::default();
        while !stop.is_cancelled() {
            let mut messages = match self.redis.subscribe(&self.channel).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "the notification bus is not subscribed");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(backoff.next_wait()) => continue,
                    }
                }
            };
            live.set_notifications_live(true);
            loop {
                let payload = tokio::select! {
                    _ = stop.cancelled() => break,
                    m = tokio::time::timeout(HEARTBEAT * 3, messages.next()) => m,
                };
                let Ok(Some(payload)) = payload else {
                    break;
                };
                // Only a subscription that carries something resets the wait between
                // attempts: one that breaks at once is retried with backoff.
                backoff.reset();
                match serde_json::from_slice::<Vec<NewNotification>>(&payload) {
                    Ok(stored) => live.notifications(stored).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "a message on the notification bus was not understood")
                    }
                }
            }
            live.set_notifications_live(false);
            if !stop.is_cancelled() {
                tracing::warn!("the notification bus's subscription broke: notification streams closed until it is back");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff.next_wait()) => {}
                }
            }
        }
        beat.abort();
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, stored: Vec<NewNotification>) -> anyhow::Result<()> {
        if stored.is_empty() {
            return Ok(());
        }
        let payload = serde_json::to_vec(&stored)?;
        self.redis.publish(&self.channel, &payload).await?;
        Ok(())
    }
}
