//! A database made by the release before mentions, counts and likes (migrations up to
//! 2002) opens with this build's stores and works: its posts read with no mentions and
//! the replies they already had counted, and take likes.

use chirp_core::deployed::postgres::PgDb;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::{Event, EventBody};
use chirp_core::Id;

use super::postgres::PgPostStore;
use super::sqlite::SqlitePostStore;
use crate::ports::{Like, Liked, PostStore};

/// The first migration this build adds.
const FIRST_NEW: i64 = 2003;

/// Alice's post, Bob's live reply to it and his deleted one, as the release before wrote
/// them (with the profiles AuthService keeps beside them).
const ROWS: &str = "INSERT INTO profiles (id, handle, handle_key, display_name, created_at)
        VALUES (1, 'alice', 'alice', 'Alice', 0), (2, 'bob', 'bob', 'Bob', 0);
    INSERT INTO posts (id, author_id, text, reply_to, created_at, deleted_at)
        VALUES (10, 1, 'hello @bob', NULL, 1, NULL), (11, 2, 'hi', 10, 2, NULL),
               (12, 2, 'gone', 10, 3, 4);
    INSERT INTO post_counts (user_id, posts) VALUES (1, 1), (2, 1);";

async fn the_old_posts_work(store: &dyn PostStore) {
    let post = store.post(Id(10)).await.unwrap().expect("the old post");
    assert_eq!(post.text, "hello @bob");
    assert!(post.mentions.is_empty(), "mentions were not resolved then");
    assert_eq!(
        (post.reply_count, post.like_count, post.repost_count),
        (1, 0, 0),
        "the live reply of before is counted"
    );
    let event = Event {
        id: Id(99),
        version: 1,
        occurred_at_ms: 5,
        trace: None,
        body: EventBody::LikeCreated {
            user_id: Id(2),
            post_id: Id(10),
            post_author: Id(1),
        },
    };
    let like = Like {
        id: Id(20),
        user: Id(2),
        post: Id(10),
    };
    assert_eq!(store.like(&like, &event).await.unwrap(), Liked::New);
    let post = store.post(Id(10)).await.unwrap().unwrap();
    assert_eq!(post.like_count, 1);
}

#[tokio::test]
async fn a_sqlite_database_of_the_release_before_opens_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    let auth = &chirp_auth::SCHEMA;
    db.migrate(auth.owner, auth.sqlite_steps()).await.unwrap();
    let old = chirp_testkit::migrations_before(crate::SCHEMA.sqlite.unwrap(), FIRST_NEW);
    assert!(!old.is_empty() && old.len() < crate::SCHEMA.sqlite_steps().len());
    db.migrate(crate::SCHEMA.owner, old).await.unwrap();
    db.write(|c| c.execute_batch(ROWS).map_err(Into::into))
        .await
        .unwrap();
    let store = SqlitePostStore::new(db).await.unwrap();
    the_old_posts_work(&store).await;
}

#[tokio::test]
async fn a_postgres_database_of_the_release_before_opens_and_works() {
    let pg = chirp_testkit::postgres().await;
    let db = PgDb::connect_lazy(&pg.url).unwrap();
    db.migrate(&chirp_auth::SCHEMA).await.unwrap();
    let all = crate::SCHEMA.postgres.unwrap();
    chirp_testkit::postgres_migrated_before(&pg.url, all, FIRST_NEW).await;
    sqlx::raw_sql(ROWS).execute(&db.pool).await.unwrap();
    db.migrate(&crate::SCHEMA).await.unwrap();
    db.mark_schema_ready();
    the_old_posts_work(&PgPostStore::new(db)).await;
}
