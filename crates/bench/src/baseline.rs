//! The raw store behind the hot path, measured on its own in the same run: a home
//! timeline read is a page of the timeline store, so the store's own page read, with as
//! many timelines as the population has, full to the server's cap, is what the whole
//! request is compared with. In process for the embedded memory store; over the network
//! for Redis (the sorted-set read the Redis store makes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chirp_core::page::PageRequest;
use chirp_core::peers::TimelineEntry;
use chirp_core::Id;
use chirp_timeline::adapters::memory::MemoryTimelines;
use chirp_timeline::ports::TimelineStore;
use rand::Rng;
use serde::Serialize;

use crate::hist::{Latency, Summary};

#[derive(Debug, Clone, Serialize)]
pub struct StoreBaseline {
    pub store: String,
    pub timelines: usize,
    pub entries_each: usize,
    /// Page reads per second, `workers` at a time, as fast as they go.
    pub reads_per_sec: f64,
    pub workers: usize,
    pub latency: Summary,
}

/// Page reads (10 items) of random timelines of a memory store.
pub async fn memory_store(timelines: usize, cap: usize, secs: f64) -> StoreBaseline {
    let store = Arc::new(MemoryTimelines::default());
    for u in 0..timelines as u64 {
        let user = Id(u + 1);
        let _ = store.begin_rebuild(user).await;
        let entries: Vec<TimelineEntry> = (0..cap as u64)
            .map(|k| TimelineEntry {
                post: Id(1_000_000 + u * cap as u64 + k),
                author: Id(k % 50 + 1),
            })
            .collect();
        let _ = store.finish_rebuild(user, entries, cap).await;
    }
    // Threads of their own: the tool's runtime is one thread, and the store's reads
    // never wait, so tasks on it would take turns.
    let workers = 2;
    let (reads, latency) = hammer_threads(workers, secs, move || {
        let user = Id(rand::thread_rng().gen_range(0..timelines as u64) + 1);
        futures::executor::block_on(store.page(user, PageRequest::first(10))).is_ok()
    });
    StoreBaseline {
        store: "memory".into(),
        timelines,
        entries_each: cap,
        reads_per_sec: reads as f64 / secs,
        workers,
        latency,
    }
}

/// `ZREVRANGE key 0 9` of random sorted sets of `cap` members on Redis (keys under a
/// prefix of this run's own, removed afterwards).
pub async fn redis_store(
    url: &str,
    timelines: usize,
    cap: usize,
    secs: f64,
) -> anyhow::Result<StoreBaseline> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let prefix = format!("chirp-bench:{}:", std::process::id());
    for u in 0..timelines {
        let mut pipe = redis::pipe();
        for k in 0..cap {
            pipe.zadd(format!("{prefix}{u}"), k as u64, k as f64)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
    }
    let workers = 32;
    let c = conn.clone();
    let p = prefix.clone();
    let (reads, latency) = hammer(workers, secs, move || {
        let mut conn = c.clone();
        let key = format!("{p}{}", rand::thread_rng().gen_range(0..timelines));
        async move {
            redis::cmd("ZREVRANGE")
                .arg(&key)
                .arg(0)
                .arg(9)
                .query_async::<Vec<u64>>(&mut conn)
                .await
                .is_ok()
        }
    })
    .await;
    for u in 0..timelines {
        let _: Result<(), _> = redis::cmd("DEL")
            .arg(format!("{prefix}{u}"))
            .query_async(&mut conn)
            .await;
    }
    Ok(StoreBaseline {
        store: "redis".into(),
        timelines,
        entries_each: cap,
        reads_per_sec: reads as f64 / secs,
        workers,
        latency,
    })
}

/// Home timelines held in Redis under `prefix`: how many entries, and the bytes Redis
/// says they take (`MEMORY USAGE` of each timeline's sorted set).
pub async fn redis_footprint(url: &str, prefix: &str) -> anyhow::Result<(u64, u64)> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let pattern = format!("{prefix}tl:{{*}}");
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        keys.extend(batch.into_iter().filter(|k| k.ends_with('}')));
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let (mut entries, mut bytes) = (0u64, 0u64);
    for chunk in keys.chunks(500) {
        let mut pipe = redis::pipe();
        for k in chunk {
            pipe.cmd("ZCARD").arg(k);
            pipe.cmd("MEMORY").arg("USAGE").arg(k).arg("SAMPLES").arg(0);
        }
        let out: Vec<Option<u64>> = pipe.query_async(&mut conn).await?;
        for pair in out.chunks(2) {
            entries += pair[0].unwrap_or(0);
            bytes += pair.get(1).copied().flatten().unwrap_or(0);
        }
    }
    Ok((entries, bytes))
}

/// Runs `op` in loops on `workers` threads for `secs`; how many succeeded, and their
/// latency.
fn hammer_threads(workers: usize, secs: f64, op: impl Fn() -> bool + Sync) -> (u64, Summary) {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    std::thread::scope(|scope| {
        let loops: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut h = Latency::default();
                    let mut n = 0u64;
                    while Instant::now() < until {
                        let t = Instant::now();
                        if op() {
                            h.record(t.elapsed());
                            n += 1;
                        }
                    }
                    (n, h)
                })
            })
            .collect();
        merged(loops.into_iter().filter_map(|l| l.join().ok()))
    })
}

/// The loops' counts added up and their histograms merged.
fn merged(loops: impl Iterator<Item = (u64, Latency)>) -> (u64, Summary) {
    let mut total = 0;
    let mut all = Latency::default();
    for (n, h) in loops {
        total += n;
        all.add(&h);
    }
    (total, all.summary())
}

/// Runs `op` in `workers` loops (tasks) for `secs`; how many succeeded, and their latency.
async fn hammer<F, Fut>(workers: usize, secs: f64, op: F) -> (u64, Summary)
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let op = op.clone();
        tasks.spawn(async move {
            let mut h = Latency::default();
            let mut n = 0u64;
            while Instant::now() < until {
                let t = Instant::now();
                if op().await {
                    h.record(t.elapsed());
                    n += 1;
                }
            }
            (n, h)
        });
    }
    let mut loops = Vec::with_capacity(workers);
    while let Some(Ok(l)) = tasks.join_next().await {
        loops.push(l);
    }
    merged(loops.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_baseline_reads_pages() {
        let b = memory_store(20, 50, 0.2).await;
        assert!(b.reads_per_sec > 1000.0, "{b:?}");
        assert!(b.latency.count > 200, "{b:?}");
    }
}
