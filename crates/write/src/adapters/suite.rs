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
use crate::ports::{Created, Edit, Like, Liked, NewPost, PostStore};
use chirp_core::model::Mention;

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
        likes_are_counted_once_and_taken_back_once,
        a_post_that_is_not_live_takes_no_like,
        replies_are_counted_while_they_live,
        mentions_are_the_handles_someone_holds_in_the_order_asked,
        mentions_are_kept_with_the_text_and_replaced_by_an_edit,
        a_repost_is_one_per_user_counted_and_taken_back_once,
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
        mentions: Vec::new(),
    }
}

fn edit(text: &str, at: i64) -> Edit {
    Edit {
        text: text.into(),
        mentions: Vec::new(),
        edited_at_ms: at,
    }
}

fn like(id: u64, user: u64, post: u64) -> Like {
    Like {
        id: Id(id),
        user: Id(user),
        post: Id(post),
    }
}

async fn counts(store: &dyn PostStore, post: u64) -> (u64, u64, u64) {
    let p = store.post(Id(post)).await.unwrap().unwrap();
    (p.reply_count, p.like_count, p.repost_count)
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
        store
            .edit(Id(50), 7, &edit("stale", 2), &event(50))
            .await
            .unwrap(),
        None
    );
    let edited = store
        .edit(Id(50), 1, &edit("fresh", 2_000), &event(50))
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
            .edit(Id(60), 2, &edit("zombie", 4), &event(60))
            .await
            .unwrap(),
        None
    );
}

async fn likes_are_counted_once_and_taken_back_once(store: &dyn PostStore) {
    created(
        store
            .create(&new_post(70, 1), None, &event(70))
            .await
            .unwrap(),
    );
    assert_eq!(
        store.like(&like(1, 2, 70), &event(71)).await.unwrap(),
        Liked::New
    );
    assert_eq!(
        store.like(&like(2, 2, 70), &event(72)).await.unwrap(),
        Liked::Already
    );
    // One's own post too.
    assert_eq!(
        store.like(&like(3, 1, 70), &event(73)).await.unwrap(),
        Liked::New
    );
    assert_eq!(counts(store, 70).await, (0, 2, 0));
    assert!(store.unlike(Id(2), Id(70), &event(74)).await.unwrap());
    assert!(
        !store.unlike(Id(2), Id(70), &event(75)).await.unwrap(),
        "unliked twice"
    );
    assert_eq!(counts(store, 70).await, (0, 1, 0));
    // Liked again: counted again.
    assert_eq!(
        store.like(&like(4, 2, 70), &event(76)).await.unwrap(),
        Liked::New
    );
    assert_eq!(counts(store, 70).await, (0, 2, 0));
}

async fn a_post_that_is_not_live_takes_no_like(store: &dyn PostStore) {
    assert_eq!(
        store.like(&like(1, 2, 80), &event(80)).await.unwrap(),
        Liked::NoPost
    );
    created(
        store
            .create(&new_post(81, 1), None, &event(81))
            .await
            .unwrap(),
    );
    assert!(store.delete(Id(81), 1, 2, &event(81)).await.unwrap());
    assert_eq!(
        store.like(&like(2, 2, 81), &event(82)).await.unwrap(),
        Liked::NoPost
    );
    assert!(!store.unlike(Id(2), Id(81), &event(83)).await.unwrap());
}

async fn replies_are_counted_while_they_live(store: &dyn PostStore) {
    created(
        store
            .create(&new_post(10, 1), None, &event(10))
            .await
            .unwrap(),
    );
    let reply = created(
        store
            .create(&new_post(190, 2), None, &event(190))
            .await
            .unwrap(),
    );
    assert_eq!(reply.reply_to, Some(Id(10)));
    created(
        store
            .create(&new_post(191, 1), None, &event(191))
            .await
            .unwrap(),
    );
    assert_eq!(counts(store, 10).await, (2, 0, 0));
    assert!(store.delete(Id(190), 1, 2, &event(190)).await.unwrap());
    assert_eq!(counts(store, 10).await, (1, 0, 0));
    assert_eq!(counts(store, 191).await, (0, 0, 0));
}

