//! The behaviour every [`TimelineStore`] adapter must have, as one suite run against each.

use chirp_core::page::PageRequest;
use chirp_core::peers::TimelineEntry;
use chirp_core::Id;

use crate::adapters::memory::MemoryTimelines;
use crate::ports::TimelineStore;

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

pub async fn cold_timelines_ignore_writes(store: &dyn TimelineStore) {
    let u = Id(1);
    assert_eq!(store.page(u, PageRequest::first(10)).await.unwrap(), None);
    store.insert(&[u], &[e(5, 2)], 10).await.unwrap();
    assert_eq!(store.entries(u).await.unwrap(), None);
}

pub async fn inserts_are_idempotent_sorted_and_capped(store: &dyn TimelineStore) {
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

pub async fn removals_by_post_and_author(store: &dyn TimelineStore) {
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

pub async fn a_rebuild_keeps_concurrent_writes_and_removals(store: &dyn TimelineStore) {
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

#[tokio::test]
async fn memory_store_passes_the_suite() {
    let s = MemoryTimelines::default();
    cold_timelines_ignore_writes(&s).await;
    inserts_are_idempotent_sorted_and_capped(&s).await;
    removals_by_post_and_author(&s).await;
    a_rebuild_keeps_concurrent_writes_and_removals(&s).await;
}

async fn redis_suite(urls: &str) {
    let redis = chirp_core::deployed::redis::Redis::new(
        urls,
        &format!("{}:", chirp_testkit::unique("test")),
    )
    .unwrap();
    let s = crate::adapters::redis::RedisTimelines::new(redis.clone(), None);
    cold_timelines_ignore_writes(&s).await;
    inserts_are_idempotent_sorted_and_capped(&s).await;
    removals_by_post_and_author(&s).await;
    a_rebuild_keeps_concurrent_writes_and_removals(&s).await;
    redis.delete_prefix().await.unwrap();
}

/// A Redis timeline lives `idle` past its build and its last read: reads keep it, and
/// deliveries do not. Once dropped it reads as not built (`None`), which makes the service
/// build it again.
#[tokio::test]
async fn redis_timelines_nobody_reads_are_dropped() {
    use std::time::Duration;
    let redis = chirp_core::deployed::redis::Redis::new(
        &chirp_testkit::redis_url(),
        &format!("{}:", chirp_testkit::unique("test")),
    )
    .unwrap();
    let idle = Duration::from_millis(800);
    let s = crate::adapters::redis::RedisTimelines::new(redis.clone(), Some(idle));
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
    redis.delete_prefix().await.unwrap();
}

#[tokio::test]
async fn redis_store_passes_the_suite() {
    redis_suite(&chirp_testkit::redis_url()).await;
}

#[tokio::test]
async fn redis_cluster_store_passes_the_suite() {
    redis_suite(&chirp_testkit::redis_cluster_urls()).await;
}
