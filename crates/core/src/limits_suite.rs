//! The behaviour every [`Limiter`] adapter must have: each case a test of its own, run
//! against each adapter (`memory`, `redis`, `redis_cluster`).

use std::sync::Arc;
use std::time::Duration;

use chirp_testkit::TestRedisPrefix;

use crate::deployed::redis::Redis;
use crate::deployed::redis_limiter::RedisLimiter;
use crate::limits::{Attempt, Limit, Limiter, MemoryLimiter};

async fn memory_limiter() -> ((), Arc<dyn Limiter>) {
    ((), Arc::new(MemoryLimiter::default()))
}

fn redis(urls: &str) -> (TestRedisPrefix, Arc<dyn Limiter>) {
    let prefix = TestRedisPrefix::on(urls);
    let redis = Redis::new(&prefix.url, &prefix.prefix).unwrap();
    (prefix, Arc::new(RedisLimiter::new(redis)))
}

async fn redis_limiter() -> (TestRedisPrefix, Arc<dyn Limiter>) {
    redis(&chirp_testkit::redis_url())
}

async fn redis_cluster_limiter() -> (TestRedisPrefix, Arc<dyn Limiter>) {
    redis(&chirp_testkit::redis_cluster_urls())
}

chirp_testkit::port_suite! {
    cases: [
        attempts_count_up_to_the_limit_then_wait_for_the_window,
        attempts_at_once_never_pass_the_limit,
        forgiven_and_cleared_attempts_stop_counting,
    ],
    adapters: {
        memory => memory_limiter,
        redis => redis_limiter,
        redis_cluster => redis_cluster_limiter,
    },
}

const LIMIT: Limit = Limit {
    attempts: 3,
    window: Duration::from_millis(1_000),
};

fn counted(a: &Attempt) -> u32 {
    match a {
        Attempt::Counted { count, .. } => *count,
        Attempt::Refused { .. } => 0,
    }
}

async fn attempts_count_up_to_the_limit_then_wait_for_the_window(l: &dyn Limiter) {
    for (at, want) in [(100, 1), (200, 2), (300, 3)] {
        assert_eq!(counted(&l.attempt("k", at, LIMIT).await.unwrap()), want);
    }
    assert_eq!(
        l.attempt("k", 400, LIMIT).await.unwrap(),
        Attempt::Refused { retry_at_ms: 1_100 }
    );
    // Another key is counted apart.
    assert_eq!(counted(&l.attempt("other", 400, LIMIT).await.unwrap()), 1);
    // Once the first attempt has left the window, one place is free again.
    match l.attempt("k", 1_100, LIMIT).await.unwrap() {
        Attempt::Counted {
            count,
            resets_at_ms,
            ..
        } => assert_eq!((count, resets_at_ms), (3, 1_200)),
        refused => panic!("{refused:?}"),
    }
    assert!(matches!(
        l.attempt("k", 1_150, LIMIT).await.unwrap(),
        Attempt::Refused { .. }
    ));
}

async fn attempts_at_once_never_pass_the_limit(l: &dyn Limiter) {
    let limit = Limit::new(10, Duration::from_secs(60));
    let attempts = (0..25).map(|_| l.attempt("crowded", 1_000, limit));
    let outcomes = futures::future::join_all(attempts).await;
    let passed = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Attempt::Counted { .. })))
        .count();
    assert_eq!(passed, 10);
}

async fn forgiven_and_cleared_attempts_stop_counting(l: &dyn Limiter) {
    let mut ids = Vec::new();
    for at in [100, 200, 300] {
        if let Attempt::Counted { id, .. } = l.attempt("k", at, LIMIT).await.unwrap() {
            ids.push(id);
        }
    }
    l.forgive("k", &ids[1]).await.unwrap();
    assert_eq!(counted(&l.attempt("k", 400, LIMIT).await.unwrap()), 3);
    l.clear("k").await.unwrap();
    assert_eq!(counted(&l.attempt("k", 500, LIMIT).await.unwrap()), 1);
}