async fn mentions_are_the_handles_someone_holds_in_the_order_asked(store: &dyn PostStore) {
    let asked = ["BOB", "nobody", "alice"].map(String::from);
    let found = store.users_by_handle(&asked).await.unwrap();
    assert_eq!(
        found,
        [
            Mention {
                id: Id(2),
                handle: "bob".into()
            },
            Mention {
                id: Id(1),
                handle: "alice".into()
            },
        ]
    );
    assert!(store
        .users_by_handle(&["zed".into()])
        .await
        .unwrap()
        .is_empty());
}

async fn mentions_are_kept_with_the_text_and_replaced_by_an_edit(store: &dyn PostStore) {
    let bob = Mention {
        id: Id(2),
        handle: "bob".into(),
    };
    let alice = Mention {
        id: Id(1),
        handle: "alice".into(),
    };
    let mut post = new_post(90, 1);
    post.text = "hi @bob #Rust".into();
    post.mentions = vec![bob.clone()];
    let made = created(store.create(&post, None, &event(90)).await.unwrap());
    assert_eq!(
        (made.mentions.clone(), made.tags.clone()),
        (vec![bob.clone()], vec!["rust".to_owned()])
    );
    assert_eq!(store.post(Id(90)).await.unwrap(), Some(made));
    let mut change = edit("hi @alice", 5);
    change.mentions = vec![alice.clone()];
    let edited = store
        .edit(Id(90), 1, &change, &event(91))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (edited.mentions.clone(), edited.tags.is_empty()),
        (vec![alice], true)
    );
    assert_eq!(store.post(Id(90)).await.unwrap(), Some(edited));
}

async fn a_repost_is_one_per_user_counted_and_taken_back_once(store: &dyn PostStore) {
    store
        .create(&new_post(10, 1), None, &event(10))
        .await
        .unwrap();
    let repost = |id: u64, author: u64, original: u64| crate::ports::NewRepost {
        id: Id(id),
        author: Id(author),
        original: Id(original),
        created_at_ms: 2_000 + id as i64,
    };
    let first = match store.repost(&repost(20, 2, 10), &event(20)).await.unwrap() {
        crate::ports::Reposted::New(p) => p,
        other => panic!("not reposted: {other:?}"),
    };
    assert_eq!((first.id, first.text.as_str()), (Id(20), ""));
    assert_eq!(first.original_id(), Some(Id(10)));
    assert_eq!(first.author.handle, "bob");
    match store.repost(&repost(21, 2, 10), &event(21)).await.unwrap() {
        crate::ports::Reposted::Already(p) => assert_eq!(p.id, Id(20)),
        other => panic!("a second repost: {other:?}"),
    }
    assert!(matches!(
        store.repost(&repost(22, 2, 99), &event(22)).await.unwrap(),
        crate::ports::Reposted::NoPost
    ));
    assert!(
        matches!(
            store.repost(&repost(23, 3, 10), &event(23)).await.unwrap(),
            crate::ports::Reposted::NoPost
        ),
        "a reposter without a profile stores nothing"
    );
    store.repost(&repost(24, 1, 10), &event(24)).await.unwrap();
    assert_eq!(counts(store, 10).await, (0, 0, 2));
    let head = store.head(Id(20)).await.unwrap().unwrap();
    assert_eq!(head.repost_of, Some(Id(10)));

    let stamp = chirp_core::events::EventStamp {
        id: Id(30),
        occurred_at_ms: 3_000,
        trace: None,
    };
    assert!(store.unrepost(Id(2), Id(10), &stamp).await.unwrap());
    assert!(
        !store.unrepost(Id(2), Id(10), &stamp).await.unwrap(),
        "once"
    );
    assert!(store.post(Id(20)).await.unwrap().is_none());
    assert_eq!(counts(store, 10).await, (0, 0, 1));
    // Reposted again after taking it back: a new repost.
    assert!(matches!(
        store.repost(&repost(25, 2, 10), &event(25)).await.unwrap(),
        crate::ports::Reposted::New(_)
    ));
    // A repost deleted as a post leaves its original's count.
    let head = store.head(Id(24)).await.unwrap().unwrap();
    assert!(store
        .delete(Id(24), head.version, 4_000, &event(24))
        .await
        .unwrap());
    assert_eq!(counts(store, 10).await, (0, 0, 1));
}
