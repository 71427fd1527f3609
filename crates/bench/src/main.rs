//! `chirp-bench`: builds a population through the API, then measures, in one run and on
//! one machine: the HTTP floor and the raw timeline store (the baselines), the saturation
//! point of the social-network mix and of composing alone, fanout throughput, the fanout
//! lag at a fixed posting rate, and the memory held per home-timeline entry. Writes a
//! JSON report and an SVG plot.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chirp_bench::client::{self, Target};
use chirp_bench::mix::{Mix, Op};
use chirp_bench::plan::{Plan, Shape};
use chirp_bench::plot::{self, Series};
use chirp_bench::run::{self, LagSampling, Load, Saturation};
use chirp_bench::{baseline, fanout};
use clap::Parser;
use serde_json::json;

mod tour;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "chirp-bench", version, about)]
struct Args {
    /// Base URL of the Chirp to measure (`chirp all`, or a stack's gateway). Without it,
    /// `--spawn` starts one.
    #[arg(long)]
    target: Option<String>,
    /// The `chirp` binary to start as `chirp all` (embedded defaults, a temporary data
    /// directory, fast password hashing, the threshold below).
    #[arg(long, default_value = "target/release/chirp")]
    spawn: PathBuf,
    /// A `/metrics` page of the measured system (repeat it for each process): the
    /// fanout figures read FanoutService's delivery counter and wait for every consumer's
    /// lag (`chirp_consumer_lag`) to be 0, the memory figure (without `--redis-url`) reads
    /// TimelineService's footprint; each figure is summed over the pages [default:
    /// TARGET/metrics].
    #[arg(long = "metrics-url")]
    metrics_urls: Vec<String>,
    /// Redis of the measured system: the raw-store baseline reads sorted sets there and
    /// the memory figure is Redis's own. Without it, the in-process memory store.
    #[arg(long)]
    redis_url: Option<String>,
    /// The key prefix of the measured system's Redis keys.
    #[arg(long, default_value = "chirp:")]
    redis_prefix: String,
    /// Users in the population.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Median of how many users each one follows.
    #[arg(long, default_value_t = 25.0)]
    median_follows: f64,
    /// Posts each user makes while the population is built.
    #[arg(long, default_value_t = 3)]
    posts_each: usize,
    /// The server's hybrid-fanout threshold (passed to a spawned `chirp all`).
    #[arg(long, default_value_t = 2_000)]
    threshold: usize,
    /// The server's home-timeline cap (for the raw-store baseline).
    #[arg(long, default_value_t = 800)]
    timeline_cap: usize,
    /// Requests in flight while the population is built.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// At most this many connections to the target: requests beyond wait for one (the
    /// wait counts in their latency; the schedule does not slow down).
    #[arg(long, default_value_t = 1024)]
    connections: usize,
    /// How long a fanout step waits for the consumers to catch up with earlier steps
    /// before it is given up as not measured (seconds).
    #[arg(long, default_value_t = 120.0)]
    drain_timeout_secs: f64,
    /// How long to wait, once the population is built, for the consumers to handle its
    /// events (fanout's timelines for every follow and post, the search index) before
    /// anything is measured; after it, the run goes on and the report says it did not
    /// settle (seconds).
    #[arg(long, default_value_t = 1800.0)]
    settle_timeout_secs: f64,
    /// The mix of the main saturation search.
    #[arg(long, default_value = chirp_bench::mix::SOCIAL_NETWORK)]
    mix: Mix,
    /// First rate (requests/s) of each saturation search.
    #[arg(long, default_value_t = 1000.0)]
    from: f64,
    /// Each step's rate is the last one's times this.
    #[arg(long, default_value_t = 1.25)]
    factor: f64,
    /// No step above this rate.
    #[arg(long, default_value_t = 200_000.0)]
    max_rate: f64,
    /// Seconds per step.
    #[arg(long, default_value_t = 10.0)]
    step_secs: f64,
    /// A step holds while every operation's p99 is within this (ms).
    #[arg(long, default_value_t = 20.0)]
    p99_ms: f64,
    /// The same for the compose-only search.
    #[arg(long, default_value_t = 100.0)]
    compose_p99_ms: f64,
    /// Posts per second of the fanout-lag step.
    #[arg(long, default_value_t = 500.0)]
    lag_rate: f64,
    /// Seconds of the fanout-lag step.
    #[arg(long, default_value_t = 20.0)]
    lag_secs: f64,
    /// Authors (the most followed) and posts each, for fanout throughput. Enough posts
    /// that delivering them takes longer than sending them (with 5 each, the deliveries
    /// were done before the first read of the counter).
    #[arg(long, default_value_t = 20)]
    fanout_authors: usize,
    #[arg(long, default_value_t = 25)]
    fanout_rounds: usize,
    /// Where the report (report.json) and plot (plot.svg) go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// A short run for CI: tiny population, short steps, two steps per search, and last
    /// a tour of every public route (a failed and a successful login included), each of
    /// which must answer as it should.
    #[arg(long)]
    smoke: bool,
    /// One step of `--mix` at this rate for `--step-secs`, instead of the whole scenario.
    #[arg(long)]
    rate: Option<f64>,
}

