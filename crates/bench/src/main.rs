//! `chirp-bench`: builds a population through the API, then measures, in one run and on
//! one machine: the HTTP floor and the raw timeline store (the baselines), the saturation
//! point of the social-network mix and of composing alone, fanout throughput, the fanout
//! lag at a fixed posting rate, the memory held per home-timeline entry, and the live
//! streams (delivery and notification lag on open streams, the memory of idle ones).
//! Writes a JSON report and an SVG plot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chirp_bench::client::{self, Target};
use chirp_bench::mix::{Mix, Op};
use chirp_bench::plan::{Plan, Shape};
use chirp_bench::run::{self, LagSampling, Load};
use chirp_bench::streams::{self, IdleResult, LagResult};
use chirp_bench::{baseline, fanout, saturation};
use clap::Parser;
use serde_json::json;

use crate::args::Args;
use crate::report::{plot_svg, section, targets_section};
use crate::spawned::{machine, resident, rss, spawn};

mod args;
mod report;
mod spawned;
mod tour;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let pid = spawned.as_ref().and_then(|s| s.pid());
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
    let (entries, store_bytes) = timeline_footprint(&args, &target, &metrics_urls).await?;

    // Answers slower than a search's bound are shown in each step's slow windows.
    let load = |mix: Mix, lag: Option<LagSampling>, bound_ms: f64| Load {
        target: target.clone(),
        pop: pop.clone(),
        mix,
        lag,
        page: 10,
        slow: Duration::from_secs_f64(bound_ms / 1000.0),
        server: pid,
    };

    // Only the live streams' figures, when asked.
    if args.streams_only {
        let (lag, idle) = live_streams(&args, &target, &pop, pid).await;
        let report = json!({
            "target": base, "machine": machine(),
            "settings": {"users": args.users, "threshold": args.threshold, "spawn": args.spawn},
            "streams": {"lag": section(&lag)?, "idle": section(&idle)?},
            "targets": streams_targets(&args, &lag, &idle),
        });
        let path = args.out.join("streams.json");
        std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
        println!("{}", serde_json::to_string_pretty(&report["targets"])?);
        eprintln!("report: {}", path.display());
        drop(spawned);
        return Ok(());
    }

    // One step only, when asked (for profiling, or a quick look); or rounds of the floor
    // and the mix at that rate, for what each request costs the server.
    if let Some(rate) = args.rate {
        let secs = Duration::from_secs_f64(args.step_secs);
        if args.cpu_rounds == 0 {
            let r = run::step(&load(args.mix.clone(), None, args.p99_ms), rate, secs).await;
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            let report = cpu_rounds(&args, rate, secs, |m| load(m, None, args.p99_ms)).await?;
            let path = args.out.join("cpu.json");
            std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
            println!("{}", serde_json::to_string_pretty(&report["summary"])?);
            eprintln!("report: {}", path.display());
        }
        drop(spawned);
        return Ok(());
    }

    // Baselines: the HTTP floor and the raw store.
    let floor = saturation::saturate(
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
    // On Redis, what fanout's deliveries are bound by.
    let inserts = match &args.redis_url {
        Some(url) => {
            let b = baseline::redis_inserts(url, args.users.min(2000), args.timeline_cap).await?;
            eprintln!(
                "raw inserts (redis, pipelines of {}): ZADD {:.0}/s, the timelines' insert script {:.0}/s",
                b.pipeline, b.zadd_per_sec, b.script_per_sec
            );
            Some(b)
        }
        None => None,
    };

    // The social-network mix, the engagement mix, then composing alone.
    let mixed = saturation::saturate(
        &load(args.mix.clone(), None, args.p99_ms),
        args.from,
        args.factor,
        args.max_rate,
        args.step_secs,
        args.p99_ms,
        "mix",
    )
    .await;
    let engaged = saturation::saturate(
        &load(args.engagement_mix.clone(), None, args.p99_ms),
        args.from,
        args.factor,
        args.max_rate,
        args.step_secs,
        args.p99_ms,
        "engagement",
    )
    .await;
    let compose = saturation::saturate(
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

    // The live streams: what idle ones cost, and how soon events reach open ones.
    let (stream_lag, idle) = live_streams(&args, &target, &pop, pid).await;

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
    let bytes_per_entry = if entries > 0.0 && store_bytes > 0.0 {
        Some(store_bytes / entries)
    } else {
        None
    };
    let rss_per_entry = match (rss_before, rss_after) {
        (Some(b), Some(a)) if entries > 0.0 => Some((a.saturating_sub(b)) as f64 / entries),
        _ => None,
    };
    let mut targets = if args.redis_url.is_some() {
        report::stack_targets_section(
            &floor,
            &mixed,
            &compose,
            &fan,
            lag_summary.as_ref(),
            bytes_per_entry,
            inserts.as_ref(),
            args.lag_rate,
        )
    } else {
        targets_section(
            &args,
            &mixed,
            &compose,
            &fan,
            lag_summary.as_ref(),
            bytes_per_entry,
        )
    };
    if let (Some(all), serde_json::Value::Array(more)) = (
        targets.as_array_mut(),
        streams_targets(&args, &stream_lag, &idle),
    ) {
        all.extend(more);
    }
    let report = json!({
        "target": base,
        "spawned": spawned.is_some(),
        "machine": machine(),
        "settings": {
            "users": args.users, "median_follows": args.median_follows,
            "posts_each": args.posts_each, "threshold": args.threshold,
            "timeline_cap": args.timeline_cap, "mix": args.mix.to_string(),
            "engagement_mix": args.engagement_mix.to_string(),
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
        "baselines": { "http_floor": floor, "raw_store": store, "redis_inserts": inserts },
        "mix": mixed,
        "engagement": engaged,
        "compose": compose,
        "fanout": section(&fan)?,
        "fanout_lag": section(&lag)?,
        "streams": {"lag": section(&stream_lag)?, "idle": section(&idle)?},
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

    let plot_path = args.out.join("plot.svg");
    let svg = plot_svg(
        &args,
        &floor,
        &mixed,
        &engaged,
        &compose,
        lag_summary.as_ref(),
    );
    std::fs::write(&plot_path, svg)?;
    println!("{}", serde_json::to_string_pretty(&report["targets"])?);
    eprintln!(
        "report: {}, plot: {}",
        report_path.display(),
        plot_path.display()
    );
    drop(spawned);
    // A step not measured, or a route of the tour that answered otherwise, fails the
    // run, once its report is written.
    let unmeasured: Vec<&str> = [
        fan.as_ref().err(),
        lag.as_ref().err(),
        stream_lag.as_ref().err(),
        idle.as_ref().err(),
    ]
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

/// The live streams' figures: first the memory `--idle-streams` idle streams cost (before
/// the lag step's streams and load leave anything behind in the server's heap), twice:
/// on the process as the population left it, and again once their readers are forgotten;
/// then, once they are again, the lag step. Each, or why it was not measured.
async fn live_streams(
    args: &Args,
    target: &Target,
    pop: &client::Population,
    pid: Option<u32>,
) -> (Result<LagResult, String>, Result<IdleResult, String>) {
    let settle = Duration::from_secs(if args.smoke { 1 } else { 5 });
    // Without a process to read the memory of (a stack), a hundred streams only show
    // that they open.
    let idle_streams = if pid.is_some() {
        args.idle_streams
    } else {
        args.idle_streams.min(100)
    };
    let measure = || async {
        streams::idle(target, pop, idle_streams, settle, || pid.and_then(resident))
            .await
            .map_err(|e| format!("idle streams not measured: {e:#}"))
    };
    let say = |what: &str, idle: &Result<IdleResult, String>| {
        match idle {
        Ok(i) => eprintln!(
            "{} idle streams{what}: {} per stream, {} in all (server's resident memory; anonymous: {})",
            i.streams,
            i.bytes_per_stream
                .map_or("?".into(), |b| format!("{b:.0} bytes")),
            i.mib_total.map_or("?".into(), |m| format!("{m:.1} MiB")),
            i.anon_mib_total.map_or("?".into(), |m| format!("{m:.1} MiB")),
        ),
        Err(e) => eprintln!("{e}"),
    }
    };
    let mut idle = measure().await;
    say("", &idle);
    // The idle streams' readers are kept for the replay of a reconnection for 30 s
    // after they close (NotificationService's GRACE), and get home items worked out for
    // them until then: the next step waits them out (a smoke run judges no figure).
    let grace = if args.smoke {
        settle
    } else {
        Duration::from_secs(31)
    };
    tokio::time::sleep(grace).await;
    // The same streams again, on the process the first opening warmed.
    let warm = measure().await;
    say(" again", &warm);
    if let (Ok(first), Ok(warm)) = (&mut idle, warm) {
        first.warm = Some(Box::new(warm));
    }
    tokio::time::sleep(grace).await;
    let settings = streams::LagSettings {
        home_streams: args.streams,
        notification_streams: args.notification_streams,
        posts_per_sec: args.stream_rate,
        likes_per_sec: args.like_rate,
        duration: Duration::from_secs_f64(args.stream_secs),
        grace: Duration::from_secs(5),
    };
    let lag = streams::lag(target, pop, settings)
        .await
        .map_err(|e| format!("stream lag not measured: {e:#}"));
    match &lag {
        Ok(l) => eprintln!(
            "streams at {:.0} posts/s and {:.0} likes/s: delivery p50 {:.1} ms, p99 {:.1} ms ({} of {} missing); notification p50 {:.1} ms, p99 {:.1} ms ({} of {} missing); {} failed requests, {} streams lost",
            l.posts_per_sec, l.likes_per_sec, l.delivery.p50_ms, l.delivery.p99_ms,
            l.deliveries_missing, l.deliveries_owed, l.notification.p50_ms,
            l.notification.p99_ms, l.notifications_missing, l.notifications_owed,
            l.failed_requests, l.streams_lost
        ),
        Err(e) => eprintln!("{e}"),
    }
    (lag, idle)
}

/// The live streams' rows of the report's targets.
fn streams_targets(
    args: &Args,
    lag: &Result<LagResult, String>,
    idle: &Result<IdleResult, String>,
) -> serde_json::Value {
    let lag = lag.as_ref().ok();
    let complete = |l: &LagResult| {
        l.deliveries_missing == 0 && l.notifications_missing == 0 && l.failed_requests == 0
    };
    // Scaled to 10,000 streams, the figure the target names.
    let per_10k = idle
        .as_ref()
        .ok()
        .and_then(|i| i.bytes_per_stream)
        .map(|b| b * 10_000.0 / (1024.0 * 1024.0));
    json!([
        {"what": format!("stream delivery lag p99 at {} posts/s, {} home streams (ms)", args.stream_rate, args.streams),
         "target": "<= 100", "measured": lag.map(|l| l.delivery.p99_ms),
         "met": lag.map(|l| l.delivery.p99_ms <= 100.0 && complete(l))},
        {"what": "notification lag p99, action to the event on the stream (ms)",
         "target": "<= 100", "measured": lag.map(|l| l.notification.p99_ms),
         "met": lag.map(|l| l.notification.p99_ms <= 100.0 && complete(l))},
        {"what": "memory of 10,000 idle streams (MiB, server's resident memory)",
         "target": "<= 50", "measured": per_10k, "met": per_10k.map(|m| m <= 50.0)},
    ])
}

/// `--cpu-rounds` rounds of a step of the HTTP floor then one of `--mix`, both at `rate`:
/// the server's CPU time per request of each (the median over the rounds), and the mix's
/// request in floor requests. Alternating the two in one run puts whatever else the
/// machine does over the run on both alike.
async fn cpu_rounds(
    args: &Args,
    rate: f64,
    secs: Duration,
    load: impl Fn(Mix) -> Load,
) -> anyhow::Result<serde_json::Value> {
    let (floor, mixed) = (load(Mix::only(Op::Floor)), load(args.mix.clone()));
    anyhow::ensure!(
        floor.server.is_some(),
        "--cpu-rounds measures a server the benchmark starts itself (no --target)"
    );
    let (mut floor_steps, mut mix_steps) = (Vec::new(), Vec::new());
    for round in 1..=args.cpu_rounds {
        for (what, load, steps) in [
            ("floor", &floor, &mut floor_steps),
            ("mix", &mixed, &mut mix_steps),
        ] {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let r = run::step(load, rate, secs).await;
            eprintln!(
                "round {round} {what:<5} {rate:.0}/s: achieved {:.0}/s, {:.4} ms of server CPU per request",
                r.achieved,
                r.server_cpu_ms_per_request.unwrap_or(f64::NAN)
            );
            steps.push(r);
        }
    }
    let median = |steps: &[run::StepResult]| {
        let mut v: Vec<f64> = steps
            .iter()
            .filter_map(|s| s.server_cpu_ms_per_request)
            .collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let (f, m) = (median(&floor_steps), median(&mix_steps));
    Ok(json!({
        "settings": {
            "rate": rate, "step_secs": args.step_secs, "rounds": args.cpu_rounds,
            "mix": args.mix.to_string(), "users": args.users, "spawn": args.spawn,
        },
        "summary": {
            "floor_cpu_ms_per_request": f,
            "mix_cpu_ms_per_request": m,
            "mix_request_in_floor_requests": f.zip(m).map(|(f, m)| m / f),
        },
        "floor": floor_steps,
        "mix": mix_steps,
    }))
}

/// How many entries the home timelines hold, and in how many bytes: Redis's own count with
/// `--redis-url`, else TimelineService's, from the metrics pages.
async fn timeline_footprint(
    args: &Args,
    target: &Target,
    metrics_urls: &[String],
) -> anyhow::Result<(f64, f64)> {
    let page = target.metrics(metrics_urls).await?;
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
    Ok((entries, store_bytes))
}
