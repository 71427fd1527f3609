//! Fanout throughput: posts from the most-followed users (below the celebrity
//! threshold), all at once, and the rate at which FanoutService's delivery counter
//! (`chirp_fanout_deliveries_total`: a post id put into one home timeline) climbs by what
//! they owe, from the first post sent to the last delivery counted. And the wait before
//! each fanout step until the consumers have caught up with what earlier steps left them.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde::Serialize;

use crate::client::{series_of, Population, Target};

/// The gauge of how many events a consumer group has not yet handled, one series per
/// group, topic and partition; each consumer sets it every few seconds.
pub const CONSUMER_LAG: &str = "chirp_consumer_lag";

/// How long every lag must read 0 before the consumers count as caught up: longer than
/// the period at which consumers report it (5 s), so that a zero is a report made after
/// the load stopped, not one from before a backlog built up.
pub const LAG_STEADY: Duration = Duration::from_secs(6);

/// The gauge of how many events an outbox holds that the event log does not have yet
/// (each service that writes events samples it every second): events a consumer cannot be
/// behind on, since they are not in the log.
pub const OUTBOX_BACKLOG: &str = "chirp_outbox_backlog";

/// Whether a `/metrics` text shows every event handled: `None` when it reports neither a
/// consumer's lag nor an outbox's backlog, else whether every series of [`CONSUMER_LAG`]
/// and of [`OUTBOX_BACKLOG`] is 0.
pub fn caught_up(metrics: &str) -> Option<bool> {
    let mut counts = series_of(metrics, CONSUMER_LAG);
    counts.extend(series_of(metrics, OUTBOX_BACKLOG));
    (!counts.is_empty()).then(|| counts.iter().all(|(_, behind)| *behind == 0.0))
}

