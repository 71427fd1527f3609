//! The behaviour every [`ReadStore`] adapter must have: each case a test of its own, run
//! against each adapter (`sqlite`, `sqlite_cached` as `chirp all` runs it, with its
//! copies in memory, and `postgres`). The rows arrive the way they do in the system:
//! through AuthService's profile store and WriteService's post store.

use std::sync::Arc;

use chirp_auth::adapters::postgres::PgProfileStore;
use chirp_auth::adapters::sqlite::SqliteAuthStore;
use chirp_auth::ports::{ProfileChange, ProfileStore, PublicProfile};
use chirp_core::deployed::postgres::PgDb;
use chirp_core::embedded::cache::PostCaches;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::{Event, EventBody, EventStamp};
use chirp_core::model::Post;
use chirp_core::page::PageRequest;
use chirp_core::Id;
use chirp_write::adapters::postgres::PgPostStore;
use chirp_write::adapters::sqlite::SqlitePostStore;
use chirp_write::ports::{Edit, Like, NewPost, PostStore};

use super::postgres::PgReadStore;
use super::sqlite::SqliteReadStore;
use crate::ports::ReadStore;

/// A read store and the stores its rows are written through.
struct Fixture {
    read: Arc<dyn ReadStore>,
    posts: Arc<dyn PostStore>,
    profiles: Arc<dyn ProfileStore>,
    /// Whether the store reads a viewer's state with the posts (`posts_seen`).
    reads_state_with_posts: bool,
}

async fn sqlite_db() -> (tempfile::TempDir, SqliteDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    (dir, db)
}

async fn sqlite_store() -> (tempfile::TempDir, Arc<Fixture>) {
    let (dir, db) = sqlite_db().await;
    let profiles = Arc::new(SqliteAuthStore::new(db.clone()).await.unwrap());
    let posts = Arc::new(SqlitePostStore::new(db.clone()).await.unwrap());
    let read = Arc::new(SqliteReadStore::new(db));
    (
        dir,
        Arc::new(Fixture {
            read,
            posts,
            profiles,
            reads_state_with_posts: false,
        }),
    )
}

async fn sqlite_cached_store() -> (tempfile::TempDir, Arc<Fixture>) {
    let (dir, db) = sqlite_db().await;
    let caches = PostCaches::default();
    let profiles = SqliteAuthStore::new(db.clone()).await.unwrap();
    let profiles = Arc::new(profiles.forgetting_in(caches.clone()));
    let posts = SqlitePostStore::new(db.clone()).await.unwrap();
    let posts = Arc::new(posts.forgetting_in(caches.clone()));
    let read = Arc::new(SqliteReadStore::cached(db, caches));
    (
        dir,
        Arc::new(Fixture {
            read,
            posts,
            profiles,
            reads_state_with_posts: false,
        }),
    )
}

async fn postgres_store() -> (chirp_testkit::TestDatabase, Arc<Fixture>) {
    let pg = chirp_testkit::postgres().await;
    let db = PgDb::connect_lazy(&pg.url).unwrap();
    db.migrate(&chirp_auth::SCHEMA).await.unwrap();
    db.migrate(&chirp_write::SCHEMA).await.unwrap();
    db.mark_schema_ready();
    let fixture = Fixture {
        read: Arc::new(PgReadStore { db: db.clone() }),
        posts: Arc::new(PgPostStore::new(db.clone())),
        profiles: Arc::new(PgProfileStore::new(db)),
        reads_state_with_posts: true,
    };
    (pg, Arc::new(fixture))
}

chirp_testkit::port_suite! {
    cases: [
        profiles_read_back_with_their_post_counts,
        posts_are_the_live_ones_with_their_authors,
        posts_by_authors_come_newest_first_with_one_more,
        every_change_shows_in_the_next_read,
        replies_come_oldest_first_and_only_live,
        ancestors_come_nearest_first_and_end_at_a_deleted_post,
        likes_list_newest_first_and_skip_deleted_posts,
        counts_show_in_the_next_read,
        a_changed_profile_shows_in_the_next_read,
        reposts_read_with_their_original_and_are_found_by_it,
        posts_read_as_a_viewer_carry_its_state,
        a_home_batch_reads_the_stored_posts_and_the_authors_at_once,
        authors_without_a_profile_take_no_place_on_a_page,
    ],
    adapters: {
        sqlite => sqlite_store,
        sqlite_cached => sqlite_cached_store,
        postgres => postgres_store,
    },
}

