//! Load steps: the mix at a fixed rate for a while (open loop), each operation's
//! throughput, latency and errors, and the fanout lag of a sample of the posts.

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
/// for up to `timeout`.
///
/// A follower's timeline is read every `poll_min` at first, then every tenth of the time
/// waited so far, up to `poll_max`: a lag is measured to within 10% of itself (or
/// `poll_min`), at a cost in reads that grows with its logarithm, not with the lag. At
/// most `polls_in_flight` of the probes' reads are in flight at once, so that on a slow
/// system the probes cannot become the load they measure (a read that waits for its turn
/// makes the lag seen longer, never shorter).
#[derive(Debug, Clone, Copy)]
pub struct LagSampling {
    pub every: u64,
    pub followers: usize,
    pub poll_min: Duration,
    pub poll_max: Duration,
    pub polls_in_flight: usize,
    pub timeout: Duration,
}

impl LagSampling {
    /// How long to wait before the next read, `waited` after the post's 201.
    pub fn poll_after(&self, waited: Duration) -> Duration {
        (waited / 10).clamp(self.poll_min, self.poll_max.max(self.poll_min))
    }
}

/// What the probes of a step found.
#[derive(Default)]
struct LagTally {
    latency: Latency,
    timeouts: u64,
    polls: u64,
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
    /// The measured server's process, when it is one process on this machine (a
    /// spawned `chirp all`): each step reports its CPU time per request.
    pub server: Option<u32>,
}

/// Width of a step's slow windows.
pub(crate) const WINDOW: Duration = Duration::from_millis(100);

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
    /// Home-timeline reads the probes made, and their rate over the step.
    pub polls: u64,
    pub polls_per_sec: f64,
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
    /// CPU time (user and system, every thread) the measured server spent over the step,
    /// per request answered (with or without error), in ms; only for a server that is one
    /// process here. It includes what the server did in the background meanwhile
    /// (consumers, fanout), which is part of what the requests cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_ms_per_request: Option<f64>,
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
    let lag: Arc<Mutex<LagTally>> = Arc::default();
    let probe_permits = Arc::new(tokio::sync::Semaphore::new(
        load.lag.map_or(1, |l| l.polls_in_flight.max(1)),
    ));
    let schedule = OpenLoop {
        rate,
        duration,
        max_in_flight: 20_000,
    };
    let pop = load.pop.clone();
    let n = pop.members.len();
    let seed: u64 = rand::thread_rng().gen();
    let cpu_before = load.server.and_then(cpu_secs);
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
                let post = rng.gen_range(0..pop.posts.len().max(1));
                let probe = load
                    .lag
                    .filter(|l| op == Op::Compose && i % l.every.max(1) == 0);
                let (target, pop, stats, lag, permits) = (
                    load.target.clone(),
                    pop.clone(),
                    stats.clone(),
                    lag.clone(),
                    probe_permits.clone(),
                );
                let page = load.page;
                async move {
                    let me = &pop.members[who];
                    // (A population without posts likes nothing: each such request fails,
                    // and is counted as failed.)
                    let on = pop.posts.get(post).cloned().unwrap_or_default();
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
                        Op::Like => target.like(me, &on).await.map(|_| None),
                        Op::Repost => target.repost(me, &on).await.map(|_| None),
                        Op::Reply => target
                            .reply(me, &on, &format!("a benchmark reply {i}"))
                            .await
                            .map(|_| None),
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
                        let probe = Probe {
                            target: &target,
                            pop: &pop,
                            sampling,
                            permits: &permits,
                            tally: &lag,
                        };
                        probe.follow(who, &post, &mut rng).await;
                    }
                }
            },
            Duration::from_secs(15),
        )
        .await;
    let cpu_after = load.server.and_then(cpu_secs);
    let secs = duration.as_secs_f64();
    let (stats, slow_windows) = {
        let mut guard = stats.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut guard.0), guard.1.slow_windows())
    };
    let mut ops = BTreeMap::new();
    let (mut ok_total, mut answered) = (0, 0);
    for op in load.mix.ops() {
        let s = stats.get(&op);
        let ok = s.map_or(0, |s| s.latency.count());
        ok_total += ok;
        answered += ok + s.map_or(0, |s| s.errors);
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
        let t = &*lag.lock().unwrap_or_else(|e| e.into_inner());
        Lag {
            samples: t.latency.count(),
            timeouts: t.timeouts,
            polls: t.polls,
            polls_per_sec: t.polls as f64 / secs,
            latency: t.latency.summary(),
            cdf: t.latency.cdf(100),
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
        server_cpu_ms_per_request: match (cpu_before, cpu_after) {
            (Some(b), Some(a)) if answered > 0 => Some((a - b) * 1000.0 / answered as f64),
            _ => None,
        },
    }
}

