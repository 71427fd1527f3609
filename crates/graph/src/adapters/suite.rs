//! The behaviour every [`FollowStore`] adapter must have, as one suite run against each.

use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::{Event, EventBody};
use chirp_core::page::PageRequest;
use chirp_core::Id;

use super::postgres::{self, PgFollowStore};
use super::sqlite::SqliteFollowStore;
use crate::ports::FollowStore;

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

async fn suite(s: &dyn FollowStore) {
    // 1, 2 and 3 follow 9; 1 also follows 8.
    let mut key = 100;
    for (a, b) in [(1, 9), (2, 9), (3, 9), (1, 8)] {
        key += 1;
        assert!(s.follow(Id(a), Id(b), key, &ev(a, b)).await.unwrap());
    }
    assert!(
        !s.follow(Id(1), Id(9), 999, &ev(1, 9)).await.unwrap(),
        "idempotent"
    );
    let c = s.counts(&[Id(9), Id(1), Id(7)]).await.unwrap();
    assert_eq!((c[&Id(9)].followers, c[&Id(9)].following), (3, 0));
    assert_eq!((c[&Id(1)].followers, c[&Id(1)].following), (0, 2));
    assert!(!c.contains_key(&Id(7)) || c[&Id(7)].followers == 0);

    // Newest follow first, in pages.
    let p1 = s.followers(Id(9), PageRequest::first(2)).await.unwrap();
    assert_eq!(p1.users, [Id(3), Id(2)]);
    assert!(p1.more);
    let p2 = s
        .followers(
            Id(9),
            PageRequest {
                limit: 2,
                before: p1.keys.last().copied(),
            },
        )
        .await
        .unwrap();
    assert_eq!(p2.users, [Id(1)]);
    assert!(!p2.more);
    assert_eq!(
        s.following(Id(1), PageRequest::first(10))
            .await
            .unwrap()
            .users,
        [Id(8), Id(9)]
    );
    assert_eq!(s.all_following(Id(1), 10).await.unwrap(), [Id(8), Id(9)]);
    assert_eq!(s.following_above(Id(1), 2).await.unwrap(), [Id(9)]);
    assert!(s.following_above(Id(1), 3).await.unwrap().is_empty());

    assert!(s.unfollow(Id(2), Id(9), &ev(2, 9)).await.unwrap());
    assert!(
        !s.unfollow(Id(2), Id(9), &ev(2, 9)).await.unwrap(),
        "idempotent"
    );
    assert_eq!(s.counts(&[Id(9)]).await.unwrap()[&Id(9)].followers, 2);
    s.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    suite(&SqliteFollowStore::new(db).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_store_with_its_copy_in_memory_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    suite(&SqliteFollowStore::mirrored(db).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_store_passes_the_suite() {
    let pg = chirp_testkit::postgres().await;
    let db = chirp_core::deployed::postgres::PgDb::connect_lazy(&pg.url).unwrap();
    postgres::migrate(&db).await.unwrap();
    db.mark_schema_ready();
    suite(&PgFollowStore::new(db)).await;
}
