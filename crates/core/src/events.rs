//! The events that flow from the write side to the consumers, and the ports they flow
//! through: an [`EventLog`] (Kafka deployed, an SQLite log embedded) that producers append
//! to and consumer groups read from, committing their position only after the work is done.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::id::Id;

/// The log's topics; each entity's events share a key and so keep their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Posts,
    Graph,
    Users,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Posts, Topic::Graph, Topic::Users];

    pub fn name(self) -> &'static str {
        match self {
            Topic::Posts => "chirp.posts",
            Topic::Graph => "chirp.graph",
            Topic::Users => "chirp.users",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventBody {
    #[serde(rename = "post.created")]
    PostCreated {
        post_id: Id,
        author_id: Id,
        text: String,
        reply_to: Option<Id>,
        created_at_ms: i64,
    },
    #[serde(rename = "post.edited")]
    PostEdited {
        post_id: Id,
        author_id: Id,
        text: String,
        edited_at_ms: i64,
    },
    #[serde(rename = "post.deleted")]
    PostDeleted { post_id: Id, author_id: Id },
    #[serde(rename = "follow.created")]
    FollowCreated { follower: Id, followee: Id },
    #[serde(rename = "follow.deleted")]
    FollowDeleted { follower: Id, followee: Id },
    #[serde(rename = "user.created")]
    UserCreated {
        user_id: Id,
        handle: String,
        display_name: String,
        created_at_ms: i64,
    },
}

/// An event: a unique id, the version of the entity it leaves behind, what happened, and
/// the trace of the request that made it (a W3C `traceparent`, when traces are on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: Id,
    pub version: u64,
    pub occurred_at_ms: i64,
    #[serde(flatten)]
    pub body: EventBody,
    #[serde(
        rename = "traceparent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub trace: Option<String>,
}

impl Event {
    pub fn topic(&self) -> Topic {
        match self.body {
            EventBody::PostCreated { .. }
            | EventBody::PostEdited { .. }
            | EventBody::PostDeleted { .. } => Topic::Posts,
            EventBody::FollowCreated { .. } | EventBody::FollowDeleted { .. } => Topic::Graph,
            EventBody::UserCreated { .. } => Topic::Users,
        }
    }

    /// The partition key: the author for posts (one author's posts stay in order), the
    /// pair for follows, the user for users.
    pub fn key(&self) -> String {
        match &self.body {
            EventBody::PostCreated { author_id, .. }
            | EventBody::PostEdited { author_id, .. }
            | EventBody::PostDeleted { author_id, .. } => author_id.to_string(),
            EventBody::FollowCreated { follower, followee }
            | EventBody::FollowDeleted { follower, followee } => format!("{follower}:{followee}"),
            EventBody::UserCreated { user_id, .. } => user_id.to_string(),
        }
    }

    /// The event as the logs and outboxes keep it. An error, never an empty string: an
    /// empty payload in an outbox would stop its relay for good.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// A durable, ordered log of events with consumer groups.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends events; once this returns, they survive a crash.
    async fn append(&self, events: &[Event]) -> anyhow::Result<()>;
    /// A consumer in `group`, reading `topics` from the group's committed position.
    async fn consumer(
        &self,
        group: &str,
        topics: &[Topic],
    ) -> anyhow::Result<Box<dyn EventConsumer>>;
    /// Answers when the log can be reached.
    async fn ping(&self) -> anyhow::Result<()>;
}

/// One member of a consumer group.
#[async_trait]
pub trait EventConsumer: Send {
    /// Up to `max` events after the last batch, waiting up to `wait` for the first.
    async fn next_batch(&mut self, max: usize, wait: Duration) -> anyhow::Result<Vec<Event>>;
    /// Records that every event returned so far has been handled.
    async fn commit(&mut self) -> anyhow::Result<()>;
    /// Whether this member has joined its group and been given something to read.
    fn joined(&self) -> bool {
        true
    }
    /// How far the group's committed position is behind the log, per topic and
    /// partition this member reads: `(topic, partition, events behind)`.
    async fn lag(&mut self) -> anyhow::Result<Vec<(String, i32, i64)>> {
        Ok(Vec::new())
    }
}

/// What a consumer group does with a batch. It must be idempotent: after a crash the
/// batch since the last commit is delivered again.
#[async_trait]
pub trait EventHandler: Send + Sync {
    async fn handle(&self, events: &[Event]) -> anyhow::Result<()>;

    /// How this handler wants its events batched.
    fn batching(&self) -> Batching {
        Batching::default()
    }
}

/// Batches of up to `max` events, at most one every `every`: a handler whose each batch
/// has a fixed cost (a search index's commit) takes fewer, larger batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    pub max: usize,
    pub every: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            max: 512,
            every: Duration::ZERO,
        }
    }
}

