//! The behaviour every [`PostsSource`] adapter must have: each case a test of its own, run
//! against each adapter (`sqlite`, `postgres`), on the posts table as WriteService makes
//! and writes it.

use std::sync::Arc;

use chirp_core::deployed::postgres::PgDb;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::{Event, EventBody};
use chirp_core::peers::TimelineEntry;
use chirp_core::Id;
use chirp_write::adapters::postgres::PgPostStore;
use chirp_write::adapters::sqlite::SqlitePostStore;
use chirp_write::ports::{NewPost, PostStore};

use crate::adapters::postgres::PgPostsSource;
use crate::adapters::sqlite::SqlitePostsSource;
use crate::ports::PostsSource;

/// A posts source and the store its posts are written through.
struct Fixture {
    source: Arc<dyn PostsSource>,
    posts: Arc<dyn PostStore>,
}

/// Authors 1 to 1,200 have public profiles (posts are written with their author's).
fn profiles_sql() -> String {
    let rows: Vec<String> = (1..=1200)
        .map(|i| format!("({i}, 'u{i}', 'u{i}', 'U{i}', 0)"))
        .collect();
    format!(
        "INSERT INTO profiles (id, handle, handle_key, display_name, created_at) VALUES {}",
        rows.join(",")
    )
}

async fn sqlite_source() -> (tempfile::TempDir, Arc<Fixture>) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    let auth = &chirp_auth::SCHEMA;
    db.migrate(auth.owner, auth.sqlite_steps()).await.unwrap();
    let posts = Arc::new(SqlitePostStore::new(db.clone()).await.unwrap());
    let sql = profiles_sql();
    db.write(move |c| Ok(c.execute_batch(&sql)?)).await.unwrap();
    let source = Arc::new(SqlitePostsSource { db });
    (dir, Arc::new(Fixture { source, posts }))
}

async fn postgres_source() -> (chirp_testkit::TestDatabase, Arc<Fixture>) {
    let pg = chirp_testkit::postgres().await;
    let db = PgDb::connect_lazy(&pg.url).unwrap();
    db.migrate(&chirp_auth::SCHEMA).await.unwrap();
    db.migrate(&chirp_write::SCHEMA).await.unwrap();
    db.mark_schema_ready();
    sqlx::query(&profiles_sql())
        .execute(&db.pool)
        .await
        .unwrap();
    let fixture = Fixture {
        source: Arc::new(PgPostsSource { db: db.clone() }),
        posts: Arc::new(PgPostStore::new(db)),
    };
    (pg, Arc::new(fixture))
}

chirp_testkit::port_suite! {
    cases: [
        the_newest_posts_of_the_authors_come_first_up_to_the_limit,
        deleted_posts_are_left_out,
        the_newest_of_many_authors_are_found_across_them_all,
        no_authors_no_posts,
        a_reply_names_the_author_it_replies_to,
    ],
    adapters: { sqlite => sqlite_source, postgres => postgres_source },
}

fn event() -> Event {
    Event {
        id: Id(1),
        version: 1,
        occurred_at_ms: 0,
        trace: None,
        body: EventBody::PostDeleted {
            post_id: Id(1),
            author_id: Id(1),
        },
    }
}

impl Fixture {
    async fn post(&self, id: u64, author: u64) {
        self.reply(id, author, None).await;
    }

    async fn reply(&self, id: u64, author: u64, reply_to: Option<u64>) {
        let post = NewPost {
            id: Id(id),
            author: Id(author),
            text: format!("post {id}"),
            reply_to: reply_to.map(Id),
            created_at_ms: id as i64,
            mentions: Vec::new(),
        };
        self.posts.create(&post, None, &event()).await.unwrap();
    }
}

fn entry(post: u64, author: u64) -> TimelineEntry {
    TimelineEntry {
        post: Id(post),
        author: Id(author),
    }
}

async fn the_newest_posts_of_the_authors_come_first_up_to_the_limit(f: &Fixture) {
    for (post, author) in [(10, 1), (11, 2), (12, 1), (13, 3), (14, 2)] {
        f.post(post, author).await;
    }
    let recent = f.source.recent_by(&[Id(1), Id(2)], 3).await.unwrap();
    assert_eq!(recent, [entry(14, 2), entry(12, 1), entry(11, 2)]);
    let mine = f.source.recent_by(&[Id(1)], 10).await.unwrap();
    assert_eq!(mine, [entry(12, 1), entry(10, 1)]);
    f.source.ping().await.unwrap();
}

async fn deleted_posts_are_left_out(f: &Fixture) {
    f.post(20, 1).await;
    f.post(21, 1).await;
    assert!(f.posts.delete(Id(21), 1, 99, &event()).await.unwrap());
    assert_eq!(
        f.source.recent_by(&[Id(1)], 10).await.unwrap(),
        [entry(20, 1)]
    );
}

/// More authors than one query of the embedded store takes: the newest are found over
/// all of them.
async fn the_newest_of_many_authors_are_found_across_them_all(f: &Fixture) {
    for author in 1..=1200u64 {
        f.post(10_000 + author, author).await;
    }
    let authors: Vec<Id> = (1..=1200).map(Id).collect();
    let recent = f.source.recent_by(&authors, 5).await.unwrap();
    let posts: Vec<u64> = recent.iter().map(|e| e.post.get()).collect();
    assert_eq!(posts, [11_200, 11_199, 11_198, 11_197, 11_196]);
}

async fn no_authors_no_posts(f: &Fixture) {
    f.post(30, 1).await;
    assert!(f.source.recent_by(&[], 10).await.unwrap().is_empty());
    assert!(f.source.recent_by(&[Id(999)], 10).await.unwrap().is_empty());
}

async fn a_reply_names_the_author_it_replies_to(f: &Fixture) {
    f.post(40, 1).await;
    f.post(41, 2).await;
    f.reply(42, 2, Some(40)).await;
    f.reply(43, 3, Some(42)).await;
    f.reply(44, 1, Some(40)).await;
    let asked = [Id(40), Id(41), Id(42), Id(43), Id(44), Id(999)];
    let mut got: Vec<(Id, Id)> = f
        .source
        .replied_authors(&asked)
        .await
        .unwrap()
        .into_iter()
        .collect();
    got.sort();
    assert_eq!(got, [(Id(42), Id(1)), (Id(43), Id(2)), (Id(44), Id(1))]);
    assert!(f.source.replied_authors(&[]).await.unwrap().is_empty());
}
