//! The behaviour every [`TimelineStore`] adapter must have: each case a test of its own,
//! run against each adapter (`memory`, `redis`, `redis_cluster`).

use std::sync::Arc;

use chirp_core::deployed::redis::Redis;
use chirp_core::page::PageRequest;
use chirp_core::peers::TimelineEntry;
use chirp_core::Id;

use crate::adapters::memory::MemoryTimelines;
use crate::adapters::redis::RedisTimelines;
use crate::ports::TimelineStore;

/// A Redis handle on a prefix of the test's own (its keys deleted after the test).
fn redis(urls: &str) -> (chirp_testkit::TestRedisPrefix, Redis) {
    let prefix = chirp_testkit::TestRedisPrefix::on(urls);
    let redis = Redis::new(&prefix.url, &prefix.prefix).unwrap();
    (prefix, redis)
}

async fn memory_store() -> ((), Arc<dyn TimelineStore>) {
    ((), Arc::new(MemoryTimelines::default()))
}

async fn redis_store() -> (chirp_testkit::TestRedisPrefix, Arc<dyn TimelineStore>) {
    let (prefix, redis) = redis(&chirp_testkit::redis_url());
    (prefix, Arc::new(RedisTimelines::new(redis, None)))
}

async fn redis_cluster_store() -> (chirp_testkit::TestRedisPrefix, Arc<dyn TimelineStore>) {
    let (prefix, redis) = redis(&chirp_testkit::redis_cluster_urls());
    (prefix, Arc::new(RedisTimelines::new(redis, None)))
}

chirp_testkit::port_suite! {
    cases: [
        cold_timelines_ignore_writes,
        inserts_are_idempotent_sorted_and_capped,
        removals_by_post_and_author,
        a_rebuild_keeps_concurrent_writes_and_removals,
        deliveries_to_many_timelines_at_once,
        order_holds_over_the_whole_range_of_ids,
    ],
    adapters: {
        memory => memory_store,
        redis => redis_store,
        redis_cluster => redis_cluster_store,
    },
}

fn e(post: u64, author: u64) -> TimelineEntry {
    TimelineEntry {
        post: Id(post),
        author: Id(author),
    }
}

async fn warm(store: &dyn TimelineStore, user: Id) {
    store.begin_rebuild(user).await.unwrap();
    store.finish_rebuild(user, vec![], 10).await.unwrap();
}

async fn cold_timelines_ignore_writes(store: &dyn TimelineStore) {
    let u = Id(1);
    assert_eq!(store.page(u, PageRequest::first(10)).await.unwrap(), None);
    store.insert(&[u], &[e(5, 2)], 10).await.unwrap();
    assert_eq!(store.entries(u).await.unwrap(), None);
}

