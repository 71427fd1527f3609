//! Each test: a stack, a population (authors, and followers who follow them all), posts
//! written steadily through NGINX while one part of the stack fails and comes back, then
//! the check that every acknowledged post is in every follower's home exactly once.

use std::time::{Duration, Instant};

use crate::stack::*;

/// One post every this often, from the authors in turn.
const PACE: Duration = Duration::from_millis(40);

/// How long delivery may take after the last write: a killed member's partitions wait
/// out its session (6 s), or, on a broker that does not rebalance again (tansu), the
/// restarted member joins afresh after `REJOIN_AFTER` (8 s), then a round of the join
/// (tansu pauses 3 s in it); a part that was down is retried with backoff of at most
/// 5 s; then the backlog is delivered. Measured here: at most 10 s after the last step.
const SETTLE: Duration = Duration::from_secs(20);

/// The write path is the posts store and its outbox: fanout, Kafka and Redis failing
/// never refuse a post.
fn assert_nothing_refused(out: &Outcome) {
    assert!(
        out.refused.is_empty(),
        "posts were refused while a downstream part was down: {:?}",
        out.refused
    );
    assert!(
        out.acked.len() > 50,
        "too few posts to tell: {}",
        out.acked.len()
    );
}

/// How many authors post, how many followers follow them all, how many fanout processes
/// share the group.
struct Shape {
    authors: usize,
    followers: usize,
    fanouts: usize,
}

const ONE_FANOUT: Shape = Shape {
    authors: 4,
    followers: 5,
    fanouts: 1,
};

/// Starts a stack of its own, with authors and followers whose timelines are warm (what
/// reaches them from then on, fanout delivers: a cold timeline would be rebuilt from the
/// posts store on its first read and hide a lost delivery); writes posts steadily while
/// `steps` run (each: wait, then `scripts/stack.sh VERB PART`) and `tail_secs` after;
/// then checks that none was refused and that every one is in every follower's home
/// exactly once. Returns the stack, the number of followers and what the writer saw.
async fn posts_survive(
    name: &str,
    shape: Shape,
    steps: &[(u64, &str, &str)],
    tail_secs: u64,
) -> (Stack, usize, Outcome) {
    let stack = Stack::up(name, shape.fanouts).await;
    let (authors, followers) = population(&stack, shape.authors, shape.followers).await;
    read_every_home(&stack, &followers).await;
    let writer = Writer::start(&stack, &authors, PACE);
    let mut mended = Instant::now();
    for (after_secs, verb, part) in steps {
        tokio::time::sleep(Duration::from_secs(*after_secs)).await;
        stack.ctl(verb, part).await;
        mended = Instant::now();
    }
    tokio::time::sleep(Duration::from_secs(tail_secs)).await;
    let out = writer.finish().await;
    let stopped = Instant::now();
    assert_nothing_refused(&out);
    let delivered = every_post_once_in_every_home(&stack, &followers, &out.acked, SETTLE).await;
    eprintln!(
        "{name}: every post in every home {:?} after the last step, {:?} after the last write",
        delivered - mended,
        delivered.saturating_duration_since(stopped),
    );
    (stack, followers.len(), out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_process_killed_mid_stream_loses_nothing() {
    let _turn = TURN.lock().await;
    posts_survive(
        "fanout-kill",
        ONE_FANOUT,
        &[(2, "kill", "fanout"), (3, "start", "fanout")],
        2,
    )
    .await;
}

/// The broker holds events nobody has consumed yet when it stops (the fanout process is
/// stopped first, so that they pile up), and must still have them when it starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kafka_broker_stopped_for_seconds_loses_nothing() {
    let _turn = TURN.lock().await;
    posts_survive(
        "kafka-stop",
        ONE_FANOUT,
        &[
            (2, "stop", "fanout"),
            (2, "stop", "kafka"),
            (4, "start", "kafka"),
            (1, "start", "fanout"),
        ],
        2,
    )
    .await;
}

/// Redis keeps nothing on disk: it comes back empty, and every timeline is rebuilt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_rebuilds_every_timeline() {
    let _turn = TURN.lock().await;
    posts_survive(
        "redis-restart",
        ONE_FANOUT,
        &[(2, "stop", "redis"), (3, "start", "redis")],
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_fanout_processes_share_the_work_and_deliver_each_post_once() {
    let _turn = TURN.lock().await;
    // Posts are keyed by author: a dozen authors land on both halves of the partitions
    // but for a chance of 2 in 4,096.
    let shape = Shape {
        authors: 12,
        followers: 3,
        fanouts: 2,
    };
    let (stack, followers, out) = posts_survive("two-fanouts", shape, &[], 4).await;
    let first = stack
        .counter("FANOUT", "chirp_fanout_deliveries_total")
        .await;
    let second = stack
        .counter("FANOUT2", "chirp_fanout_deliveries_total")
        .await;
    assert!(
        first > 0.0 && second > 0.0,
        "both fanout processes deliver: {first} and {second}"
    );
    // Each post to its followers' homes and its author's own, by one process or the other.
    let expected = (out.acked.len() * (followers + 1)) as f64;
    assert_eq!(first + second, expected, "deliveries: {first} + {second}");
}
