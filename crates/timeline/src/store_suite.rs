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