/// What a consumer group of a service reports: the events it has handled, by topic.
#[derive(Clone)]
pub struct ConsumerMetrics {
    pub telemetry: crate::http::Telemetry,
    pub service: &'static str,
}

/// The labels of a consumer lag series.
fn lag_labels<'a>(
    service: &'a str,
    group: &'a str,
    topic: &'a str,
    partition: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("service", service),
        ("group", group),
        ("topic", topic),
        ("partition", partition),
    ]
}

/// How often a consumer reports its lag.
const LAG_EVERY: Duration = Duration::from_secs(5);

impl ConsumerMetrics {
    /// Sets the lag of each partition the consumer reads, and drops the series of those it
    /// reported before and reads no longer (given to another member by a rebalance, whose
    /// own series then says how far behind it is): `reported` holds what was reported.
    async fn report_lag(
        &self,
        group: &'static str,
        consumer: &mut dyn EventConsumer,
        reported: &mut HashSet<(String, i32)>,
    ) {
        const NAME: &str = "consumer_lag";
        const HELP: &str = "Events in the log that a consumer group has not yet handled";
        let lags = match consumer.lag().await {
            Ok(lags) => lags,
            Err(e) => {
                tracing::debug!(group, error = format!("{e:#}"), "no consumer lag");
                return;
            }
        };
        let mut now = HashSet::with_capacity(lags.len());
        for (topic, partition, behind) in lags {
            let p = partition.to_string();
            self.telemetry
                .gauge_with(NAME, HELP, &lag_labels(self.service, group, &topic, &p))
                .set(behind);
            now.insert((topic, partition));
        }
        for (topic, partition) in reported.difference(&now) {
            let p = partition.to_string();
            self.telemetry
                .remove_gauge(NAME, &lag_labels(self.service, group, topic, &p));
        }
        *reported = now;
    }

    fn consumed(&self, group: &'static str, events: &[Event]) {
        for topic in Topic::ALL {
            let n = events.iter().filter(|e| e.topic() == topic).count() as u64;
            if n > 0 {
                self.telemetry
                    .counter_with(
                        "events_consumed",
                        "Events handled by a consumer group",
                        &[
                            ("service", self.service),
                            ("group", group),
                            ("topic", topic.name()),
                        ],
                    )
                    .inc_by(n);
            }
        }
    }
}

/// Runs a consumer until `stop`: each batch is handled (retried with backoff until it
/// succeeds) and only then committed.
#[allow(clippy::too_many_arguments)]
pub async fn run_consumer(
    log: Arc<dyn EventLog>,
    metrics: Option<ConsumerMetrics>,
    group: &'static str,
    topics: &'static [Topic],
    handler: Arc<dyn EventHandler>,
    joined: Arc<std::sync::atomic::AtomicBool>,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::default();
    let mut consumer = loop {
        match log.consumer(group, topics).await {
            Ok(c) => break c,
            Err(e) => {
                let waited = backoff.after_failure(&stop, group, "consumer cannot start yet", &e);
                if waited.await.is_err() {
                    return;
                }
            }
        }
    };
    backoff.reset();
    if consumer.joined() {
        joined.store(true, std::sync::atomic::Ordering::Release);
    }
    let mut lag_reported: Option<std::time::Instant> = None;
    let mut lag_series = HashSet::new();
    let batching = handler.batching();
    let mut last_batch: Option<std::time::Instant> = None;
    while !stop.is_cancelled() {
        if let Some(at) = last_batch {
            let next = at + batching.every;
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => {}
                _ = stop.cancelled() => return,
            }
        }
        if let Some(m) = &metrics {
            if lag_reported.is_none_or(|at| at.elapsed() >= LAG_EVERY) {
                m.report_lag(group, consumer.as_mut(), &mut lag_series)
                    .await;
                lag_reported = Some(std::time::Instant::now());
            }
        }
        let batch = tokio::select! {
            b = consumer.next_batch(batching.max, Duration::from_millis(500)) => b,
            _ = stop.cancelled() => return,
        };
        if consumer.joined() {
            joined.store(true, std::sync::atomic::Ordering::Release);
        }
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                let waited =
                    backoff.after_failure(&stop, group, "reading the event log failed", &e);
                if waited.await.is_err() {
                    return;
                }
                continue;
            }
        };
        if !batch.is_empty() {
            // Handle, retrying until it works: skipping a batch would lose work.
            loop {
                match handler.handle(&batch).await {
                    Ok(()) => break,
                    Err(e) => {
                        let what = "handling events failed; retrying";
                        if backoff.after_failure(&stop, group, what, &e).await.is_err() {
                            return;
                        }
                    }
                }
            }
            backoff.reset();
            last_batch = Some(std::time::Instant::now());
            if let Some(m) = &metrics {
                m.consumed(group, &batch);
            }
        }
        // Committed even when the batch is empty: what was read may have been skipped
        // (unreadable messages), and a position left before them would keep the group's
        // lag above 0 for good. With nothing read, a commit does nothing.
        while let Err(e) = consumer.commit().await {
            let what = "committing the position failed";
            if backoff.after_failure(&stop, group, what, &e).await.is_err() {
                return;
            }
        }
    }
}