async fn inserts_are_idempotent_sorted_and_capped(store: &dyn TimelineStore) {
    let u = Id(2);
    warm(store, u).await;
    for p in [3, 9, 1, 7, 9, 5, 3] {
        store.insert(&[u], &[e(p, 100)], 4).await.unwrap();
    }
    let ids = store
        .page(u, PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids, [Id(9), Id(7), Id(5), Id(3)]);
    let next = store
        .page(
            u,
            PageRequest {
                limit: 2,
                before: Some(7),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next, [Id(5), Id(3)]);
    // A post newer than all, into a full timeline: in front, the oldest out.
    store.insert(&[u], &[e(11, 100)], 4).await.unwrap();
    let ids = store
        .page(u, PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids, [Id(11), Id(9), Id(7), Id(5)]);
}

async fn deliveries_to_many_timelines_at_once(store: &dyn TimelineStore) {
    let (a, b, cold) = (Id(5), Id(6), Id(7));
    warm(store, a).await;
    warm(store, b).await;
    let each = [
        (a, vec![e(20, 1), e(21, 2)]),
        (b, vec![e(21, 2)]),
        (cold, vec![e(20, 1)]),
    ];
    for _ in 0..2 {
        store.insert_each(&each, 10).await.unwrap();
    }
    assert_eq!(
        store.entries(a).await.unwrap().unwrap(),
        [e(21, 2), e(20, 1)]
    );
    assert_eq!(store.entries(b).await.unwrap().unwrap(), [e(21, 2)]);
    assert_eq!(
        store.entries(cold).await.unwrap(),
        None,
        "a cold timeline stays cold"
    );
    // Capped as one at a time.
    let many: Vec<TimelineEntry> = (30..40).map(|p| e(p, 3)).collect();
    store.insert_each(&[(b, many)], 4).await.unwrap();
    let ids = store
        .page(b, PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids, [Id(39), Id(38), Id(37), Id(36)]);
}

/// Ids whose bytes differ anywhere, the top bit and 0xff bytes included, in id order; a
/// page below an id excludes that id whatever its author.
async fn order_holds_over_the_whole_range_of_ids(store: &dyn TimelineStore) {
    let u = Id(8);
    warm(store, u).await;
    let posts = [
        u64::MAX - 1,
        1 << 63,
        (1 << 63) - 1,
        (1 << 56) + 0xff,
        0xff00,
        0xff,
        1,
    ];
    for (i, p) in posts.iter().rev().enumerate() {
        store
            .insert(&[u], &[e(*p, u64::MAX - i as u64)], 10)
            .await
            .unwrap();
    }
    let ids = store
        .page(u, PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids, posts.map(Id));
    let below = PageRequest {
        limit: 2,
        before: Some(1 << 63),
    };
    let ids = store.page(u, below).await.unwrap().unwrap();
    assert_eq!(ids, [Id((1 << 63) - 1), Id((1 << 56) + 0xff)]);
    store.remove_post(&[u], Id(0xff00)).await.unwrap();
    store.remove_author(u, Id(u64::MAX)).await.unwrap(); // the author of post 1
    let ids = store
        .page(u, PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ids,
        posts[..6]
            .iter()
            .copied()
            .filter(|p| *p != 0xff00)
            .map(Id)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        store.entries(u).await.unwrap().unwrap().last(),
        Some(&e(0xff, u64::MAX - 1))
    );
}

async fn removals_by_post_and_author(store: &dyn TimelineStore) {
    let u = Id(3);
    warm(store, u).await;
    store
        .insert(&[u], &[e(1, 10), e(2, 11), e(3, 10), e(4, 12)], 10)
        .await
        .unwrap();
    store.remove_post(&[u], Id(4)).await.unwrap();
    store.remove_author(u, Id(10)).await.unwrap();
    assert_eq!(store.entries(u).await.unwrap().unwrap(), [e(2, 11)]);
}

async fn a_rebuild_keeps_concurrent_writes_and_removals(store: &dyn TimelineStore) {
    let u = Id(4);
    store.begin_rebuild(u).await.unwrap();
    // Meanwhile: a delivery, a deleted post, an unfollow.
    store.insert(&[u], &[e(50, 20)], 10).await.unwrap();
    store.remove_post(&[u], Id(40)).await.unwrap();
    store.remove_author(u, Id(21)).await.unwrap();
    assert_eq!(store.page(u, PageRequest::first(10)).await.unwrap(), None);
    // What the posts store said before those happened:
    store
        .finish_rebuild(u, vec![e(45, 20), e(40, 20), e(30, 21), e(10, 22)], 10)
        .await
        .unwrap();
    let ids = store
        .page(u, PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids, [Id(50), Id(45), Id(10)]);
}

/// A full timeline takes at most 24 bytes an entry in Redis (`MEMORY USAGE` over its
/// entries, as the benchmark measures it) on a Redis that keeps sets of the cap's size as
/// listpacks, as the deployment files and the test Cluster (`with-deps.sh`) configure it.
#[tokio::test]
async fn redis_cluster_timelines_take_at_most_24_bytes_an_entry() {
    let (_prefix, redis) = redis(&chirp_testkit::redis_cluster_urls());
    let s = RedisTimelines::new(redis.clone(), None);
    let u = Id(9);
    warm(&s, u).await;
    let base = 7_400_000_000_000_000_000u64;
    for chunk in (0..800u64).collect::<Vec<_>>().chunks(100) {
        let entries: Vec<TimelineEntry> = chunk
            .iter()
            .map(|i| e(base + i * 4_096, base / 3 + i % 50))
            .collect();
        s.insert(&[u], &entries, 800).await.unwrap();
    }
    let mut c = redis.conn().await.unwrap();
    let (bytes, entries): (u64, u64) = ::redis::Script::new(
        "return {redis.call('MEMORY', 'USAGE', KEYS[1], 'SAMPLES', 0), redis.call('ZCARD', KEYS[1])}",
    )
    .key(redis.key("tl2", u, ""))
    .invoke_async(&mut c)
    .await
    .unwrap();
    assert_eq!(entries, 801, "800 entries and the empty member");
    let per_entry = bytes as f64 / entries as f64;
    assert!(
        per_entry <= 24.0,
        "{bytes} bytes for {entries} entries: {per_entry:.1} an entry"
    );
}

/// A Redis timeline lives `idle` past its build and its last read: reads keep it, and
/// deliveries do not. Once dropped it reads as not built (`None`), which makes the service
/// build it again.
#[tokio::test]
async fn redis_timelines_nobody_reads_are_dropped() {
    use std::time::Duration;
    let (_prefix, redis) = redis(&chirp_testkit::redis_url());
    let idle = Duration::from_millis(800);
    let s = RedisTimelines::new(redis, Some(idle));
    let (reader, idler) = (Id(1), Id(2));
    warm(&s, reader).await;
    warm(&s, idler).await;
    let first = PageRequest {
        limit: 10,
        before: None,
    };
    // Reads every 250 ms for twice the idle time keep the reader's timeline; deliveries
    // every 250 ms do not keep the other.
    for i in 0..8u64 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        s.insert(&[reader, idler], &[e(100 + i, 7)], 800)
            .await
            .unwrap();
        let page = s.page(reader, first).await.unwrap();
        assert_eq!(page.map(|p| p.len()), Some(i as usize + 1), "read {i}");
    }
    assert_eq!(s.page(idler, first).await.unwrap(), None);
    assert_eq!(s.entries(idler).await.unwrap(), None);
    // Without reads the reader's goes too.
    tokio::time::sleep(idle + Duration::from_millis(300)).await;
    assert_eq!(s.page(reader, first).await.unwrap(), None);
    // Built again, it is kept again.
    warm(&s, reader).await;
    assert_eq!(s.page(reader, first).await.unwrap(), Some(vec![]));
}
