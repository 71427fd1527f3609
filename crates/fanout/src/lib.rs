//! FanoutService: consumes `chirp.posts` and `chirp.graph` and applies them to home
//! timelines. A post goes to its author's and each follower's timeline, unless the author
//! is above the hybrid-fanout threshold (then ReadService merges it in at read time); a
//! follow backfills, an unfollow purges, a delete retracts. Every step is idempotent, so a
//! redelivered batch changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::events::{Event, EventBody, EventHandler, Topic};
use chirp_core::http::metrics::Buckets;
use chirp_core::http::Telemetry;
use chirp_core::id::now_millis;
use chirp_core::page::PageRequest;
use chirp_core::peers::{SocialGraph, TimelineEntry, Timelines};
use chirp_core::traces;
use chirp_core::{ApiResult, Id};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tracing::Instrument;

/// The consumer group of the timeline fanout.
pub const GROUP: &str = "chirp-fanout";
pub const TOPICS: &[Topic] = &[Topic::Posts, Topic::Graph];

/// Followers read from the graph per batch.
const FOLLOWER_BATCH: usize = 1000;

#[derive(Clone)]
pub struct FanoutMetrics {
    /// Post ids put into a timeline.
    pub deliveries: Counter,
    /// From a post's creation to its delivery to the last follower.
    pub lag: Histogram,
}

impl FanoutMetrics {
    pub fn new(telemetry: &Telemetry) -> Self {
        let service = [("service", "fanout")];
        FanoutMetrics {
            deliveries: telemetry.counter_with(
                "fanout_deliveries",
                "Home timelines a post id was delivered to",
                &service,
            ),
            lag: telemetry.histogram_with(
                "fanout_lag_seconds",
                "Time from a post's creation to its delivery to every follower's timeline",
                Buckets::Lag,
                &service,
            ),
        }
    }
}

pub struct FanoutService {
    pub graph: Arc<dyn SocialGraph>,
    pub timelines: Arc<dyn Timelines>,
    pub celebrity_threshold: u64,
    pub metrics: FanoutMetrics,
}

impl FanoutService {
    async fn is_celebrity(&self, author: Id) -> ApiResult<bool> {
        let counts = self.graph.counts(&[author]).await?;
        Ok(counts
            .get(&author)
            .is_some_and(|c| c.followers > self.celebrity_threshold))
    }

    /// Calls `each` with the author and then every follower, a batch at a time.
    async fn for_audience<F, Fut>(&self, author: Id, mut each: F) -> ApiResult<()>
    where
        F: FnMut(Vec<Id>) -> Fut,
        Fut: std::future::Future<Output = ApiResult<usize>>,
    {
        each(vec![author]).await?;
        let mut req = PageRequest::first(FOLLOWER_BATCH);
        loop {
            let page = self.graph.followers(author, req).await?;
            if !page.users.is_empty() {
                each(page.users).await?;
            }
            match page.keys.last() {
                Some(last) if page.more => req.before = Some(*last),
                _ => return Ok(()),
            }
        }
    }

    async fn apply(&self, event: &Event) -> ApiResult<()> {
        match &event.body {
            EventBody::PostCreated {
                post_id,
                author_id,
                created_at_ms,
                ..
            } => {
                if self.is_celebrity(*author_id).await? {
                    return Ok(());
                }
                let entry = TimelineEntry {
                    post: *post_id,
                    author: *author_id,
                };
                self.for_audience(*author_id, |users| async move {
                    self.timelines.deliver(&users, entry).await?;
                    self.metrics.deliveries.inc_by(users.len() as u64);
                    Ok(users.len())
                })
                .await?;
                let lag_ms = (now_millis() as i64 - created_at_ms).max(0);
                self.metrics.lag.observe(lag_ms as f64 / 1000.0);
            }
            EventBody::PostDeleted { post_id, author_id } => {
                if self.is_celebrity(*author_id).await? {
                    // Never fanned out (or fanned out long ago): reads drop deleted posts.
                    return self.timelines.retract(&[*author_id], *post_id).await;
                }
                self.for_audience(*author_id, |users| async move {
                    self.timelines.retract(&users, *post_id).await?;
                    Ok(users.len())
                })
                .await?;
            }
            EventBody::FollowCreated { follower, followee } => {
                if !self.is_celebrity(*followee).await? {
                    self.timelines.backfill(*follower, *followee).await?;
                }
            }
            EventBody::FollowDeleted { follower, followee } => {
                self.timelines.purge(*follower, *followee).await?;
            }
            EventBody::PostEdited { .. } | EventBody::UserCreated { .. } => {}
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for FanoutService {
    async fn handle(&self, events: &[Event]) -> anyhow::Result<()> {
        for e in events {
            self.apply(e)
                .instrument(traces::consume_span(GROUP, e))
                .await
                .map_err(|err| anyhow::anyhow!("fanout of event {} failed: {err:#}", e.id))?;
        }
        Ok(())
    }
}