/// Exponential backoff from 50 ms to 5 s.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Duration::from_millis(50),
        }
    }
}

impl Backoff {
    pub fn reset(&mut self) {
        *self = Backoff::default();
    }

    /// Logs that `what` failed for consumer `group`, then sleeps; `Err` when stopped
    /// meanwhile.
    async fn after_failure(
        &mut self,
        stop: &CancellationToken,
        group: &str,
        what: &str,
        e: &anyhow::Error,
    ) -> Result<(), ()> {
        tracing::warn!(group, error = format!("{e:#}"), "{what}");
        self.wait(stop).await
    }

    /// The next wait, doubling the one after it.
    pub fn next_wait(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(5));
        d
    }

    /// Sleeps; `Err` when stopped meanwhile.
    pub async fn wait(&mut self, stop: &CancellationToken) -> Result<(), ()> {
        let d = self.next_wait();
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = stop.cancelled() => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_a_type_tag() {
        let e = Event {
            id: Id(9),
            version: 2,
            occurred_at_ms: 1000,
            body: EventBody::PostEdited {
                post_id: Id(5),
                author_id: Id(7),
                text: "hi".into(),
                edited_at_ms: 1000,
            },
            trace: None,
        };
        let json = e.to_json().unwrap();
        assert!(json.contains("\"type\":\"post.edited\""), "{json}");
        assert!(json.contains("\"post_id\":\"5\""), "{json}");
        assert_eq!(Event::from_json(&json).unwrap(), e);
        assert_eq!(e.topic(), Topic::Posts);
        assert_eq!(e.key(), "7");
        assert!(!json.contains("traceparent"), "{json}");

        let traced = Event {
            trace: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            ..e
        };
        let json = traced.to_json().unwrap();
        assert!(json.contains("\"traceparent\":\"00-4bf9"), "{json}");
        assert_eq!(Event::from_json(&json).unwrap(), traced);
    }

    /// A consumer whose lag reports are scripted: each call to `lag` gives the next.
    struct Lags(std::collections::VecDeque<Vec<(String, i32, i64)>>);

    #[async_trait]
    impl EventConsumer for Lags {
        async fn next_batch(&mut self, _: usize, _: Duration) -> anyhow::Result<Vec<Event>> {
            Ok(Vec::new())
        }
        async fn commit(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
        async fn lag(&mut self) -> anyhow::Result<Vec<(String, i32, i64)>> {
            self.0.pop_front().ok_or_else(|| anyhow::anyhow!("no more"))
        }
    }

    /// The `consumer_lag` lines of a rendering, without the help and type lines.
    fn lag_lines(rendered: &str) -> Vec<&str> {
        rendered
            .lines()
            .filter(|l| l.starts_with("chirp_consumer_lag{"))
            .collect()
    }

    #[tokio::test]
    async fn the_lag_of_a_partition_no_longer_read_stops_being_reported() {
        let metrics = ConsumerMetrics {
            telemetry: crate::http::Telemetry::new(),
            service: "fanout",
        };
        let t = || "chirp.posts".to_owned();
        let mut consumer = Lags(
            [
                vec![(t(), 0, 5), (t(), 1, 3)],
                // A rebalance gave partition 0 to another member.
                vec![(t(), 1, 0)],
            ]
            .into(),
        );
        let mut reported = HashSet::new();
        metrics
            .report_lag("fanout", &mut consumer, &mut reported)
            .await;
        let first = metrics.telemetry.render();
        assert_eq!(lag_lines(&first).len(), 2, "{first}");
        assert!(
            first.contains(r#"partition="0"} 5"#) && first.contains(r#"partition="1"} 3"#),
            "{first}"
        );

        metrics
            .report_lag("fanout", &mut consumer, &mut reported)
            .await;
        let second = metrics.telemetry.render();
        let lines = lag_lines(&second);
        assert_eq!(lines.len(), 1, "{second}");
        assert!(lines[0].ends_with(r#"partition="1"} 0"#), "{second}");

        // A report that fails changes nothing.
        metrics
            .report_lag("fanout", &mut consumer, &mut reported)
            .await;
        assert_eq!(lag_lines(&metrics.telemetry.render()), lines);
    }
}
