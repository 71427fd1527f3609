//! Fanout throughput: posts from the most-followed users (below the celebrity
//! threshold), all at once, and the rate at which FanoutService's delivery counter
//! (`chirp_fanout_deliveries_total`: a post id put into one home timeline) climbs by what
//! they owe, from the first post sent to the last delivery counted.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde::Serialize;

use crate::client::{Population, Target};

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

pub async fn throughput(
    target: &Target,
    metrics_url: &str,
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
    // Wait for earlier work to settle, so the counter moves for these posts only.
    let mut before = target.metric(metrics_url, METRIC).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = target.metric(metrics_url, METRIC).await?;
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
        let now = target.metric(metrics_url, METRIC).await?;
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
