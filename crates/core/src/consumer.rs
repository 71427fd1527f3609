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
            let Ok(handled) = handled.await else {
                return;
            };
            backoff.reset();
            if !handled {
                continue;
            }
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

/// Handles `batch`, retrying until it works (skipping a batch would lose work): `Ok(true)`
/// once handled, `Ok(false)` when a rebalance took it away while it waited, `Err` when
/// stopped first. Between attempts the consumer is served, taking no events: else a
/// Kafka member that goes longer than its poll interval without reading (a dependency
/// down for more than 8 s) leaves its group, and its client's reports pile up unread.
async fn handle_until_done(
    handler: &dyn EventHandler,
    batch: &[Event],
    consumer: &mut dyn EventConsumer,
    backoff: &mut Backoff,
    stop: &CancellationToken,
    group: &str,
) -> Result<bool, ()> {
    let mut attempt = handler.handle(batch).await;
    while let Err(e) = attempt {
        let what = "handling events failed; retrying";
        tokio::select! {
            waited = backoff.after_failure(stop, group, what, &e) => waited?,
            never = consumer.idle() => match never {},
        }
        if consumer.batch_taken_away() {
            tracing::warn!(
                group,
                "a rebalance gave the batch's partitions away while it was retried: \
                 it is read again from the group's commit"
            );
            return Ok(false);
        }
        attempt = handler.handle(batch).await;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    /// A consumer that gives no events, whose lag reports are scripted (each call to
    /// `lag` gives the next), that records whether it was served idle, and that says a
    /// rebalance took its batch away or not, as told.
    #[derive(Default)]
    struct Scripted {
        lags: std::collections::VecDeque<Vec<(String, i32, i64)>>,
        idled: bool,
        /// What `batch_taken_away` says.
        taken_away: bool,
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
        fn batch_taken_away(&mut self) -> bool {
            self.taken_away
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
            ..Default::default()
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

    /// Fails the first `fails` batches; counts the calls.
    struct Fails {
        fails: u32,
        calls: std::sync::atomic::AtomicU32,
    }

    #[async_trait]
    impl EventHandler for Fails {
        async fn handle(&self, _: &[Event]) -> anyhow::Result<()> {
            let call = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            anyhow::ensure!(call >= self.fails, "failing on purpose");
            Ok(())
        }
    }

    /// What handling a batch with a handler that fails `fails` times came to, whether
    /// the consumer was served idle, and how many attempts there were.
    async fn handling(fails: u32, taken_away: bool) -> (bool, bool, u32) {
        let handler = Fails {
            fails,
            calls: Default::default(),
        };
        let mut consumer = Scripted {
            taken_away,
            ..Default::default()
        };
        let (stop, mut backoff) = (CancellationToken::new(), Backoff::default());
        let handled = handle_until_done(&handler, &[], &mut consumer, &mut backoff, &stop, "g")
            .await
            .unwrap();
        let calls = handler.calls.load(std::sync::atomic::Ordering::SeqCst);
        (handled, consumer.idled, calls)
    }

    #[tokio::test]
    async fn a_batch_waiting_to_be_retried_has_its_consumer_served() {
        assert_eq!(handling(0, false).await, (true, false, 1));
        // Retried after 50, 100 and 200 ms, served meanwhile.
        assert_eq!(handling(3, false).await, (true, true, 4));
    }

    #[tokio::test]
    async fn a_batch_a_rebalance_took_away_is_not_retried() {
        assert_eq!(handling(3, true).await, (false, true, 1));
        // Handled at once: nothing was served, nothing taken away.
        assert_eq!(handling(0, true).await, (true, false, 1));
    }
}
