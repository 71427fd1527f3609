//! From a run's results to the report's targets, the sections of steps that may not have
//! been measured, and the plot.

use chirp_bench::baseline::InsertBaseline;
use chirp_bench::fanout::FanoutResult;
use chirp_bench::mix::Op;
use chirp_bench::plot::{self, Series};
use chirp_bench::run::Lag;
use chirp_bench::saturation::Saturation;
use serde_json::json;

use crate::args::Args;

/// A step's section of the report: its result, or why it was not measured.
pub fn section<T: serde::Serialize>(
    result: &Result<T, String>,
) -> anyhow::Result<serde_json::Value> {
    Ok(match result {
        Ok(r) => serde_json::to_value(r)?,
        Err(e) => json!({ "error": e }),
    })
}

/// The report's targets: each figure promised, what was measured, and whether it was met
/// (null when it was not measured).
pub fn targets_section(
    args: &Args,
    mixed: &Saturation,
    compose: &Saturation,
    fan: &Result<FanoutResult, String>,
    lag: Option<&Lag>,
    bytes_per_entry: Option<f64>,
) -> serde_json::Value {
    let home_rate = |s: &Saturation| s.sustained.map(|r| r * args.mix.share(Op::Home));
    let home_p99 = mixed
        .steps
        .iter()
        .filter(|st| Some(st.rate) == mixed.sustained)
        .find_map(|st| st.ops.get(&Op::Home).map(|o| o.latency.p99_ms));
    let met = |v: Option<f64>, ok: &dyn Fn(f64) -> bool| v.map(ok);
    json!([
        {"what": "home timeline reads/s sustained (p99 within bound)", "target": ">= 10000",
         "measured": home_rate(mixed), "met": met(home_rate(mixed), &|v| v >= 10_000.0)},
        {"what": "home timeline p99 at that rate (ms)", "target": "<= 20",
         "measured": home_p99, "met": met(home_p99, &|v| v <= 20.0)},
        {"what": "posts/s sustained (compose only)", "target": ">= 2000",
         "measured": compose.sustained, "met": met(compose.sustained, &|v| v >= 2_000.0)},
        {"what": "fanout deliveries/s", "target": ">= 200000",
         "measured": fan.as_ref().ok().map(|f| f.deliveries_per_sec),
         "met": fan.as_ref().ok().map(|f| f.deliveries_per_sec >= 200_000.0)},
        {"what": format!("fanout lag p99 at {} posts/s (ms)", args.lag_rate), "target": "<= 500",
         "measured": lag.map(|l| l.latency.p99_ms),
         "met": lag.map(|l| l.latency.p99_ms <= 500.0 && l.timeouts == 0)},
        {"what": "bytes held per home-timeline entry (store's own count)", "target": "<= 32",
         "measured": bytes_per_entry, "met": met(bytes_per_entry, &|v| v <= 32.0)},
    ])
}

/// The deployed shape's targets (a run with `--redis-url`: the local stack), each against
/// a baseline of the same run where it has one: the mix against the HTTP floor through the
/// same gateway, fanout against pipelined `ZADD` on the same Redis.
#[allow(clippy::too_many_arguments)]
pub fn stack_targets_section(
    floor: &Saturation,
    mixed: &Saturation,
    compose: &Saturation,
    fan: &Result<FanoutResult, String>,
    lag: Option<&Lag>,
    bytes_per_entry: Option<f64>,
    inserts: Option<&InsertBaseline>,
    lag_rate: f64,
) -> serde_json::Value {
    let met = |v: Option<f64>, ok: &dyn Fn(f64) -> bool| v.map(ok);
    let of_floor = match (mixed.sustained, floor.sustained) {
        (Some(m), Some(f)) if f > 0.0 => Some(m / f),
        _ => None,
    };
    let of_zadd = match (fan.as_ref().ok(), inserts) {
        (Some(f), Some(i)) if i.zadd_per_sec > 0.0 => Some(f.deliveries_per_sec / i.zadd_per_sec),
        _ => None,
    };
    json!([
        {"what": "the mix held (every operation's p99 <= 20 ms), over the HTTP floor held through the same gateway",
         "target": ">= 0.10", "measured": of_floor, "met": met(of_floor, &|v| v >= 0.10)},
        {"what": "the mix held (requests/s)", "target": ">= 2000",
         "measured": mixed.sustained, "met": met(mixed.sustained, &|v| v >= 2_000.0)},
        {"what": "posts/s held (compose only, p99 <= 100 ms)", "target": ">= 2000",
         "measured": compose.sustained, "met": met(compose.sustained, &|v| v >= 2_000.0)},
        {"what": "fanout deliveries/s over pipelined ZADD on the same Redis", "target": ">= 0.5",
         "measured": of_zadd, "met": met(of_zadd, &|v| v >= 0.5)},
        {"what": format!("fanout lag p99 at {lag_rate} posts/s (ms)"), "target": "<= 500",
         "measured": lag.map(|l| l.latency.p99_ms),
         "met": lag.map(|l| l.latency.p99_ms <= 500.0 && l.timeouts == 0)},
        {"what": "bytes per home-timeline entry (Redis MEMORY USAGE over ZCARD)", "target": "<= 24",
         "measured": bytes_per_entry, "met": met(bytes_per_entry, &|v| v <= 24.0)},
    ])
}

/// The plot: each search's p99 latency by rate, and the fanout lag's distribution.
pub fn plot_svg(
    args: &Args,
    floor: &Saturation,
    mixed: &Saturation,
    engaged: &Saturation,
    compose: &Saturation,
    lag: Option<&Lag>,
) -> String {
    let mut latency = vec![latency_series("floor (GET /healthz)", floor, Op::Floor)];
    for op in args.mix.ops() {
        latency.push(latency_series(&format!("{} (mix)", op.name()), mixed, op));
    }
    for op in args.engagement_mix.ops() {
        let name = format!("{} (engagement)", op.name());
        latency.push(latency_series(&name, engaged, op));
    }
    latency.push(latency_series("compose (alone)", compose, Op::Compose));
    let lag_series: Vec<Series> = lag
        .iter()
        .map(|l| Series {
            name: format!("{} posts/s", args.lag_rate),
            points: l.cdf.clone(),
        })
        .collect();
    plot::svg(&latency, &lag_series)
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