/// Waits until the consumers reporting [`CONSUMER_LAG`] on the `/metrics` pages at
/// `urls` have handled everything in the log, and the outboxes reporting
/// [`OUTBOX_BACKLOG`] there have put everything in it: every series 0, and still 0
/// `steady` later.
/// Returns at once when none reports it. Fails after `timeout`, naming what is behind.
/// How long it waited, when it did not fail.
pub async fn drained(
    target: &Target,
    urls: &[String],
    steady: Duration,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut zero_since: Option<Instant> = None;
    // Every series seen so far: one that is no longer reported is a partition whose
    // consumer lost it (a member that took too long over a batch is put out of its group
    // until it joins again), not one caught up.
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    loop {
        let page = target.metrics(urls).await?;
        let now: std::collections::HashSet<String> = series_of(&page, CONSUMER_LAG)
            .into_iter()
            .map(|(labels, _)| labels.to_owned())
            .collect();
        let lost = seen.iter().any(|l| !now.contains(l));
        seen.extend(now);
        let state = if lost { Some(false) } else { caught_up(&page) };
        match state {
            None => return Ok(started.elapsed()),
            Some(true) => {
                let since = *zero_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= steady {
                    return Ok(started.elapsed());
                }
            }
            Some(false) => {
                zero_since = None;
                if started.elapsed() >= timeout {
                    let reported = series_of(&page, CONSUMER_LAG);
                    let mut behind: Vec<String> = [CONSUMER_LAG, OUTBOX_BACKLOG]
                        .into_iter()
                        .flat_map(|name| {
                            series_of(&page, name)
                                .into_iter()
                                .filter(|(_, n)| *n != 0.0)
                                .map(move |(labels, n)| format!("{name}{labels} {n}"))
                        })
                        .collect();
                    behind.extend(
                        seen.iter()
                            .filter(|l| !reported.iter().any(|(r, _)| *r == l.as_str()))
                            .map(|l| format!("{CONSUMER_LAG}{l} no longer reported")),
                    );
                    anyhow::bail!(
                        "the consumers had not caught up after {} s: {}",
                        timeout.as_secs(),
                        behind.join(", ")
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FanoutResult {
    pub posts: usize,
    /// Deliveries the posts owe: each to its author and every follower.
    pub deliveries: u64,
    pub secs: f64,
    pub deliveries_per_sec: f64,
    /// Whether every delivery was counted before the deadline.
    pub complete: bool,
}

/// Run after [`drained`]: the counter is read on `metrics_urls` (summed over them, so every
/// fanout process counts).
pub async fn throughput(
    target: &Target,
    metrics_urls: &[String],
    pop: &Population,
    authors: usize,
    rounds: usize,
) -> anyhow::Result<FanoutResult> {
    const METRIC: &str = "chirp_fanout_deliveries_total";
    let chosen: Vec<u32> = pop.plan.most_followed().into_iter().take(authors).collect();
    let owed: u64 = chosen
        .iter()
        .map(|a| pop.plan.followers[*a as usize].len() as u64 + 1)
        .sum::<u64>()
        * rounds as u64;
    // Wait for the counter to settle too (it is all there is to go by where no consumer
    // reports its lag), so that it moves for these posts only.
    let mut before = target.metric(metrics_urls, METRIC).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = target.metric(metrics_urls, METRIC).await?;
        if now == before {
            break;
        }
        before = now;
    }
    let started = Instant::now();
    let posts = chosen
        .iter()
        .flat_map(|a| (0..rounds).map(move |k| (*a, k)));
    let sent = join_all(posts.map(|(a, k)| {
        let me = &pop.members[a as usize];
        async move { target.post(me, &format!("fanout round {k} #bench")).await }
    }))
    .await;
    let failed = sent.iter().filter(|r| r.is_err()).count();
    anyhow::ensure!(failed == 0, "{failed} fanout posts failed");
    let deadline = started + Duration::from_secs(120);
    let (mut delivered, mut at) = (0.0, started.elapsed());
    while Instant::now() < deadline {
        let now = target.metric(metrics_urls, METRIC).await?;
        if now - before > delivered {
            delivered = now - before;
            at = started.elapsed();
        }
        if delivered >= owed as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = at.as_secs_f64().max(1e-3);
    Ok(FanoutResult {
        posts: chosen.len() * rounds,
        deliveries: owed,
        secs,
        deliveries_per_sec: delivered / secs,
        complete: delivered >= owed as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_when_every_lag_is_zero_and_unknown_when_none_is_reported() {
        let behind = "chirp_consumer_lag{group=\"fanout\",partition=\"0\"} 0\n\
                      chirp_consumer_lag{group=\"search\",partition=\"0\"} 310\n";
        assert_eq!(caught_up(behind), Some(false));
        let done = "chirp_consumer_lag{group=\"fanout\",partition=\"0\"} 0\n\
                    chirp_consumer_lag{group=\"search\",partition=\"0\"} 0\n\
                    chirp_fanout_deliveries_total 5\n";
        assert_eq!(caught_up(done), Some(true));
        assert_eq!(caught_up("chirp_fanout_deliveries_total 5\n"), None);
        assert_eq!(caught_up(""), None);
    }

    #[test]
    fn events_still_in_an_outbox_are_not_caught_up() {
        // Every consumer has handled what the log holds, but the log does not hold
        // everything yet (the population's follows still being relayed).
        let relaying = "chirp_consumer_lag{group=\"fanout\",partition=\"0\"} 0\n\
                        chirp_outbox_backlog{service=\"graph\",outbox=\"graph\"} 89226\n";
        assert_eq!(caught_up(relaying), Some(false));
        let relayed = "chirp_consumer_lag{group=\"fanout\",partition=\"0\"} 0\n\
                       chirp_outbox_backlog{service=\"graph\",outbox=\"graph\"} 0\n";
        assert_eq!(caught_up(relayed), Some(true));
        // A page of a process that only relays (WriteService's, say) counts too.
        let only_an_outbox = "chirp_outbox_backlog{service=\"write\",outbox=\"write\"} 3\n";
        assert_eq!(caught_up(only_an_outbox), Some(false));
    }

    /// A `/metrics` page server on loopback: it answers `pages` in turn, then the last
    /// one from then on.
    fn serve(pages: Vec<&'static str>) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => head.extend_from_slice(&buf[..k]),
                    }
                }
                let body = pages[n.min(pages.len() - 1)];
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        url
    }

    const BEHIND: &str = "chirp_consumer_lag{group=\"search\",partition=\"0\"} 7\n";
    const ZERO: &str = "chirp_consumer_lag{group=\"search\",partition=\"0\"} 0\n";

    #[tokio::test]
    async fn the_wait_lasts_until_every_lag_has_stayed_zero() {
        let target = Target::new("http://127.0.0.1:1", 4).unwrap();
        // Behind on two reads (500 ms apart), then caught up.
        let urls = [serve(vec![BEHIND, BEHIND, ZERO])];
        let waited = drained(&target, &urls, Duration::ZERO, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(waited >= Duration::from_millis(900), "{waited:?}");
        // A zero does not count until it has lasted `steady`: the backlog that shows after
        // it starts the count again.
        let urls = [serve(vec![ZERO, BEHIND, ZERO])];
        let steady = Duration::from_millis(700);
        let waited = drained(&target, &urls, steady, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(waited >= Duration::from_millis(1900), "{waited:?}");
        // A series no longer reported (its consumer was put out of the group) is not
        // caught up: the wait goes on until it is reported at 0 again.
        const OTHER: &str = "chirp_consumer_lag{group=\"fanout\",partition=\"1\"} 0\n";
        const BOTH: &str = "chirp_consumer_lag{group=\"search\",partition=\"0\"} 0\n\
                            chirp_consumer_lag{group=\"fanout\",partition=\"1\"} 0\n";
        const SEARCH_BEHIND: &str = "chirp_consumer_lag{group=\"search\",partition=\"0\"} 7\n\
                                     chirp_consumer_lag{group=\"fanout\",partition=\"1\"} 0\n";
        let urls = [serve(vec![SEARCH_BEHIND, ZERO, ZERO, BOTH])];
        let waited = drained(&target, &urls, Duration::ZERO, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(waited >= Duration::from_millis(1400), "{waited:?}");
        let urls = [serve(vec![BOTH, OTHER])];
        let err = drained(
            &target,
            &urls,
            Duration::from_secs(60),
            Duration::from_millis(900),
        )
        .await
        .unwrap_err();
        assert!(format!("{err:#}").contains("no longer reported"), "{err:#}");
        // Every page counts: one process caught up, another not yet.
        let urls = [serve(vec![ZERO]), serve(vec![BEHIND, ZERO])];
        let waited = drained(&target, &urls, Duration::ZERO, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(waited >= Duration::from_millis(400), "{waited:?}");
    }

    #[tokio::test]
    async fn no_wait_without_a_lag_and_an_error_past_the_timeout() {
        let target = Target::new("http://127.0.0.1:1", 4).unwrap();
        let urls = [serve(vec!["chirp_fanout_deliveries_total 3\n"])];
        let long = Duration::from_secs(60);
        let waited = drained(&target, &urls, long, long).await.unwrap();
        assert!(waited < Duration::from_secs(1), "{waited:?}");
        let urls = [serve(vec![BEHIND])];
        let err = drained(&target, &urls, Duration::ZERO, Duration::from_millis(600))
            .await
            .unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains(r#"{group="search",partition="0"} 7"#), "{err}");
    }

    #[tokio::test]
    async fn a_metric_is_summed_over_every_page() {
        let target = Target::new("http://127.0.0.1:1", 4).unwrap();
        let urls = [
            serve(vec!["chirp_fanout_deliveries_total{service=\"fanout\"} 3"]),
            serve(vec![
                "chirp_fanout_deliveries_total{service=\"fanout\"} 4\n",
            ]),
        ];
        let sum = target
            .metric(&urls, "chirp_fanout_deliveries_total")
            .await
            .unwrap();
        assert_eq!(sum, 7.0);
    }
}