impl Args {
    fn smoke(&mut self) {
        self.users = self.users.min(60);
        self.median_follows = self.median_follows.min(5.0);
        self.posts_each = self.posts_each.min(2);
        self.threshold = self.threshold.min(20);
        self.timeline_cap = self.timeline_cap.min(50);
        // Two steps of 200 and 400 requests: every operation of the mix is drawn.
        self.from = self.from.min(100.0);
        self.factor = 2.0;
        self.max_rate = self.max_rate.min(200.0);
        self.step_secs = self.step_secs.min(2.0);
        self.lag_rate = self.lag_rate.min(20.0);
        self.lag_secs = self.lag_secs.min(2.0);
        self.fanout_authors = self.fanout_authors.min(3);
        self.fanout_rounds = self.fanout_rounds.min(2);
        self.settle_timeout_secs = self.settle_timeout_secs.min(120.0);
        // A debug build on a busy CI machine: only behaviour is checked.
        self.p99_ms = self.p99_ms.max(1000.0);
        self.compose_p99_ms = self.compose_p99_ms.max(1000.0);
    }
}

/// A `chirp all` of the benchmark's own, stopped (and its data removed) when dropped.
struct Spawned {
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

async fn spawn(args: &Args) -> anyhow::Result<(String, Spawned)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = tempfile::Builder::new().prefix("chirp-bench-").tempdir()?;
    std::fs::create_dir_all(&args.out)?;
    let log = std::fs::File::create(args.out.join("chirp.log"))?;
    let mut child = tokio::process::Command::new(&args.spawn)
        .arg("all")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--celebrity-threshold", &args.threshold.to_string()])
        .args(["--timeline-cap", &args.timeline_cap.to_string()])
        // The run outlasts the default 15-minute access tokens.
        .args(["--access-token-ttl-secs", "86400"])
        .arg("--insecure-fast-hashing")
        .env("RUST_LOG", "warn")
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", args.spawn.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "{} exited ({status}); see {}",
                args.spawn.display(),
                args.out.join("chirp.log").display()
            );
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "{} did not become ready",
            args.spawn.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((base, Spawned { child, _dir: dir }))
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "memory_gib": (mem_kb as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "os": std::env::consts::OS,
    })
}

fn latency_series(name: &str, s: &Saturation, op: Op) -> Series {
    Series {
        name: name.to_owned(),
        points: s
            .steps
            .iter()
            .filter_map(|st| st.ops.get(&op).map(|o| (st.rate, o.latency.p99_ms)))
            .collect(),
    }
}

