//! The loop of one member of a consumer group: batches read, handled (retried until the
//! handler succeeds) and only then committed; and what the member reports of it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::events::{Event, EventConsumer, EventHandler, EventLog, Topic};

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

/// How long a batch may be handled before its consumer is served beside it: a quarter
/// of a Kafka member's poll interval (8 s).
const SERVE_AFTER: Duration = Duration::from_secs(2);

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
            let n = events.iter().filter(|e| e.topic() == Some(topic)).count() as u64;
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
            let handled = handle_until_done(
                handler.as_ref(),
                &batch,
                consumer.as_mut(),
                &mut backoff,
                &stop,
                group,
            );
            if handled.await.is_err() {
                return;
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

/// Handles `batch`, retrying until it works (skipping a batch would lose work); `Err`
/// when stopped first. A batch that takes longer than [`SERVE_AFTER`] (a slow handler, a
/// dependency down) has the consumer served beside it, taking no events: else a Kafka
/// member that goes longer than its poll interval without reading leaves its group, and
/// its client's reports pile up unread meanwhile.
async fn handle_until_done(
    handler: &dyn EventHandler,
    batch: &[Event],
    consumer: &mut dyn EventConsumer,
    backoff: &mut Backoff,
    stop: &CancellationToken,
    group: &str,
) -> Result<(), ()> {
    let handled = async {
        let mut attempt = handler.handle(batch).await;
        while let Err(e) = attempt {
            let what = "handling events failed; retrying";
            backoff.after_failure(stop, group, what, &e).await?;
            attempt = handler.handle(batch).await;
        }
        Ok(())
    };
    let served = async {
        tokio::time::sleep(SERVE_AFTER).await;
        consumer.idle().await
    };
    tokio::select! {
        handled = handled => handled,
        never = served => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    /// A consumer that gives no events, whose lag reports are scripted (each call to
    /// `lag` gives the next), and that records whether it was served idle.
    #[derive(Default)]
    struct Scripted {
        lags: std::collections::VecDeque<Vec<(String, i32, i64)>>,
        idled: bool,
    }

    #[async_trait]
    impl EventConsumer for Scripted {
        async fn next_batch(&mut self, _: usize, _: Duration) -> anyhow::Result<Vec<Event>> {
            Ok(Vec::new())
        }
        async fn commit(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
        async fn lag(&mut self) -> anyhow::Result<Vec<(String, i32, i64)>> {
            self.lags
                .pop_front()
                .ok_or_else(|| anyhow::anyhow!("no more"))
        }
        async fn idle(&mut self) -> std::convert::Infallible {
            self.idled = true;
            std::future::pending().await
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
        let mut consumer = Scripted {
            lags: [
                vec![(t(), 0, 5), (t(), 1, 3)],
                // A rebalance gave partition 0 to another member.
                vec![(t(), 1, 0)],
            ]
            .into(),
            idled: false,
        };
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

    /// Takes `takes` over a batch, failing the first `fails` times.
    struct Slow {
        takes: Duration,
        fails: std::sync::atomic::AtomicU32,
    }

    #[async_trait]
    impl EventHandler for Slow {
        async fn handle(&self, _: &[Event]) -> anyhow::Result<()> {
            tokio::time::sleep(self.takes).await;
            let left = self.fails.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                self.fails
                    .store(left - 1, std::sync::atomic::Ordering::SeqCst);
                anyhow::bail!("failing on purpose");
            }
            Ok(())
        }
    }

    /// Whether handling a batch with `handler` had the consumer served idle.
    async fn served_idle(handler: Slow) -> bool {
        let mut consumer = Scripted::default();
        let (stop, mut backoff) = (CancellationToken::new(), Backoff::default());
        handle_until_done(&handler, &[], &mut consumer, &mut backoff, &stop, "g")
            .await
            .unwrap();
        consumer.idled
    }

    #[tokio::test]
    async fn a_batch_that_takes_long_has_its_consumer_served_beside_it() {
        let slow = |takes, fails| Slow {
            takes,
            fails: std::sync::atomic::AtomicU32::new(fails),
        };
        assert!(!served_idle(slow(Duration::from_millis(10), 0)).await);
        // Failing: retried after 50, 100, 200, 400, 800 and 1,600 ms of backoff.
        assert!(served_idle(slow(Duration::from_millis(10), 6)).await);
        assert!(served_idle(slow(SERVE_AFTER + Duration::from_millis(300), 0)).await);
    }
}