/// CPU time (user and system, every thread) a process has used so far, in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (in parentheses, which may hold spaces): the state is field
    // 3, utime and stime fields 14 and 15, in USER_HZ ticks (100 a second on every Linux
    // ABI).
    let mut rest = stat.rsplit_once(") ")?.1.split_whitespace().skip(11);
    let utime: u64 = rest.next()?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The fanout-lag probes of one step.
struct Probe<'a> {
    target: &'a Target,
    pop: &'a Population,
    sampling: LagSampling,
    permits: &'a tokio::sync::Semaphore,
    tally: &'a Mutex<LagTally>,
}

impl Probe<'_> {
    /// Follows `post` by `author` into some of the author's followers' home timelines.
    async fn follow(&self, author: usize, post: &str, rng: &mut SmallRng) {
        let acked = Instant::now();
        let followers = &self.pop.plan.followers[author];
        if author as u32 == self.pop.plan.celebrity || followers.is_empty() {
            return;
        }
        let picks: Vec<usize> = (0..self.sampling.followers.min(followers.len()))
            .map(|_| followers[rng.gen_range(0..followers.len())] as usize)
            .collect();
        let waits = picks.into_iter().map(|f| async move {
            let mut polls = 0;
            let seen = loop {
                let found = {
                    let _turn = self.permits.acquire().await;
                    polls += 1;
                    self.target.home(&self.pop.members[f], 10).await
                };
                if found.is_ok_and(|ids| ids.iter().any(|id| id == post)) {
                    break Some(acked.elapsed());
                }
                let waited = acked.elapsed();
                if waited > self.sampling.timeout {
                    break None;
                }
                tokio::time::sleep(self.sampling.poll_after(waited)).await;
            };
            (seen, polls)
        });
        for (seen, polls) in futures::future::join_all(waits).await {
            let mut t = self.tally.lock().unwrap_or_else(|e| e.into_inner());
            t.polls += polls;
            match seen {
                Some(d) => t.latency.record(d),
                None => t.timeouts += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampling() -> LagSampling {
        LagSampling {
            every: 20,
            followers: 2,
            poll_min: Duration::from_millis(5),
            poll_max: Duration::from_millis(250),
            polls_in_flight: 8,
            timeout: Duration::from_secs(10),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn probes_poll_fast_while_the_lag_is_short_then_within_a_tenth_of_it() {
        let s = sampling();
        assert_eq!(s.poll_after(ms(0)), ms(5));
        assert_eq!(s.poll_after(ms(49)), ms(5));
        assert_eq!(s.poll_after(ms(300)), ms(30));
        assert_eq!(s.poll_after(ms(2_000)), ms(200));
        assert_eq!(s.poll_after(ms(9_000)), ms(250));
    }

    #[test]
    fn a_probe_that_times_out_reads_a_timeline_about_a_hundred_times_not_two_thousand() {
        let s = sampling();
        let (mut waited, mut polls) = (Duration::ZERO, 0);
        while waited <= s.timeout {
            polls += 1;
            waited += s.poll_after(waited);
        }
        // 10 reads in the first 50 ms, then one per 10% more waited up to 2.5 s
        // (ln 50 / ln 1.1, about 41), then one per 250 ms (30). At a fixed 5 ms: 2,000.
        assert!((75..=90).contains(&polls), "{polls} reads");
    }
}