const ALICE: Id = Id(7);
const BOB: Id = Id(8);

fn event() -> Event {
    Event {
        id: Id(1),
        version: 1,
        occurred_at_ms: 0,
        trace: None,
        body: EventBody::FollowCreated {
            follower: ALICE,
            followee: BOB,
        },
    }
}

impl Fixture {
    async fn profiles(&self) {
        for (id, handle, name) in [(ALICE, "Alice", "Alice A."), (BOB, "bob", "Bob")] {
            let profile = PublicProfile {
                id,
                handle: handle.into(),
                display_name: name.into(),
                bio: String::new(),
                created_at_ms: 1_000,
            };
            self.profiles.create(&profile, &event()).await.unwrap();
        }
    }

    async fn post(&self, id: u64, author: Id, text: &str) {
        self.reply(id, author, text, None).await;
    }

    async fn reply(&self, id: u64, author: Id, text: &str, to: Option<u64>) {
        let post = NewPost {
            id: Id(id),
            author,
            text: text.into(),
            reply_to: to.map(Id),
            created_at_ms: 2_000 + id as i64,
            mentions: Vec::new(),
        };
        self.posts.create(&post, None, &event()).await.unwrap();
    }

    async fn repost(&self, id: u64, author: Id, original: u64) {
        let repost = chirp_write::ports::NewRepost {
            id: Id(id),
            author,
            original: Id(original),
            created_at_ms: 3_000 + id as i64,
        };
        self.posts.repost(&repost, &event()).await.unwrap();
    }

    async fn like(&self, key: u64, user: Id, post: u64) {
        let like = Like {
            id: Id(key),
            user,
            post: Id(post),
        };
        self.posts.like(&like, &event()).await.unwrap();
    }

    async fn texts_by(&self, authors: &[Id], page: PageRequest) -> Vec<String> {
        let posts = self.read.posts_by(authors, page).await.unwrap();
        posts.iter().map(|p| p.text.clone()).collect()
    }
}

fn ids(posts: &[Arc<Post>]) -> Vec<u64> {
    let mut ids: Vec<u64> = posts.iter().map(|p| p.id.get()).collect();
    ids.sort_unstable();
    ids
}

