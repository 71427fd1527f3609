//! A database made by the release before blocks and mutes (migrations up to 3002) opens
//! with this build's stores and works: its follows are there, and blocks end them.

use std::sync::Arc;

use chirp_core::deployed::postgres::PgDb;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::{Event, EventBody};
use chirp_core::page::PageRequest;
use chirp_core::Id;

use super::postgres::PgFollowStore;
use super::sqlite::SqliteFollowStore;
use crate::ports::{BlockEvents, FollowStore, Followed};

/// The first migration this build adds.
const FIRST_NEW: i64 = 3003;

/// 1 follows 2 and 2 follows 1, as the release before wrote them.
const FOLLOWS: &str = "INSERT INTO follows (follower, followee, seq) VALUES (1, 2, 10), (2, 1, 11);
     INSERT INTO follow_counts (user_id, followers, following) VALUES (1, 1, 1), (2, 1, 1);";

fn event(id: u64, body: EventBody) -> Event {
    Event {
        id: Id(id),
        version: 1,
        occurred_at_ms: 0,
        trace: None,
        body,
    }
}

async fn the_old_follows_work_with_blocks(store: &dyn FollowStore) {
    let followers = store.followers(Id(2), PageRequest::first(5)).await.unwrap();
    assert_eq!(followers.users, [Id(1)]);
    let follow = |a: u64, b: u64| {
        event(
            a * 10 + b,
            EventBody::FollowDeleted {
                follower: Id(a),
                followee: Id(b),
            },
        )
    };
    let events = BlockEvents {
        block: event(
            1,
            EventBody::BlockCreated {
                blocker: Id(1),
                blocked: Id(2),
            },
        ),
        unfollow: follow(1, 2),
        unfollowed: follow(2, 1),
    };
    assert!(store.block(Id(1), Id(2), 20, &events).await.unwrap());
    let counts = store.counts(&[Id(1), Id(2)]).await.unwrap();
    for user in [Id(1), Id(2)] {
        let c = counts.get(&user).copied().unwrap_or_default();
        assert_eq!((c.followers, c.following), (0, 0), "{user}");
    }
    let refollow = event(
        2,
        EventBody::FollowCreated {
            follower: Id(2),
            followee: Id(1),
        },
    );
    assert_eq!(
        store.follow(Id(2), Id(1), 21, &refollow).await.unwrap(),
        Followed::Blocked
    );
}

#[tokio::test]
async fn a_sqlite_database_of_the_release_before_opens_and_works() {
    for mirrored in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
        let old = chirp_testkit::migrations_before(crate::SCHEMA.sqlite.unwrap(), FIRST_NEW);
        assert!(!old.is_empty() && old.len() < crate::SCHEMA.sqlite_steps().len());
        db.migrate(crate::SCHEMA.owner, old).await.unwrap();
        db.write(|c| c.execute_batch(FOLLOWS).map_err(Into::into))
            .await
            .unwrap();
        let store: Arc<dyn FollowStore> = if mirrored {
            Arc::new(SqliteFollowStore::mirrored(db).await.unwrap())
        } else {
            Arc::new(SqliteFollowStore::new(db).await.unwrap())
        };
        the_old_follows_work_with_blocks(&*store).await;
    }
}

#[tokio::test]
async fn a_postgres_database_of_the_release_before_opens_and_works() {
    let pg = chirp_testkit::postgres().await;
    let all = crate::SCHEMA.postgres.unwrap();
    chirp_testkit::postgres_migrated_before(&pg.url, all, FIRST_NEW).await;
    let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
    sqlx::raw_sql(FOLLOWS).execute(&pool).await.unwrap();
    pool.close().await;

    let db = PgDb::connect_lazy(&pg.url).unwrap();
    db.migrate(&crate::SCHEMA).await.unwrap();
    db.mark_schema_ready();
    the_old_follows_work_with_blocks(&PgFollowStore::new(db)).await;
}
