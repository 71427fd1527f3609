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

/// Inserts into timeline-shaped sorted sets on Redis, pipelined, as fast as Redis takes
/// them: the bound of fanout's deliveries. Each insert puts one new member (16 bytes,
/// score 0, the shape of TimelineService's) into a random one of `timelines` sets of
/// `cap` members, in pipelines of [`PIPELINE`] commands, two pipelines in flight; once with
/// plain `ZADD`, once with the timelines' own insert script (`EVALSHA`: into a timeline
/// that exists only, then trimmed to the cap), which is what a delivery costs Redis.
#[derive(Debug, Clone, Serialize)]
pub struct InsertBaseline {
    pub timelines: usize,
    pub entries_each: usize,
    pub pipeline: usize,
    /// `ZADD key 0 member` per second.
    pub zadd_per_sec: f64,
    /// The timelines' insert script per second (one timeline, one entry each).
    pub script_per_sec: f64,
}

/// Commands per pipeline of the insert baseline.
pub const PIPELINE: usize = 1000;

pub async fn redis_inserts(
    url: &str,
    timelines: usize,
    cap: usize,
) -> anyhow::Result<InsertBaseline> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let prefix = format!("chirp-bench:{}:ins:", std::process::id());
    let keys: Vec<String> = (0..timelines).map(|u| format!("{prefix}{{{u}}}")).collect();
    // Each set full to the cap, its members below every one inserted later.
    for key in &keys {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(key);
        for k in 0..cap as u64 {
            cmd.arg(0).arg(&insert_member(k)[..]);
        }
        cmd.query_async::<()>(&mut conn).await?;
    }
    let script = chirp_timeline::adapters::redis::insert_script();
    script.prepare_invoke().load_async(&mut conn).await?;
    let zadd = insert_rounds(&conn, &keys, cap, None, 1 << 40).await;
    let scripted = insert_rounds(&conn, &keys, cap, Some(&script), 2 << 40).await;
    let mut del = redis::pipe();
    for key in &keys {
        del.cmd("DEL").arg(key).ignore();
    }
    let _: Result<(), _> = del.query_async(&mut conn).await;
    Ok(InsertBaseline {
        timelines,
        entries_each: cap,
        pipeline: PIPELINE,
        zadd_per_sec: zadd?,
        script_per_sec: scripted?,
    })
}

/// A timeline-shaped member: `n` as the post, author 0.
fn insert_member(n: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&n.to_be_bytes());
    m
}

/// Rounds of inserts of new members (from `first` up) into random sets of `keys`, with
/// `ZADD` or with `script` (loaded already), each round timed and the sets trimmed back
/// to the cap after it (so that they keep their size and encoding); the median round's
/// rate.
async fn insert_rounds(
    conn: &redis::aio::MultiplexedConnection,
    keys: &[String],
    cap: usize,
    script: Option<&redis::Script>,
    first: u64,
) -> anyhow::Result<f64> {
    const ROUNDS: usize = 5;
    let per_round = (keys.len() * 50).max(PIPELINE * 20);
    let mut rates = Vec::with_capacity(ROUNDS);
    let mut n = first;
    for _ in 0..ROUNDS {
        let mut pipes = Vec::new();
        for _ in 0..per_round / PIPELINE {
            let mut pipe = redis::pipe();
            for _ in 0..PIPELINE {
                let key = &keys[rand::thread_rng().gen_range(0..keys.len())];
                n += 1;
                let m = insert_member(n);
                match script {
                    Some(s) => pipe.invoke_script(s.key(key).arg(cap).arg(&m[..])).ignore(),
                    None => pipe.cmd("ZADD").arg(key).arg(0).arg(&m[..]).ignore(),
                };
            }
            pipes.push(pipe);
        }
        let t = Instant::now();
        // Two pipelines in flight.
        for two in pipes.chunks(2) {
            let calls = two.iter().map(|p| {
                let mut c = conn.clone();
                async move { p.query_async::<()>(&mut c).await }
            });
            for r in futures::future::join_all(calls).await {
                r?;
            }
        }
        rates.push(per_round as f64 / t.elapsed().as_secs_f64());
        let mut trim = redis::pipe();
        for key in keys {
            trim.cmd("ZREMRANGEBYRANK")
                .arg(key)
                .arg(0)
                .arg(-(cap as i64) - 1)
                .ignore();
        }
        trim.query_async::<()>(&mut conn.clone()).await?;
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[ROUNDS / 2])
}

/// Home timelines held in Redis under `prefix`: how many entries, and the bytes Redis
/// says they take (`MEMORY USAGE` of each timeline's sorted set).
pub async fn redis_footprint(url: &str, prefix: &str) -> anyhow::Result<(u64, u64)> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let pattern = format!("{prefix}tl2:{{*}}");
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

    /// Both kinds of insert measured, and every key it made removed.
    #[tokio::test]
    async fn the_redis_insert_baseline_measures_both_commands_and_cleans_up() {
        let url = chirp_testkit::redis_url();
        let b = redis_inserts(&url, 20, 50).await.unwrap();
        assert!(
            b.zadd_per_sec > 1000.0 && b.script_per_sec > 1000.0,
            "{b:?}"
        );
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let left: Vec<String> = redis::cmd("KEYS")
            .arg(format!("chirp-bench:{}:ins:*", std::process::id()))
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn the_memory_store_baseline_reads_pages() {
        let b = memory_store(20, 50, 0.2).await;
        assert!(b.reads_per_sec > 1000.0, "{b:?}");
        assert!(b.latency.count > 200, "{b:?}");
    }
}