async fn profiles_read_back_with_their_post_counts(f: &Fixture) {
    f.profiles().await;
    for id in 10..13 {
        f.post(id, ALICE, "hi").await;
    }
    let mut found = f.read.profiles(&[BOB, Id(99), ALICE]).await.unwrap();
    found.sort_by_key(|p| p.id);
    let seen: Vec<_> = found
        .iter()
        .map(|p| {
            (
                p.id,
                p.handle.as_str(),
                p.display_name.as_str(),
                p.posts_count,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [(ALICE, "Alice", "Alice A.", 3), (BOB, "bob", "Bob", 0)]
    );
    assert_eq!(found[0].created_at_ms, 1_000);
    // Handles are looked up by their lower-cased key.
    assert_eq!(
        f.read.profile_id_by_handle("alice").await.unwrap(),
        Some(ALICE)
    );
    assert_eq!(f.read.profile_id_by_handle("carol").await.unwrap(), None);
    assert!(f.read.profile_exists(BOB).await.unwrap());
    assert!(!f.read.profile_exists(Id(99)).await.unwrap());
    assert!(f.read.profiles(&[]).await.unwrap().is_empty());
    f.read.ping().await.unwrap();
}

async fn posts_are_the_live_ones_with_their_authors(f: &Fixture) {
    f.profiles().await;
    f.post(10, ALICE, "one").await;
    f.post(11, BOB, "two").await;
    f.post(12, BOB, "gone").await;
    assert!(f.posts.delete(Id(12), 1, 3_000, &event()).await.unwrap());
    let found = f
        .read
        .posts(&[Id(12), Id(11), Id(99), Id(10)])
        .await
        .unwrap();
    assert_eq!(ids(&found), [10, 11]);
    let two = found.iter().find(|p| p.id == Id(11)).unwrap();
    assert_eq!(two.text, "two");
    assert_eq!((two.author.id, two.author.handle.as_str()), (BOB, "bob"));
    assert_eq!(two.author.display_name, "Bob");
    assert_eq!(two.edited_at, None);
    assert!(f.read.posts(&[]).await.unwrap().is_empty());
}

async fn posts_by_authors_come_newest_first_with_one_more(f: &Fixture) {
    f.profiles().await;
    for id in 10..17 {
        f.post(id, ALICE, &format!("a{id}")).await;
    }
    for id in [135, 155, 30] {
        f.post(id, BOB, &format!("b{id}")).await;
    }
    let first = f
        .read
        .posts_by(&[ALICE, BOB], PageRequest::first(4))
        .await
        .unwrap();
    let order: Vec<u64> = first.iter().map(|p| p.id.get()).collect();
    // Four asked, a fifth to tell that more follow; newest (highest id) first.
    assert_eq!(order, [155, 135, 30, 16, 15]);
    let next = PageRequest {
        limit: 4,
        before: Some(15),
    };
    assert_eq!(
        f.texts_by(&[ALICE], next).await,
        ["a14", "a13", "a12", "a11", "a10"]
    );
    let last = PageRequest {
        limit: 4,
        before: Some(11),
    };
    assert_eq!(f.texts_by(&[ALICE, BOB], last).await, ["a10"]);
    assert!(f
        .texts_by(&[Id(99)], PageRequest::first(4))
        .await
        .is_empty());
    assert!(f.texts_by(&[], PageRequest::first(4)).await.is_empty());
}

/// Twice each: the second read may come from a copy in memory, which must never show
/// what a change answered before it replaced.
async fn every_change_shows_in_the_next_read(f: &Fixture) {
    f.profiles().await;
    let page = PageRequest::first(10);
    f.post(100, ALICE, "one").await;
    f.post(200, ALICE, "two").await;
    for _ in 0..2 {
        assert_eq!(f.texts_by(&[ALICE], page).await, ["two", "one"]);
    }
    let edited = f
        .posts
        .edit(
            Id(100),
            1,
            &Edit {
                text: "one, edited".into(),
                mentions: Vec::new(),
                edited_at_ms: 5_000,
            },
            &event(),
        )
        .await;
    assert!(edited.unwrap().is_some());
    for _ in 0..2 {
        let one = f.read.posts(&[Id(100)]).await.unwrap();
        assert_eq!(one[0].text, "one, edited");
        assert!(one[0].edited_at.is_some());
        assert_eq!(f.texts_by(&[ALICE], page).await, ["two", "one, edited"]);
    }
    assert!(f.posts.delete(Id(200), 1, 6_000, &event()).await.unwrap());
    for _ in 0..2 {
        assert!(f.read.posts(&[Id(200)]).await.unwrap().is_empty());
        assert_eq!(f.texts_by(&[ALICE], page).await, ["one, edited"]);
    }
    for id in 300..320 {
        f.post(id, ALICE, "more").await;
        let newest = f.read.posts_by(&[ALICE], page).await.unwrap();
        assert_eq!(newest[0].id, Id(id));
    }
}

async fn replies_come_oldest_first_and_only_live(f: &Fixture) {
    f.profiles().await;
    f.post(10, ALICE, "root").await;
    for id in [11, 12, 13, 14] {
        f.reply(id, BOB, &format!("r{id}"), Some(10)).await;
    }
    f.reply(15, ALICE, "deeper", Some(11)).await;
    assert!(f.posts.delete(Id(13), 1, 3_000, &event()).await.unwrap());
    let texts = |posts: Vec<Arc<Post>>| posts.iter().map(|p| p.text.clone()).collect::<Vec<_>>();
    let first = f.read.replies(Id(10), PageRequest::first(2)).await.unwrap();
    // Two asked, a third to tell that more follow; oldest first.
    assert_eq!(texts(first), ["r11", "r12", "r14"]);
    let after = PageRequest {
        limit: 2,
        before: Some(12),
    };
    assert_eq!(texts(f.read.replies(Id(10), after).await.unwrap()), ["r14"]);
    assert_eq!(
        texts(f.read.replies(Id(11), PageRequest::first(5)).await.unwrap()),
        ["deeper"]
    );
    assert!(f
        .read
        .replies(Id(14), PageRequest::first(5))
        .await
        .unwrap()
        .is_empty());
}

async fn ancestors_come_nearest_first_and_end_at_a_deleted_post(f: &Fixture) {
    f.profiles().await;
    f.post(10, ALICE, "root").await;
    for id in 11..20 {
        f.reply(id, BOB, "r", Some(id - 1)).await;
    }
    assert_eq!(
        f.read.ancestor_ids(Id(19), 40).await.unwrap(),
        (10..19).rev().map(Id).collect::<Vec<_>>()
    );
    assert_eq!(
        f.read.ancestor_ids(Id(19), 3).await.unwrap(),
        [Id(18), Id(17), Id(16)]
    );
    assert!(f.read.ancestor_ids(Id(10), 40).await.unwrap().is_empty());
    assert!(f.read.ancestor_ids(Id(99), 40).await.unwrap().is_empty());
    // Post 15 deleted: the chain holds it (the caller drops it) and nothing above it.
    assert!(f.posts.delete(Id(15), 1, 3_000, &event()).await.unwrap());
    assert_eq!(
        f.read.ancestor_ids(Id(19), 40).await.unwrap(),
        [Id(18), Id(17), Id(16), Id(15)]
    );
}

async fn likes_list_newest_first_and_skip_deleted_posts(f: &Fixture) {
    f.profiles().await;
    for id in [10, 11, 12] {
        f.post(id, BOB, "p").await;
    }
    f.like(500, ALICE, 10).await;
    f.like(501, ALICE, 11).await;
    f.like(502, ALICE, 12).await;
    f.like(503, BOB, 10).await;
    assert_eq!(
        f.read.likers(Id(10), PageRequest::first(5)).await.unwrap(),
        [(503, BOB), (500, ALICE)]
    );
    let page = PageRequest {
        limit: 1,
        before: Some(503),
    };
    assert_eq!(f.read.likers(Id(10), page).await.unwrap(), [(500, ALICE)]);
    assert!(f.posts.delete(Id(11), 1, 3_000, &event()).await.unwrap());
    assert_eq!(
        f.read.liked(ALICE, PageRequest::first(1)).await.unwrap(),
        // One asked, one more (the deleted post's like is not among them).
        [(502, Id(12)), (500, Id(10))]
    );
    let mut among = f
        .read
        .liked_among(ALICE, &[Id(10), Id(12), Id(99)])
        .await
        .unwrap();
    among.sort();
    assert_eq!(among, [Id(10), Id(12)]);
    assert!(f.read.liked_among(BOB, &[Id(12)]).await.unwrap().is_empty());
    assert!(f.read.liked_among(BOB, &[]).await.unwrap().is_empty());
    let (mut liked, reposted) = f
        .read
        .viewer_state(ALICE, &[Id(10), Id(12), Id(99)])
        .await
        .unwrap();
    liked.sort();
    assert_eq!((liked, reposted), (vec![Id(10), Id(12)], vec![]));
    assert_eq!(
        f.read.viewer_state(BOB, &[]).await.unwrap(),
        (vec![], vec![])
    );
}

/// Twice each, as above: a count changed is never answered from a copy made before.
async fn counts_show_in_the_next_read(f: &Fixture) {
    f.profiles().await;
    f.post(10, ALICE, "root").await;
    let counts = |p: &Post| (p.reply_count, p.like_count, p.repost_count);
    for _ in 0..2 {
        assert_eq!(
            counts(&f.read.posts(&[Id(10)]).await.unwrap()[0]),
            (0, 0, 0)
        );
        f.read
            .posts_by(&[ALICE], PageRequest::first(5))
            .await
            .unwrap();
    }
    f.reply(11, BOB, "re", Some(10)).await;
    f.like(500, BOB, 10).await;
    for _ in 0..2 {
        assert_eq!(
            counts(&f.read.posts(&[Id(10)]).await.unwrap()[0]),
            (1, 1, 0)
        );
        let recent = f
            .read
            .posts_by(&[ALICE], PageRequest::first(5))
            .await
            .unwrap();
        assert_eq!(counts(&recent[0]), (1, 1, 0));
    }
    assert!(f.posts.unlike(BOB, Id(10), &event()).await.unwrap());
    assert!(f.posts.delete(Id(11), 1, 3_000, &event()).await.unwrap());
    for _ in 0..2 {
        assert_eq!(
            counts(&f.read.posts(&[Id(10)]).await.unwrap()[0]),
            (0, 0, 0)
        );
        let recent = f
            .read
            .posts_by(&[ALICE], PageRequest::first(5))
            .await
            .unwrap();
        assert_eq!(counts(&recent[0]), (0, 0, 0));
    }
}

/// A new display name shows on the posts already read (and kept, in `chirp all`), and a
/// bio with the profile, in the very next read.
async fn a_changed_profile_shows_in_the_next_read(f: &Fixture) {
    f.profiles().await;
    f.post(10, ALICE, "hi").await;
    let names = |posts: Vec<Arc<Post>>| -> Vec<String> {
        posts
            .iter()
            .map(|p| p.author.display_name.clone())
            .collect()
    };
    let first = PageRequest::first(10);
    assert_eq!(names(f.read.posts(&[Id(10)]).await.unwrap()), ["Alice A."]);
    assert_eq!(
        names(f.read.posts_by(&[ALICE], first).await.unwrap()),
        ["Alice A."]
    );
    let change = ProfileChange {
        display_name: Some("Alice B.".into()),
        bio: Some("Writes.".into()),
    };
    let stamp = EventStamp {
        id: Id(2),
        occurred_at_ms: 3_000,
        trace: None,
    };
    let changed = f.profiles.update(ALICE, &change, &stamp).await.unwrap();
    let changed = changed.expect("Alice's profile");
    assert_eq!(
        (changed.display_name.as_str(), changed.bio.as_str()),
        ("Alice B.", "Writes.")
    );
    assert_eq!(names(f.read.posts(&[Id(10)]).await.unwrap()), ["Alice B."]);
    assert_eq!(
        names(f.read.posts_by(&[ALICE], first).await.unwrap()),
        ["Alice B."]
    );
    let profile = f.read.profiles(&[ALICE]).await.unwrap().remove(0);
    assert_eq!(
        (profile.display_name.as_str(), profile.bio.as_str()),
        ("Alice B.", "Writes.")
    );
    // An unknown user has no profile to change.
    assert!(f
        .profiles
        .update(Id(99), &change, &stamp)
        .await
        .unwrap()
        .is_none());
}

/// A repost reads with its original's id (the reader puts the post in its place), and
/// the reposts of an original, and a user's, are found by it; twice each, so that a
/// copy kept in memory is seen to follow.
async fn reposts_read_with_their_original_and_are_found_by_it(f: &Fixture) {
    f.profiles().await;
    f.post(10, ALICE, "original").await;
    f.post(11, ALICE, "another").await;
    for (id, who, original) in [(20, BOB, 10), (21, ALICE, 10), (22, BOB, 11)] {
        f.repost(id, who, original).await;
    }
    for _ in 0..2 {
        let posts = f.read.posts(&[Id(20), Id(10)]).await.unwrap();
        let repost = posts.iter().find(|p| p.id == Id(20)).unwrap();
        assert_eq!(
            (repost.text.as_str(), repost.original_id()),
            ("", Some(Id(10)))
        );
        let original = posts.iter().find(|p| p.id == Id(10)).unwrap();
        assert_eq!((original.original_id(), original.repost_count), (None, 2));
        let bobs: Vec<Id> = f
            .read
            .posts_by(&[BOB], PageRequest::first(5))
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(bobs, [Id(22), Id(20)]);
        let mut of = f.read.reposts_of(&[Id(10), Id(99)]).await.unwrap();
        of.sort();
        assert_eq!(of, [(Id(10), Id(20), BOB), (Id(10), Id(21), ALICE)]);
        let mut among = f
            .read
            .reposted_among(BOB, &[Id(10), Id(11), Id(12)])
            .await
            .unwrap();
        among.sort();
        assert_eq!(among, [Id(10), Id(11)]);
        // Both at once, as the two answer them.
        let asked = [Id(10), Id(11), Id(12)];
        let (mut liked, mut reposted) = f.read.viewer_state(BOB, &asked).await.unwrap();
        liked.sort();
        reposted.sort();
        let mut likes = f.read.liked_among(BOB, &asked).await.unwrap();
        likes.sort();
        assert_eq!((liked, reposted), (likes, vec![Id(10), Id(11)]));
    }
    let stamp = chirp_core::events::EventStamp {
        id: Id(40),
        occurred_at_ms: 4_000,
        trace: None,
    };
    f.posts.unrepost(BOB, Id(10), &stamp).await.unwrap();
    assert_eq!(f.read.reposted_among(BOB, &[Id(10)]).await.unwrap(), []);
    assert_eq!(
        f.read.reposts_of(&[Id(10)]).await.unwrap(),
        [(Id(10), Id(21), ALICE)]
    );
    assert!(f.read.posts(&[Id(20)]).await.unwrap().is_empty());
    assert_eq!(f.read.posts(&[Id(10)]).await.unwrap()[0].repost_count, 1);
    // Who reposted it: the live reposts only, newest first, one extra told apart.
    assert_eq!(
        f.read
            .reposters(Id(10), PageRequest::first(5))
            .await
            .unwrap(),
        [(21, ALICE)]
    );
    assert_eq!(
        f.read
            .reposters(Id(11), PageRequest::first(5))
            .await
            .unwrap(),
        [(22, BOB)]
    );
    let below = PageRequest {
        limit: 5,
        before: Some(22),
    };
    assert_eq!(f.read.reposters(Id(11), below).await.unwrap(), []);
}

/// Posts read as a viewer carry the viewer's own like and repost of each (of a repost:
/// of its original), as `viewer_state` tells them, when the store reads them with the
/// posts; read as nobody, none.
async fn posts_read_as_a_viewer_carry_its_state(f: &Fixture) {
    f.profiles().await;
    f.post(10, ALICE, "liked").await;
    f.post(11, ALICE, "reposted").await;
    f.post(12, ALICE, "neither").await;
    f.like(30, BOB, 10).await;
    for (id, who, original) in [(20, BOB, 11), (21, ALICE, 10)] {
        f.repost(id, who, original).await;
    }
    let expected = |id: Id| match id.get() {
        // Alice's repost of 10 is seen as 10.
        10 | 21 => (true, false),
        11 | 20 => (false, true),
        _ => (false, false),
    };
    let asked = [Id(10), Id(11), Id(12), Id(20), Id(21)];
    let by_id = f.read.posts_seen(&asked, Some(BOB)).await.unwrap();
    let by_authors = f
        .read
        .posts_by_seen(&[ALICE, BOB], PageRequest::first(10), Some(BOB))
        .await
        .unwrap();
    for posts in [&by_id, &by_authors] {
        assert_eq!(ids(posts), [10, 11, 12, 20, 21]);
        for p in posts.iter() {
            match p.viewer {
                Some(v) => assert_eq!((v.liked, v.reposted), expected(p.id), "post {}", p.id),
                None => assert!(!f.reads_state_with_posts, "post {} without state", p.id),
            }
        }
    }
    // What viewer_state tells agrees, target by target.
    let targets: Vec<Id> = by_id.iter().map(|p| p.target_id()).collect();
    let (liked, reposted) = f.read.viewer_state(BOB, &targets).await.unwrap();
    for p in &by_id {
        let t = p.target_id();
        assert_eq!((liked.contains(&t), reposted.contains(&t)), expected(p.id));
    }
    // Read as nobody: no state, and the shared posts never keep one.
    let plain = f.read.posts_seen(&asked, None).await.unwrap();
    assert!(plain.iter().all(|p| p.viewer.is_none()));
    let again = f.read.posts(&asked).await.unwrap();
    assert!(again.iter().all(|p| p.viewer.is_none()));
}

/// A home batch's read: the live posts among the stored ids, and the authors' page as
/// `posts_by` gives it (newest first, one extra), a post in both in both, each with the
/// viewer's state when the store reads it with the posts.
async fn a_home_batch_reads_the_stored_posts_and_the_authors_at_once(f: &Fixture) {
    f.profiles().await;
    for id in 10..16 {
        let author = if id % 2 == 0 { ALICE } else { BOB };
        f.post(id, author, &format!("post {id}")).await;
    }
    f.like(30, ALICE, 13).await;
    assert!(f.posts.delete(Id(12), 1, 4_000, &event()).await.unwrap());
    // 12 deleted, 99 never was; 13 and 15 are Bob's, in both.
    let stored = [Id(15), Id(13), Id(12), Id(10), Id(99)];
    let page = PageRequest {
        limit: 1,
        before: Some(15),
    };
    let (found, by_authors) = f
        .read
        .home_posts(&stored, &[BOB], page, ALICE)
        .await
        .unwrap();
    assert_eq!(ids(&found), [10, 13, 15]);
    let order: Vec<u64> = by_authors.iter().map(|p| p.id.get()).collect();
    let expected: Vec<u64> = f
        .read
        .posts_by(&[BOB], page)
        .await
        .unwrap()
        .iter()
        .map(|p| p.id.get())
        .collect();
    assert_eq!(
        (order.as_slice(), expected.as_slice()),
        (&[13, 11][..], &[13, 11][..])
    );
    for p in found.iter().chain(&by_authors) {
        match p.viewer {
            Some(v) => assert_eq!((v.liked, v.reposted), (p.id == Id(13), false)),
            None => assert!(!f.reads_state_with_posts, "post {} without state", p.id),
        }
    }
    // Nothing stored, or no authors: the other half alone.
    let (found, by_authors) = f
        .read
        .home_posts(&[], &[BOB], PageRequest::first(5), ALICE)
        .await
        .unwrap();
    assert_eq!((ids(&found), ids(&by_authors)), (vec![], vec![11, 13, 15]));
    let (found, by_authors) = f
        .read
        .home_posts(&stored, &[], PageRequest::first(5), ALICE)
        .await
        .unwrap();
    assert_eq!((ids(&found), ids(&by_authors)), (vec![10, 13, 15], vec![]));
}

/// Posts by authors are read with their authors' profiles: an author without one (an
/// account deleted a moment ago, its posts not yet) takes no place on a page of several
/// authors' posts, and an author asked twice counts once.
async fn authors_without_a_profile_take_no_place_on_a_page(f: &Fixture) {
    f.profiles().await;
    const GONE: Id = Id(9);
    for id in 10..13 {
        f.post(id, BOB, &format!("bob {id}")).await;
    }
    for id in 20..25 {
        f.post(id, GONE, &format!("gone {id}")).await;
    }
    let page = PageRequest::first(1);
    for authors in [&[GONE, BOB][..], &[BOB, BOB], &[BOB, GONE, BOB]] {
        let found = f.read.posts_by(authors, page).await.unwrap();
        let order: Vec<u64> = found.iter().map(|p| p.id.get()).collect();
        assert_eq!(order, [12, 11], "{authors:?}");
        let (_, merged) = f.read.home_posts(&[], authors, page, ALICE).await.unwrap();
        let order: Vec<u64> = merged.iter().map(|p| p.id.get()).collect();
        assert_eq!(order, [12, 11], "{authors:?}");
    }
    assert!(f.read.posts_by(&[GONE], page).await.unwrap().is_empty());
    // Bob's account deleted, his posts still there (WriteService forgets them when it
    // takes the event): read with his profile, none is his any more, at once, though
    // they were read a moment before.
    assert!(f.profiles.delete(BOB, &event()).await.unwrap());
    assert!(f.read.posts_by(&[BOB], page).await.unwrap().is_empty());
}