/// One thread: the load generator shares the machine's cores with what it measures, and
/// at the rates measured here one thread keeps up, without the wake-ups between threads
/// that a multi-threaded runtime spends on every request.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.smoke {
        args.smoke();
    }
    std::fs::create_dir_all(&args.out)?;
    let (base, spawned) = match &args.target {
        Some(t) => (t.clone(), None),
        None => {
            let (b, s) = spawn(&args).await?;
            (b, Some(s))
        }
    };
    let pid = spawned.as_ref().and_then(|s| s.child.id());
    let metrics_urls = if args.metrics_urls.is_empty() {
        vec![format!("{base}/metrics")]
    } else {
        args.metrics_urls.clone()
    };
    let target = Target::new(&base, args.connections)?;
    eprintln!(
        "measuring {base} (metrics from {})",
        metrics_urls.join(", ")
    );

    // The population.
    let plan = Plan::new(Shape {
        users: args.users,
        median_follows: args.median_follows,
        threshold: args.threshold,
        seed: 7,
    });
    let rss_before = pid.and_then(rss);
    let tag = format!(
        "b{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
            % 1_000_000
    );
    let built = Instant::now();
    let follows = plan.follow_count();
    let celebrity_followers = plan.followers[plan.celebrity as usize].len();
    let top = plan
        .most_followed()
        .first()
        .map(|u| plan.followers[*u as usize].len())
        .unwrap_or(0);
    let pop =
        Arc::new(client::build(&target, plan, args.posts_each, &tag, args.concurrency).await?);
    let build_secs = built.elapsed().as_secs_f64();
    // Let fanout finish the population's posts before anything is measured.
    tokio::time::sleep(Duration::from_secs(if args.smoke { 3 } else { 5 })).await;
    // Waits until every consumer has handled what is in the log, up to `timeout_secs`.
    let caught_up = |what: &'static str, timeout_secs: f64| {
        let (target, urls) = (&target, &metrics_urls);
        let timeout = Duration::from_secs_f64(timeout_secs);
        async move {
            let waited = fanout::drained(target, urls, fanout::LAG_STEADY, timeout).await?;
            eprintln!(
                "{what}: consumers caught up (waited {:.1} s)",
                waited.as_secs_f64()
            );
            anyhow::Ok(waited)
        }
    };
    // And wait until every consumer has handled the population's events: a backlog's
    // work would be measured as the load's.
    let settle_secs = match caught_up("the population's events", args.settle_timeout_secs).await {
        Ok(waited) => Some(waited.as_secs_f64()),
        Err(e) => {
            eprintln!("measuring with the population's events not all handled: {e:#}");
            None
        }
    };
    let rss_after = pid.and_then(rss);
    let page = target.metrics(&metrics_urls).await?;
    let (entries, store_bytes) = match &args.redis_url {
        Some(url) => {
            let (e, b) = baseline::redis_footprint(url, &args.redis_prefix).await?;
            (e as f64, b as f64)
        }
        None => (
            client::sum_of(&page, "chirp_timeline_entries"),
            client::sum_of(&page, "chirp_timeline_bytes"),
        ),
    };
    eprintln!(
        "home timelines hold {entries:.0} entries in {store_bytes:.0} bytes ({:.1} per entry)",
        store_bytes / entries.max(1.0)
    );

    // Answers slower than a search's bound are shown in each step's slow windows.
    let load = |mix: Mix, lag: Option<LagSampling>, bound_ms: f64| Load {
        target: target.clone(),
        pop: pop.clone(),
        mix,
        lag,
        page: 10,
        slow: Duration::from_secs_f64(bound_ms / 1000.0),
    };

    // One step only, when asked (for profiling, or a quick look).
    if let Some(rate) = args.rate {
        let r = run::step(
            &load(args.mix.clone(), None, args.p99_ms),
            rate,
            Duration::from_secs_f64(args.step_secs),
        )
        .await;
        println!("{}", serde_json::to_string_pretty(&r)?);
        drop(spawned);
        return Ok(());
    }

    // Baselines: the HTTP floor and the raw store.
    let floor = run::saturate(
        &load(Mix::only(Op::Floor), None, args.p99_ms),
        args.from,
        args.factor,
        args.max_rate,
        args.step_secs,
        args.p99_ms,
        "floor",
    )
    .await;
    let store = match &args.redis_url {
        Some(url) => {
            baseline::redis_store(url, args.users.min(2000), args.timeline_cap, args.step_secs)
                .await?
        }
        None => {
            baseline::memory_store(args.users, args.timeline_cap, args.step_secs.min(5.0)).await
        }
    };
    eprintln!(
        "raw store ({}): {:.0} page reads/s, p99 {:.3} ms",
        store.store, store.reads_per_sec, store.latency.p99_ms
    );

    // The social-network mix, then composing alone.
    let mixed = run::saturate(
        &load(args.mix.clone(), None, args.p99_ms),
        args.from,
        args.factor,
        args.max_rate,
        args.step_secs,
        args.p99_ms,
        "mix",
    )
    .await;
    let compose = run::saturate(
        &load(Mix::only(Op::Compose), None, args.compose_p99_ms),
        (args.from / 4.0).max(10.0),
        args.factor,
        args.max_rate,
        args.step_secs,
        args.compose_p99_ms,
        "compose",
    )
    .await;

    // Fanout throughput, and the fanout lag at a fixed posting rate; each once the
    // consumers have caught up with what the steps before it left them (a saturated
    // compose step leaves a backlog), else not measured.
    let drain = |step: &'static str| async move {
        caught_up(step, args.drain_timeout_secs).await.map_err(|e| {
            let e = format!("{step} not measured: {e:#}");
            eprintln!("{e}");
            e
        })
    };
    let fan = match drain("fanout throughput").await {
        Ok(_) => Ok(fanout::throughput(
            &target,
            &metrics_urls,
            &pop,
            args.fanout_authors,
            args.fanout_rounds,
        )
        .await?),
        Err(e) => Err(e),
    };
    if let Ok(fan) = &fan {
        eprintln!(
            "fanout: {} deliveries in {:.2} s: {:.0}/s{}",
            fan.deliveries,
            fan.secs,
            fan.deliveries_per_sec,
            if fan.complete { "" } else { " (incomplete)" }
        );
    }
    let sampling = LagSampling {
        every: ((args.lag_rate / 25.0).round() as u64).max(1),
        followers: 2,
        poll_min: Duration::from_millis(5),
        poll_max: Duration::from_millis(250),
        polls_in_flight: 8,
        timeout: Duration::from_secs(10),
    };
    let lag = match drain("fanout lag").await {
        Ok(_) => Ok(run::step(
            &load(Mix::only(Op::Compose), Some(sampling), args.compose_p99_ms),
            args.lag_rate,
            Duration::from_secs_f64(args.lag_secs),
        )
        .await),
        Err(e) => Err(e),
    };
    let lag_summary = lag.as_ref().ok().and_then(|l| l.lag.clone());
    if let Some(l) = &lag_summary {
        eprintln!(
            "fanout lag at {} posts/s: p50 {:.1} ms, p99 {:.1} ms ({} samples, {} timeouts; the probes read {:.0} home timelines/s)",
            args.lag_rate, l.latency.p50_ms, l.latency.p99_ms, l.samples, l.timeouts, l.polls_per_sec
        );
    }

    // Every public route, late in the run so that dashboards looking at the last minute
    // see each of them.
    let tour = if args.smoke {
        let t = tour::run(&base, &tag, 2).await?;
        eprintln!("{}", t.summary());
        Some(t)
    } else {
        None
    };

    // The report.
    let home_rate = |s: &Saturation| s.sustained.map(|r| r * args.mix.share(Op::Home));
    let home_p99 = mixed
        .steps
        .iter()
        .filter(|st| Some(st.rate) == mixed.sustained)
        .find_map(|st| st.ops.get(&Op::Home).map(|o| o.latency.p99_ms));
    let bytes_per_entry = if entries > 0.0 && store_bytes > 0.0 {
        Some(store_bytes / entries)
    } else {
        None
    };
    let rss_per_entry = match (rss_before, rss_after) {
        (Some(b), Some(a)) if entries > 0.0 => Some((a.saturating_sub(b)) as f64 / entries),
        _ => None,
    };
    let met = |v: Option<f64>, ok: &dyn Fn(f64) -> bool| v.map(ok);
    let targets = json!([
        {"what": "home timeline reads/s sustained (p99 within bound)", "target": ">= 10000",
         "measured": home_rate(&mixed), "met": met(home_rate(&mixed), &|v| v >= 10_000.0)},
        {"what": "home timeline p99 at that rate (ms)", "target": "<= 20",
         "measured": home_p99, "met": met(home_p99, &|v| v <= 20.0)},
        {"what": "posts/s sustained (compose only)", "target": ">= 2000",
         "measured": compose.sustained, "met": met(compose.sustained, &|v| v >= 2_000.0)},
        {"what": "fanout deliveries/s", "target": ">= 200000",
         "measured": fan.as_ref().ok().map(|f| f.deliveries_per_sec),
         "met": fan.as_ref().ok().map(|f| f.deliveries_per_sec >= 200_000.0)},
        {"what": format!("fanout lag p99 at {} posts/s (ms)", args.lag_rate), "target": "<= 500",
         "measured": lag_summary.as_ref().map(|l| l.latency.p99_ms),
         "met": lag_summary.as_ref().map(|l| l.latency.p99_ms <= 500.0 && l.timeouts == 0)},
        {"what": "bytes held per home-timeline entry (store's own count)", "target": "<= 32",
         "measured": bytes_per_entry, "met": met(bytes_per_entry, &|v| v <= 32.0)},
    ]);
    let report = json!({
        "target": base,
        "spawned": spawned.is_some(),
        "machine": machine(),
        "settings": {
            "users": args.users, "median_follows": args.median_follows,
            "posts_each": args.posts_each, "threshold": args.threshold,
            "timeline_cap": args.timeline_cap, "mix": args.mix.to_string(),
            "step_secs": args.step_secs, "factor": args.factor, "p99_ms": args.p99_ms,
            "compose_p99_ms": args.compose_p99_ms, "smoke": args.smoke,
        },
        "population": {
            "users": pop.members.len(), "follows": follows,
            "celebrity_followers": celebrity_followers, "most_followed_other": top,
            "posts": pop.members.len() * args.posts_each, "build_secs": build_secs,
            "settle_secs": settle_secs,
        },
        "targets": targets,
        "baselines": { "http_floor": floor, "raw_store": store },
        "mix": mixed,
        "compose": compose,
        "fanout": section(&fan)?,
        "fanout_lag": section(&lag)?,
        "tour": tour,
        "memory": {
            "timeline_entries": entries, "store_bytes": store_bytes,
            "bytes_per_entry": bytes_per_entry,
            "rss_before_population": rss_before, "rss_after_population": rss_after,
            "rss_growth_per_entry": rss_per_entry,
        },
    });
    let report_path = args.out.join("report.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)? + "\n")?;

    let mut latency = vec![latency_series("floor (GET /healthz)", &floor, Op::Floor)];
    for op in args.mix.ops() {
        latency.push(latency_series(&format!("{} (mix)", op.name()), &mixed, op));
    }
    latency.push(latency_series("compose (alone)", &compose, Op::Compose));
    let lag_series: Vec<Series> = lag_summary
        .iter()
        .map(|l| Series {
            name: format!("{} posts/s", args.lag_rate),
            points: l.cdf.clone(),
        })
        .collect();
    let plot_path = args.out.join("plot.svg");
    std::fs::write(&plot_path, plot::svg(&latency, &lag_series))?;
    println!("{}", serde_json::to_string_pretty(&report["targets"])?);
    eprintln!(
        "report: {}, plot: {}",
        report_path.display(),
        plot_path.display()
    );
    drop(spawned);
    // A step not measured, or a route of the tour that answered otherwise, fails the
    // run, once its report is written.
    let unmeasured: Vec<&str> = [fan.as_ref().err(), lag.as_ref().err()]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    anyhow::ensure!(unmeasured.is_empty(), "{}", unmeasured.join("; "));
    if let Some(t) = &tour {
        anyhow::ensure!(t.unexpected.is_empty(), "{}", t.summary());
    }
    Ok(())
}

/// A step's section of the report: its result, or why it was not measured.
fn section<T: serde::Serialize>(result: &Result<T, String>) -> anyhow::Result<serde_json::Value> {
    Ok(match result {
        Ok(r) => serde_json::to_value(r)?,
        Err(e) => json!({ "error": e }),
    })
}
