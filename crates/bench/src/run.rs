//! Load steps: the mix at a fixed rate for a while (open loop), each operation's
//! throughput, latency and errors, and the fanout lag of a sample of the posts; and the
//! search for the highest rate sustained within a latency bound.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::client::{Population, Target};
use crate::hist::{Latency, SlowWindow, Summary, Windows};
use crate::mix::{Mix, Op};
use crate::schedule::OpenLoop;

/// How the fanout lag is sampled: one compose in `every` (whose author has followers and
/// is not the celebrity) is followed into `followers` random followers' home timelines,
/// polled every `poll` for up to `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct LagSampling {
    pub every: u64,
    pub followers: usize,
    pub poll: Duration,
    pub timeout: Duration,
}

pub struct Load {
    pub target: Target,
    pub pop: Arc<Population>,
    pub mix: Mix,
    pub lag: Option<LagSampling>,
    /// Items per timeline read.
    pub page: usize,
    /// An answer slower than this is shown in the step's slow windows.
    pub slow: Duration,
}

/// Width of a step's slow windows.
const WINDOW: Duration = Duration::from_millis(100);

#[derive(Default)]
struct OpStats {
    latency: Latency,
    errors: u64,
    first_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpResult {
    pub ok: u64,
    pub errors: u64,
    /// Answered without error, per second of the step.
    pub per_sec: f64,
    pub latency: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Lag {
    pub samples: u64,
    /// Followers in whose home the post had not appeared by the timeout.
    pub timeouts: u64,
    pub latency: Summary,
    /// (ms, share of samples at or below), for the plot.
    #[serde(skip)]
    pub cdf: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// The rate asked for, requests per second.
    pub rate: f64,
    pub secs: f64,
    /// Answered without error, per second.
    pub achieved: f64,
    pub dropped: u64,
    pub ops: BTreeMap<Op, OpResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag: Option<Lag>,
    /// When the step started (ms since the Unix epoch), to set its slow windows beside
    /// the server's own logs and traces.
    pub started_unix_ms: u64,
    /// Each 100 ms of the step (by when requests were due) in which an answer took
    /// longer than the bound: how many answers, how many slow, the worst.
    pub slow_windows: Vec<SlowWindow>,
}

impl StepResult {
    /// Whether the step held: every request sent and answered in time, p99 of every
    /// operation within `p99_bound_ms`, at most 1% errors, and 95% of the rate achieved.
    pub fn held(&self, p99_bound_ms: f64) -> bool {
        self.dropped == 0
            && self.achieved >= 0.95 * self.rate
            && self
                .ops
                .values()
                .all(|o| o.latency.p99_ms <= p99_bound_ms && o.errors * 100 <= (o.ok + o.errors))
    }
}

/// Runs `load` at `rate` for `duration`.
pub async fn step(load: &Load, rate: f64, duration: Duration) -> StepResult {
    // Connections first: opening them is not what a step measures. (If they cannot be
    // opened, the step's requests fail and are counted.)
    if let Err(e) = load.target.warm(rate).await {
        eprintln!("opening connections for the step: {e:#}");
    }
    let stats: Arc<Mutex<(HashMap<Op, OpStats>, Windows)>> = Arc::new(Mutex::new((
        HashMap::new(),
        Windows::new(WINDOW, load.slow),
    )));
    let lag: Arc<Mutex<(Latency, u64)>> = Arc::default();
    let schedule = OpenLoop {
        rate,
        duration,
        max_in_flight: 20_000,
    };
    let pop = load.pop.clone();
    let n = pop.members.len();
    let seed: u64 = rand::thread_rng().gen();
    let started = Instant::now();
    let started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let sent = schedule
        .run(
            |i, due| {
                let mut rng = SmallRng::seed_from_u64(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let op = load.mix.pick(&mut rng);
                let who = rng.gen_range(0..n);
                let other = rng.gen_range(0..n);
                let probe = load
                    .lag
                    .filter(|l| op == Op::Compose && i % l.every.max(1) == 0);
                let (target, pop, stats, lag) =
                    (load.target.clone(), pop.clone(), stats.clone(), lag.clone());
                let page = load.page;
                async move {
                    let me = &pop.members[who];
                    let outcome = match op {
                        Op::Home => target.home(me, page).await.map(|_| None),
                        Op::User => target
                            .user_posts(me, &pop.members[other].id, page)
                            .await
                            .map(|_| None),
                        Op::Compose => target
                            .post(me, &format!("a benchmark post {i} #bench"))
                            .await
                            .map(Some),
                        Op::Floor => target.floor().await.map(|_| None),
                    };
                    let took = due.elapsed();
                    let posted = {
                        let mut guard = stats.lock().unwrap_or_else(|e| e.into_inner());
                        let (ops, windows) = &mut *guard;
                        let s = ops.entry(op).or_default();
                        match outcome {
                            Ok(p) => {
                                s.latency.record(took);
                                windows.record(due.saturating_duration_since(started), took);
                                p
                            }
                            Err(e) => {
                                s.errors += 1;
                                s.first_error.get_or_insert_with(|| format!("{e:#}"));
                                None
                            }
                        }
                    };
                    if let (Some(post), Some(sampling)) = (posted, probe) {
                        probe_lag(&target, &pop, who, &post, sampling, &mut rng, &lag).await;
                    }
                }
            },
            Duration::from_secs(15),
        )
        .await;
    let secs = duration.as_secs_f64();
    let (stats, slow_windows) = {
        let mut guard = stats.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut guard.0), guard.1.slow_windows())
    };
    let mut ops = BTreeMap::new();
    let mut ok_total = 0;
    for op in load.mix.ops() {
        let s = stats.get(&op);
        let ok = s.map_or(0, |s| s.latency.count());
        ok_total += ok;
        ops.insert(
            op,
            OpResult {
                ok,
                errors: s.map_or(0, |s| s.errors),
                per_sec: ok as f64 / secs,
                latency: s.map(|s| s.latency.summary()).unwrap_or_default(),
                first_error: s.and_then(|s| s.first_error.clone()),
            },
        );
    }
    let lag = load.lag.map(|_| {
        let (h, timeouts) = &*lag.lock().unwrap_or_else(|e| e.into_inner());
        Lag {
            samples: h.count(),
            timeouts: *timeouts,
            latency: h.summary(),
            cdf: h.cdf(100),
        }
    });
    StepResult {
        rate,
        secs,
        achieved: ok_total as f64 / secs,
        dropped: sent.dropped,
        ops,
        lag,
        started_unix_ms,
        slow_windows,
    }
}

/// Follows `post` by `author` into some of the author's followers' home timelines.
async fn probe_lag(
    target: &Target,
    pop: &Population,
    author: usize,
    post: &str,
    sampling: LagSampling,
    rng: &mut SmallRng,
    lag: &Mutex<(Latency, u64)>,
) {
    let acked = Instant::now();
    let followers = &pop.plan.followers[author];
    if author as u32 == pop.plan.celebrity || followers.is_empty() {
        return;
    }
    let picks: Vec<usize> = (0..sampling.followers.min(followers.len()))
        .map(|_| followers[rng.gen_range(0..followers.len())] as usize)
        .collect();
    let waits = picks.into_iter().map(|f| async move {
        loop {
            if let Ok(ids) = target.home(&pop.members[f], 10).await {
                if ids.iter().any(|id| id == post) {
                    return Some(acked.elapsed());
                }
            }
            if acked.elapsed() > sampling.timeout {
                return None;
            }
            tokio::time::sleep(sampling.poll).await;
        }
    });
    for seen in futures::future::join_all(waits).await {
        let mut l = lag.lock().unwrap_or_else(|e| e.into_inner());
        match seen {
            Some(d) => l.0.record(d),
            None => l.1 += 1,
        }
    }
}

/// Steps from `from` up by `factor` until a step does not hold `p99_bound_ms` (or `to`
/// is passed); each step runs `secs`.
#[derive(Debug, Clone, Serialize)]
pub struct Saturation {
    pub p99_bound_ms: f64,
    pub steps: Vec<StepResult>,
    /// The highest rate that held, requests per second.
    pub sustained: Option<f64>,
}

pub async fn saturate(
    load: &Load,
    from: f64,
    factor: f64,
    to: f64,
    secs: f64,
    p99_bound_ms: f64,
    label: &str,
) -> Saturation {
    let mut steps = Vec::new();
    let mut sustained = None;
    let mut rate = from;
    while rate <= to {
        let r = step(load, rate, Duration::from_secs_f64(secs)).await;
        let held = r.held(p99_bound_ms);
        eprintln!(
            "{label:<10} {rate:>8.0}/s: achieved {:>8.0}/s, {} {}",
            r.achieved,
            r.ops
                .iter()
                .map(|(op, o)| format!(
                    "{} p99 {:.1} ms ({} errors)",
                    op.name(),
                    o.latency.p99_ms,
                    o.errors
                ))
                .collect::<Vec<_>>()
                .join(", "),
            if held { "held" } else { "did not hold" }
        );
        if !r.slow_windows.is_empty() {
            let at: Vec<String> = r
                .slow_windows
                .iter()
                .take(12)
                .map(|w| format!("{:.1}s({}/{})", w.at_ms as f64 / 1000.0, w.slow, w.answers))
                .collect();
            eprintln!(
                "{label:<10} slow answers in {} windows of {} ms: {}",
                r.slow_windows.len(),
                WINDOW.as_millis(),
                at.join(" ")
            );
        }
        steps.push(r);
        if !held {
            break;
        }
        sustained = Some(rate);
        rate *= factor;
        // Let queues drain between steps.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Saturation {
        p99_bound_ms,
        steps,
        sustained,
    }
}
