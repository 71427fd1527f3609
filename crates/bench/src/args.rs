//! The command line: every setting of a run, and the smaller ones `--smoke` puts in
//! their place.

use std::path::PathBuf;

use chirp_bench::mix::Mix;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "chirp-bench", version, about)]
pub struct Args {
    /// Base URL of the Chirp to measure (`chirp all`, or a stack's gateway). Without it,
    /// `--spawn` starts one.
    #[arg(long)]
    pub target: Option<String>,
    /// The `chirp` binary to start as `chirp all` (embedded defaults, a temporary data
    /// directory, fast password hashing, the threshold below).
    #[arg(long, default_value = "target/release/chirp")]
    pub spawn: PathBuf,
    /// A `/metrics` page of the measured system (repeat it for each process): the
    /// fanout figures read FanoutService's delivery counter, the waits last until every
    /// consumer's lag (`chirp_consumer_lag`) and every outbox's backlog
    /// (`chirp_outbox_backlog`) is 0, the memory figure (without `--redis-url`) reads
    /// TimelineService's footprint; each figure is summed over the pages [default:
    /// TARGET/metrics].
    #[arg(long = "metrics-url")]
    pub metrics_urls: Vec<String>,
    /// Redis of the measured system: the raw-store baseline reads sorted sets there and
    /// the memory figure is Redis's own. Without it, the in-process memory store.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// The key prefix of the measured system's Redis keys.
    #[arg(long, default_value = "chirp:")]
    pub redis_prefix: String,
    /// Users in the population.
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Median of how many users each one follows.
    #[arg(long, default_value_t = 25.0)]
    pub median_follows: f64,
    /// Posts each user makes while the population is built.
    #[arg(long, default_value_t = 3)]
    pub posts_each: usize,
    /// The server's hybrid-fanout threshold (passed to a spawned `chirp all`).
    #[arg(long, default_value_t = 2_000)]
    pub threshold: usize,
    /// The server's home-timeline cap (for the raw-store baseline).
    #[arg(long, default_value_t = 800)]
    pub timeline_cap: usize,
    /// Requests in flight while the population is built.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// At most this many connections to the target: requests beyond wait for one (the
    /// wait counts in their latency; the schedule does not slow down).
    #[arg(long, default_value_t = 1024)]
    pub connections: usize,
    /// How long a fanout step waits for the consumers to catch up with earlier steps
    /// before it is given up as not measured (seconds).
    #[arg(long, default_value_t = 120.0)]
    pub drain_timeout_secs: f64,
    /// How long to wait, once the population is built, for the consumers to handle its
    /// events (fanout's timelines for every follow and post, the search index) before
    /// anything is measured; after it, the run goes on and the report says it did not
    /// settle (seconds).
    #[arg(long, default_value_t = 1800.0)]
    pub settle_timeout_secs: f64,
    /// The mix of the main saturation search.
    #[arg(long, default_value = chirp_bench::mix::SOCIAL_NETWORK)]
    pub mix: Mix,
    /// The mix of the second saturation search, with what people do to posts.
    #[arg(long, default_value = chirp_bench::mix::ENGAGEMENT)]
    pub engagement_mix: Mix,
    /// First rate (requests/s) of each saturation search.
    #[arg(long, default_value_t = 1000.0)]
    pub from: f64,
    /// Each step's rate is the last one's times this.
    #[arg(long, default_value_t = 1.25)]
    pub factor: f64,
    /// No step above this rate.
    #[arg(long, default_value_t = 200_000.0)]
    pub max_rate: f64,
    /// Seconds per step.
    #[arg(long, default_value_t = 10.0)]
    pub step_secs: f64,
    /// A step holds while every operation's p99 is within this (ms).
    #[arg(long, default_value_t = 20.0)]
    pub p99_ms: f64,
    /// The same for the compose-only search.
    #[arg(long, default_value_t = 100.0)]
    pub compose_p99_ms: f64,
    /// Posts per second of the fanout-lag step.
    #[arg(long, default_value_t = 500.0)]
    pub lag_rate: f64,
    /// Seconds of the fanout-lag step.
    #[arg(long, default_value_t = 20.0)]
    pub lag_secs: f64,
    /// Authors (the most followed) and posts each, for fanout throughput. Enough posts
    /// that delivering them takes longer than sending them (with 5 each, the deliveries
    /// were done before the first read of the counter).
    #[arg(long, default_value_t = 20)]
    pub fanout_authors: usize,
    #[arg(long, default_value_t = 25)]
    pub fanout_rounds: usize,
    /// Home streams open during the stream-lag step (one per user).
    #[arg(long, default_value_t = 1_000)]
    pub streams: usize,
    /// Notification streams open during it (of other users, whose posts are liked).
    #[arg(long, default_value_t = 100)]
    pub notification_streams: usize,
    /// Posts per second of the stream-lag step.
    #[arg(long, default_value_t = 500.0)]
    pub stream_rate: f64,
    /// Likes per second of the stream-lag step.
    #[arg(long, default_value_t = 50.0)]
    pub like_rate: f64,
    /// Seconds of the stream-lag step.
    #[arg(long, default_value_t = 20.0)]
    pub stream_secs: f64,
    /// Idle streams opened at once for the memory they cost (the spawned server's
    /// connection limit is raised to hold them).
    #[arg(long, default_value_t = 10_000)]
    pub idle_streams: usize,
    /// Only the live streams' figures (idle memory twice, then the lag step), once the
    /// population is built, written to streams.json under `--out`.
    #[arg(long)]
    pub streams_only: bool,
    /// Where the report (report.json) and plot (plot.svg) go.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// A short run for CI: tiny population, short steps, two steps per search, and last
    /// a tour of every public route (a failed and a successful login included), each of
    /// which must answer as it should.
    #[arg(long)]
    pub smoke: bool,
    /// One step of `--mix` at this rate for `--step-secs`, instead of the whole scenario.
    #[arg(long)]
    pub rate: Option<f64>,
    /// With `--rate`: this many rounds of a step of the HTTP floor then a step of `--mix`,
    /// both at that rate, for the CPU time each request costs the server (which the
    /// benchmark must start itself), written to cpu.json under `--out`.
    #[arg(long, default_value_t = 0)]
    pub cpu_rounds: usize,
}

impl Args {
    /// Shrinks the run to the size of `--smoke`.
    pub fn smoke(&mut self) {
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
        self.streams = self.streams.min(10);
        self.notification_streams = self.notification_streams.min(3);
        self.stream_rate = self.stream_rate.min(20.0);
        self.like_rate = self.like_rate.min(5.0);
        self.stream_secs = self.stream_secs.min(2.0);
        self.idle_streams = self.idle_streams.min(50);
        self.settle_timeout_secs = self.settle_timeout_secs.min(120.0);
        // A debug build on a busy CI machine: only behaviour is checked.
        self.p99_ms = self.p99_ms.max(1000.0);
        self.compose_p99_ms = self.compose_p99_ms.max(1000.0);
    }
}
