//! The behaviour every [`FollowStore`] adapter must have: each case a test of its own, run
//! against each adapter (`sqlite`, `sqlite_mirrored` with its copy in memory, `postgres`).

use std::sync::Arc;

use chirp_core::deployed::postgres::PgDb;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::{Event, EventBody};
use chirp_core::page::PageRequest;
use chirp_core::Id;

use super::postgres::PgFollowStore;
use super::sqlite::SqliteFollowStore;
use crate::ports::FollowStore;

async fn sqlite_store() -> (tempfile::TempDir, Arc<dyn FollowStore>) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    (dir, Arc::new(SqliteFollowStore::new(db).await.unwrap()))
}

async fn sqlite_mirrored_store() -> (tempfile::TempDir, Arc<dyn FollowStore>) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    (
        dir,
        Arc::new(SqliteFollowStore::mirrored(db).await.unwrap()),
    )
}

async fn postgres_store() -> (chirp_testkit::TestDatabase, Arc<dyn FollowStore>) {
    let pg = chirp_testkit::postgres().await;
    let db = PgDb::connect_lazy(&pg.url).unwrap();
    db.migrate(&crate::SCHEMA).await.unwrap();
    db.mark_schema_ready();
    (pg, Arc::new(PgFollowStore::new(db)))
}

chirp_testkit::port_suite! {
    cases: [
        a_follow_counts_once_both_ways,
        followers_come_newest_first_in_pages,
        following_and_the_followed_above_a_threshold,
        an_unfollow_happens_once,
    ],
    adapters: {
        sqlite => sqlite_store,
        sqlite_mirrored => sqlite_mirrored_store,
        postgres => postgres_store,
    },
}

fn ev(a: u64, b: u64) -> Event {
    Event {
        id: Id(a * 1000 + b),
        version: 1,
        occurred_at_ms: 0,
        trace: None,
        body: EventBody::FollowCreated {
            follower: Id(a),
            followee: Id(b),
        },
    }
}

/// 1, 2 and 3 follow 9 (in that order); 1 also follows 8, last.
async fn graph(s: &dyn FollowStore) {
    let mut key = 100;
    for (a, b) in [(1, 9), (2, 9), (3, 9), (1, 8)] {
        key += 1;
        assert!(s.follow(Id(a), Id(b), key, &ev(a, b)).await.unwrap());
    }
}

async fn a_follow_counts_once_both_ways(s: &dyn FollowStore) {
    graph(s).await;
    assert!(
        !s.follow(Id(1), Id(9), 999, &ev(1, 9)).await.unwrap(),
        "idempotent"
    );
    let c = s.counts(&[Id(9), Id(1), Id(7)]).await.unwrap();
    assert_eq!((c[&Id(9)].followers, c[&Id(9)].following), (3, 0));
    assert_eq!((c[&Id(1)].followers, c[&Id(1)].following), (0, 2));
    assert!(!c.contains_key(&Id(7)) || c[&Id(7)].followers == 0);
    s.ping().await.unwrap();
}

async fn followers_come_newest_first_in_pages(s: &dyn FollowStore) {
    graph(s).await;
    let p1 = s.followers(Id(9), PageRequest::first(2)).await.unwrap();
    assert_eq!(p1.users, [Id(3), Id(2)]);
    assert!(p1.more);
    let next = PageRequest {
        limit: 2,
        before: p1.keys.last().copied(),
    };
    let p2 = s.followers(Id(9), next).await.unwrap();
    assert_eq!(p2.users, [Id(1)]);
    assert!(!p2.more);
    let none = s.followers(Id(7), PageRequest::first(2)).await.unwrap();
    assert!(none.users.is_empty() && !none.more);
}

async fn following_and_the_followed_above_a_threshold(s: &dyn FollowStore) {
    graph(s).await;
    let following = s.following(Id(1), PageRequest::first(10)).await.unwrap();
    assert_eq!(following.users, [Id(8), Id(9)]);
    assert_eq!(s.all_following(Id(1), 10).await.unwrap(), [Id(8), Id(9)]);
    assert_eq!(s.all_following(Id(1), 1).await.unwrap().len(), 1);
    assert_eq!(s.following_above(Id(1), 2).await.unwrap(), [Id(9)]);
    assert!(s.following_above(Id(1), 3).await.unwrap().is_empty());
}

async fn an_unfollow_happens_once(s: &dyn FollowStore) {
    graph(s).await;
    assert!(s.unfollow(Id(2), Id(9), &ev(2, 9)).await.unwrap());
    assert!(
        !s.unfollow(Id(2), Id(9), &ev(2, 9)).await.unwrap(),
        "idempotent"
    );
    let c = s.counts(&[Id(9), Id(2)]).await.unwrap();
    assert_eq!(c[&Id(9)].followers, 2);
    assert!(!c.contains_key(&Id(2)) || c[&Id(2)].following == 0);
    let left = s.followers(Id(9), PageRequest::first(10)).await.unwrap();
    assert_eq!(left.users, [Id(3), Id(1)]);
}
