//! The `chirp all` the benchmark starts for itself when it is given no `--target`, and what
//! `/proc` says of it (its memory) and of the machine, for the report.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::args::Args;
use chirp_bench::streams::Resident;

/// A `chirp all` of the benchmark's own, stopped (and its data removed) when dropped.
pub struct Spawned {
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Spawned {
    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Every limit per account, user and address off: the load is one client, on one
/// address, and far faster than any person.
const NO_LIMITS: [&str; 12] = [
    "--login-limit-per-account",
    "off",
    "--login-limit-per-address",
    "off",
    "--signup-limit-per-address",
    "off",
    "--request-limit-per-address",
    "off",
    "--write-limit-per-user",
    "off",
    "--write-limit-per-address",
    "off",
];

/// Starts `chirp all` on a free loopback port (its output in `chirp.log` under `--out`)
/// and waits up to a minute for it to be ready: its base URL, and the process.
pub async fn spawn(args: &Args) -> anyhow::Result<(String, Spawned)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = tempfile::Builder::new().prefix("chirp-bench-").tempdir()?;
    std::fs::create_dir_all(&args.out)?;
    let log = std::fs::File::create(args.out.join("chirp.log"))?;
    let mut child = tokio::process::Command::new(&args.spawn)
        .arg("all")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--mastodon-listen", "off"])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--celebrity-threshold", &args.threshold.to_string()])
        .args(["--timeline-cap", &args.timeline_cap.to_string()])
        // The run outlasts the default 15-minute access tokens.
        .args(["--access-token-ttl-secs", "86400"])
        .arg("--insecure-fast-hashing")
        // The idle streams, beside the load's connections.
        .args([
            "--max-connections",
            &(args.idle_streams + args.connections + 1_000)
                .max(10_000)
                .to_string(),
        ])
        .args(NO_LIMITS)
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
pub fn rss(pid: u32) -> Option<u64> {
    resident(pid).map(|r| r.all)
}

/// A process's resident memory: all of it, and its anonymous part.
pub fn resident(pid: u32) -> Option<Resident> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some(Resident {
        all: field("VmRSS:")?,
        anonymous: field("RssAnon:")?,
    })
}

/// What the report says of the machine the run was on.
pub fn machine() -> serde_json::Value {
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
