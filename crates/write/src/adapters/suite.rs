//! The behaviour every [`PostStore`] adapter must have, as one suite run against each.

use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::{Event, EventBody};
use chirp_core::Id;

use super::postgres::PgPostStore;
use super::sqlite::SqlitePostStore;
use crate::ports::{Created, NewPost, PostStore};

fn new_post(id: u64, author: u64) -> NewPost {
    NewPost {
        id: Id(id),
        author: Id(author),
        text: format!("post {id}"),
        reply_to: None,
        created_at_ms: 1,
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

async fn suite(store: &dyn PostStore) {
    // Create, then read the head.
    assert_eq!(
        store
            .create(&new_post(10, 1), None, &event(10))
            .await
            .unwrap(),
        Created::New
    );
    let head = store.head(Id(10)).await.unwrap().unwrap();
    assert_eq!((head.author, head.version, head.deleted), (Id(1), 1, false));
    assert!(store.head(Id(11)).await.unwrap().is_none());

    // An idempotency key names the first post; the second create stores nothing.
    assert_eq!(
        store
            .create(&new_post(20, 1), Some("k"), &event(20))
            .await
            .unwrap(),
        Created::New
    );
    assert_eq!(
        store
            .create(&new_post(21, 1), Some("k"), &event(21))
            .await
            .unwrap(),
        Created::Replayed(Id(20))
    );
    assert!(store.head(Id(21)).await.unwrap().is_none());
    // Keys are per author.
    assert_eq!(
        store
            .create(&new_post(22, 2), Some("k"), &event(22))
            .await
            .unwrap(),
        Created::New
    );

    // Edits and deletes are conditional on the version.
    assert!(!store.edit(Id(10), 7, "stale", 2, &event(10)).await.unwrap());
    assert!(store.edit(Id(10), 1, "fresh", 2, &event(10)).await.unwrap());
    assert_eq!(store.head(Id(10)).await.unwrap().unwrap().version, 2);
    assert!(!store.delete(Id(10), 1, 3, &event(10)).await.unwrap());
    assert!(store.delete(Id(10), 2, 3, &event(10)).await.unwrap());
    let head = store.head(Id(10)).await.unwrap().unwrap();
    assert!(head.deleted);
    assert!(
        !store.delete(Id(10), 3, 4, &event(10)).await.unwrap(),
        "deleting twice"
    );
    assert!(!store
        .edit(Id(10), 3, "zombie", 4, &event(10))
        .await
        .unwrap());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    suite(&SqlitePostStore::new(db).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_store_passes_the_suite() {
    let pg = chirp_testkit::postgres().await;
    let db = chirp_core::deployed::postgres::PgDb::connect_lazy(&pg.url).unwrap();
    super::postgres::migrate(&db).await.unwrap();
    db.mark_schema_ready();
    suite(&PgPostStore::new(db)).await;
}
