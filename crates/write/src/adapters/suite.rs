//! The behaviour every [`PostStore`] adapter must have: each case a test of its own, run
//! against each adapter (`sqlite::<case>`, `postgres::<case>`).

use std::sync::Arc;

use chirp_core::deployed::postgres::PgDb;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::{Event, EventBody};
use chirp_core::model::Post;
use chirp_core::time::rfc3339;
use chirp_core::Id;

use super::postgres::PgPostStore;
use super::sqlite::SqlitePostStore;
use crate::ports::{Created, NewPost, PostStore};

/// Authors 1 and 2 have profiles (`alice`, `bob`); 3 has none.
const PROFILES: &str = "INSERT INTO profiles (id, handle, handle_key, display_name, created_at)
    VALUES (1, 'alice', 'alice', 'Alice', 0), (2, 'bob', 'bob', 'Bob', 0)";

async fn sqlite_store() -> (tempfile::TempDir, Arc<dyn PostStore>) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    let auth = &chirp_auth::SCHEMA;
    db.migrate(auth.owner, auth.sqlite_steps()).await.unwrap();
    let store = SqlitePostStore::new(db.clone()).await.unwrap();
    db.write(|c| Ok(c.execute_batch(PROFILES)?)).await.unwrap();
    (dir, Arc::new(store))
}

async fn postgres_store() -> (chirp_testkit::TestDatabase, Arc<dyn PostStore>) {
    let pg = chirp_testkit::postgres().await;
    let db = PgDb::connect_lazy(&pg.url).unwrap();
    db.migrate(&chirp_auth::SCHEMA).await.unwrap();
    db.migrate(&crate::SCHEMA).await.unwrap();
    db.mark_schema_ready();
    sqlx::query(PROFILES).execute(&db.pool).await.unwrap();
    (pg, Arc::new(PgPostStore::new(db)))
}

chirp_testkit::port_suite! {
    cases: [
        a_created_post_reads_back_with_its_author,
        a_used_idempotency_key_gives_the_first_post_and_stores_nothing,
        a_key_whose_post_was_deleted_gives_no_post,
        an_author_without_a_profile_stores_nothing,
        edits_need_the_current_version_and_give_the_post_as_edited,
        deletes_need_the_current_version_and_happen_once,
    ],
    adapters: { sqlite => sqlite_store, postgres => postgres_store },
}

fn new_post(id: u64, author: u64) -> NewPost {
    NewPost {
        id: Id(id),
        author: Id(author),
        text: format!("post {id}"),
        reply_to: (id > 100).then_some(Id(10)),
        created_at_ms: 1_000 + id as i64,
    }
}

fn event(post: u64) -> Event {
    Event {
        id: Id(post + 1_000_000),
        version: 1,
        occurred_at_ms: 1,
        trace: None,
        body: EventBody::PostDeleted {
            post_id: Id(post),
            author_id: Id(1),
        },
    }
}

fn created(store_answer: Created) -> Post {
    match store_answer {
        Created::New(post) => post,
        other => panic!("not created: {other:?}"),
    }
}

async fn a_created_post_reads_back_with_its_author(store: &dyn PostStore) {
    let post = created(
        store
            .create(&new_post(10, 1), None, &event(10))
            .await
            .unwrap(),
    );
    assert_eq!((post.id, post.text.as_str()), (Id(10), "post 10"));
    assert_eq!(
        (
            post.author.handle.as_str(),
            post.author.display_name.as_str()
        ),
        ("alice", "Alice")
    );
    assert_eq!(
        (&post.created_at, &post.edited_at),
        (&rfc3339(1_010), &None)
    );
    assert_eq!(store.post(Id(10)).await.unwrap(), Some(post));
    let reply = created(
        store
            .create(&new_post(110, 2), None, &event(110))
            .await
            .unwrap(),
    );
    assert_eq!(reply.reply_to, Some(Id(10)));
    let head = store.head(Id(10)).await.unwrap().unwrap();
    assert_eq!((head.author, head.version, head.deleted), (Id(1), 1, false));
    assert!(store.head(Id(11)).await.unwrap().is_none());
    assert!(store.post(Id(11)).await.unwrap().is_none());
    store.ping().await.unwrap();
}

async fn a_used_idempotency_key_gives_the_first_post_and_stores_nothing(store: &dyn PostStore) {
    let first = created(
        store
            .create(&new_post(20, 1), Some("k"), &event(20))
            .await
            .unwrap(),
    );
    let again = store
        .create(&new_post(21, 1), Some("k"), &event(21))
        .await
        .unwrap();
    assert_eq!(again, Created::Replayed(Some(first)));
    assert!(store.head(Id(21)).await.unwrap().is_none());
    // Keys are per author.
    let other = store
        .create(&new_post(22, 2), Some("k"), &event(22))
        .await
        .unwrap();
    assert!(matches!(other, Created::New(p) if p.id == Id(22)));
}

async fn a_key_whose_post_was_deleted_gives_no_post(store: &dyn PostStore) {
    created(
        store
            .create(&new_post(30, 1), Some("k"), &event(30))
            .await
            .unwrap(),
    );
    assert!(store.delete(Id(30), 1, 2, &event(30)).await.unwrap());
    let again = store
        .create(&new_post(31, 1), Some("k"), &event(31))
        .await
        .unwrap();
    assert_eq!(again, Created::Replayed(None));
    assert!(store.head(Id(31)).await.unwrap().is_none());
}

async fn an_author_without_a_profile_stores_nothing(store: &dyn PostStore) {
    let answer = store.create(&new_post(40, 3), None, &event(40)).await;
    assert_eq!(answer.unwrap(), Created::UnknownAuthor);
    assert!(store.head(Id(40)).await.unwrap().is_none());
}

async fn edits_need_the_current_version_and_give_the_post_as_edited(store: &dyn PostStore) {
    created(
        store
            .create(&new_post(50, 1), None, &event(50))
            .await
            .unwrap(),
    );
    assert_eq!(
        store.edit(Id(50), 7, "stale", 2, &event(50)).await.unwrap(),
        None
    );
    let edited = store
        .edit(Id(50), 1, "fresh", 2_000, &event(50))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (edited.text.as_str(), edited.edited_at.clone()),
        ("fresh", Some(rfc3339(2_000)))
    );
    assert_eq!(edited.author.handle, "alice");
    assert_eq!(store.post(Id(50)).await.unwrap(), Some(edited));
    assert_eq!(store.head(Id(50)).await.unwrap().unwrap().version, 2);
}

async fn deletes_need_the_current_version_and_happen_once(store: &dyn PostStore) {
    created(
        store
            .create(&new_post(60, 1), None, &event(60))
            .await
            .unwrap(),
    );
    assert!(!store.delete(Id(60), 2, 3, &event(60)).await.unwrap());
    assert!(store.delete(Id(60), 1, 3, &event(60)).await.unwrap());
    let head = store.head(Id(60)).await.unwrap().unwrap();
    assert!(head.deleted);
    assert!(store.post(Id(60)).await.unwrap().is_none());
    assert!(
        !store.delete(Id(60), 2, 4, &event(60)).await.unwrap(),
        "deleting twice"
    );
    assert_eq!(
        store
            .edit(Id(60), 2, "zombie", 4, &event(60))
            .await
            .unwrap(),
        None
    );
}
