//! ReadService on SQLite: the embedded default. Reads the tables WriteService and
//! AuthService own, in the same database.

use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::embedded::cache::{Cache, PostCaches};
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::model::{Author, Post};
use chirp_core::page::PageRequest;
use chirp_core::time::rfc3339;
use chirp_core::Id;
use rusqlite::{params_from_iter, OptionalExtension};

use crate::ports::{Profile, ReadStore};

#[derive(Debug, Clone)]
pub struct SqliteReadStore {
    db: SqliteDb,
    /// In `chirp all`, the process that owns the database: live posts by id and each
    /// author's recent posts (WriteService forgets them as they change), and the
    /// profiles known to exist (profiles are never removed).
    cached: Option<Cached>,
}

#[derive(Debug, Clone)]
struct Cached {
    posts: PostCaches,
    profiles: Arc<Cache<Id, ()>>,
}

/// Profiles known to exist kept at most.
const CACHED_PROFILES: usize = 1_000_000;

impl SqliteReadStore {
    pub fn new(db: SqliteDb) -> Self {
        SqliteReadStore { db, cached: None }
    }

    /// The store with posts and profiles kept in memory; the posts caches are returned
    /// for WriteService's store to forget changed posts in.
    pub fn cached(db: SqliteDb) -> (Self, PostCaches) {
        let posts = PostCaches::default();
        let store = SqliteReadStore {
            db,
            cached: Some(Cached {
                posts: posts.clone(),
                profiles: Arc::new(Cache::new(CACHED_PROFILES)),
            }),
        };
        (store, posts)
    }

    fn stored_posts(&self, wanted: &[Id]) -> anyhow::Result<Vec<Arc<Post>>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts p JOIN profiles u ON u.id = p.author_id
             WHERE p.id IN ({}) AND p.deleted_at IS NULL",
            placeholders(wanted.len())
        );
        self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map(params_from_iter(ids(wanted)), shared_post)?
                .collect()
        })
    }

    fn stored_posts_by(&self, authors: &[Id], page: PageRequest) -> anyhow::Result<Vec<Arc<Post>>> {
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts p JOIN profiles u ON u.id = p.author_id
             WHERE p.author_id IN ({}) AND p.deleted_at IS NULL AND p.id < ?
             ORDER BY p.id DESC LIMIT ?",
            placeholders(authors.len())
        );
        let before = page
            .before
            .map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let params = ids(authors).chain([before, page.limit as i64 + 1]);
        self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map(params_from_iter(params), shared_post)?
                .collect()
        })
    }

    /// `author`'s newest live posts, up to [`PostCaches::RECENT`], from the cache or
    /// SQLite.
    fn recent(&self, caches: &PostCaches, author: Id) -> anyhow::Result<Arc<Vec<Arc<Post>>>> {
        if let Some(recent) = caches.recent.get(&author) {
            return Ok(recent);
        }
        let seen = caches.recent.generation();
        let recent =
            Arc::new(self.stored_posts_by(&[author], PageRequest::first(PostCaches::RECENT - 1))?);
        caches.recent.fill(seen, [(author, recent.clone())]);
        Ok(recent)
    }
}

const POST_COLUMNS: &str = "p.id, p.author_id, p.text, p.reply_to, p.created_at, p.edited_at,
    u.handle, u.display_name";

fn post(row: &rusqlite::Row<'_>) -> rusqlite::Result<Post> {
    Ok(Post {
        id: Id::from_i64(row.get(0)?),
        author: Author {
            id: Id::from_i64(row.get(1)?),
            handle: row.get(6)?,
            display_name: row.get(7)?,
        },
        text: row.get(2)?,
        reply_to: row.get::<_, Option<i64>>(3)?.map(Id::from_i64),
        created_at: rfc3339(row.get(4)?),
        edited_at: row.get::<_, Option<i64>>(5)?.map(rfc3339),
    })
}

fn shared_post(row: &rusqlite::Row<'_>) -> rusqlite::Result<Arc<Post>> {
    post(row).map(Arc::new)
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

fn ids(ids: &[Id]) -> impl Iterator<Item = i64> + '_ {
    ids.iter().map(|id| id.as_i64())
}

#[async_trait]
impl ReadStore for SqliteReadStore {
    async fn profiles(&self, users: &[Id]) -> anyhow::Result<Vec<Profile>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT u.id, u.handle, u.display_name, u.created_at, COALESCE(c.posts, 0)
             FROM profiles u LEFT JOIN post_counts c ON c.user_id = u.id
             WHERE u.id IN ({})",
            placeholders(users.len())
        );
        self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map(params_from_iter(ids(users)), |r| {
                    Ok(Profile {
                        id: Id::from_i64(r.get(0)?),
                        handle: r.get(1)?,
                        display_name: r.get(2)?,
                        created_at_ms: r.get(3)?,
                        posts_count: r.get::<_, i64>(4)?.max(0) as u64,
                    })
                })?
                .collect()
        })
    }

    async fn profile_id_by_handle(&self, handle_key: &str) -> anyhow::Result<Option<Id>> {
        let id: Option<i64> = self.db.read(|c| {
            c.prepare_cached("SELECT id FROM profiles WHERE handle_key = ?")?
                .query_row([handle_key], |r| r.get(0))
                .optional()
        })?;
        Ok(id.map(Id::from_i64))
    }

    async fn profile_exists(&self, id: Id) -> anyhow::Result<bool> {
        if let Some(c) = &self.cached {
            if c.profiles.get(&id).is_some() {
                return Ok(true);
            }
        }
        let exists = self.db.read(|c| {
            c.prepare_cached("SELECT 1 FROM profiles WHERE id = ?")?
                .exists([id.as_i64()])
        })?;
        if let (true, Some(c)) = (exists, &self.cached) {
            c.profiles.fill(c.profiles.generation(), [(id, ())]);
        }
        Ok(exists)
    }

    async fn posts(&self, wanted: &[Id]) -> anyhow::Result<Vec<Arc<Post>>> {
        let Some(cached) = &self.cached else {
            return self.stored_posts(wanted);
        };
        let mut found = Vec::with_capacity(wanted.len());
        let mut missing = Vec::new();
        for id in wanted {
            match cached.posts.by_id.get(id) {
                Some(p) => found.push(p),
                None => missing.push(*id),
            }
        }
        if !missing.is_empty() {
            let seen = cached.posts.by_id.generation();
            let loaded = self.stored_posts(&missing)?;
            cached
                .posts
                .by_id
                .fill(seen, loaded.iter().map(|p| (p.id, p.clone())));
            found.extend(loaded);
        }
        Ok(found)
    }

    async fn posts_by(&self, authors: &[Id], page: PageRequest) -> anyhow::Result<Vec<Arc<Post>>> {
        let wanted = page.limit + 1;
        let Some(cached) = self
            .cached
            .as_ref()
            .filter(|_| page.before.is_none() && wanted <= PostCaches::RECENT)
        else {
            return self.stored_posts_by(authors, page);
        };
        // Each author's list holds all their posts or more than the page: the newest
        // `wanted` of the lists together are the newest `wanted` of all.
        let mut merged = Vec::new();
        for author in authors {
            let recent = self.recent(&cached.posts, *author)?;
            merged.extend(recent.iter().take(wanted).cloned());
        }
        merged.sort_unstable_by_key(|p| std::cmp::Reverse(p.id));
        merged.truncate(wanted);
        Ok(merged)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}

#[cfg(test)]
mod tests {
    use chirp_auth::adapters::sqlite::SqliteAuthStore;
    use chirp_auth::ports::{ProfileStore, PublicProfile};
    use chirp_core::events::{Event, EventBody};
    use chirp_write::adapters::sqlite::SqlitePostStore;
    use chirp_write::ports::{NewPost, PostStore};

    use super::*;

    fn event() -> Event {
        Event {
            id: Id(1),
            version: 1,
            occurred_at_ms: 0,
            trace: None,
            body: EventBody::FollowCreated {
                follower: Id(1),
                followee: Id(2),
            },
        }
    }

    fn texts(posts: &[Arc<Post>]) -> Vec<&str> {
        posts.iter().map(|p| p.text.as_str()).collect()
    }

    /// The copies in memory never show what a committed change replaced: every read
    /// below follows a write that has just been answered, and reads twice (the second
    /// from the cache).
    #[tokio::test]
    async fn reads_from_memory_see_every_change_once_it_is_answered() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
        let profiles = SqliteAuthStore::new(db.clone()).await.unwrap();
        let (read, caches) = SqliteReadStore::cached(db.clone());
        let write = SqlitePostStore::new(db.clone())
            .await
            .unwrap()
            .forgetting_in(caches);
        let plain = SqliteReadStore::new(db);
        let me = Id(7);
        profiles
            .create(
                &PublicProfile {
                    id: me,
                    handle: "me".into(),
                    display_name: "Me".into(),
                    created_at_ms: 0,
                },
                &event(),
            )
            .await
            .unwrap();
        assert!(read.profile_exists(me).await.unwrap());
        assert!(read.profile_exists(me).await.unwrap());
        assert!(!read.profile_exists(Id(8)).await.unwrap());

        let page = PageRequest::first(10);
        let post = |id: u64, text: &str| NewPost {
            id: Id(id),
            author: me,
            text: text.into(),
            reply_to: None,
            created_at_ms: 0,
        };
        for (id, text) in [(100, "one"), (200, "two")] {
            write.create(&post(id, text), None, &event()).await.unwrap();
            for _ in 0..2 {
                let mine = read.posts_by(&[me], page).await.unwrap();
                assert_eq!(mine.first().map(|p| p.text.as_str()), Some(text));
            }
        }
        assert_eq!(texts(&read.posts(&[Id(100)]).await.unwrap()), ["one"]);

        assert!(write
            .edit(Id(100), 1, "one, edited", 1, &event())
            .await
            .unwrap());
        for _ in 0..2 {
            assert_eq!(
                texts(&read.posts(&[Id(100)]).await.unwrap()),
                ["one, edited"]
            );
            assert_eq!(
                texts(&read.posts_by(&[me], page).await.unwrap()),
                ["two", "one, edited"]
            );
        }

        assert!(write.delete(Id(200), 1, 2, &event()).await.unwrap());
        for _ in 0..2 {
            assert!(read.posts(&[Id(200)]).await.unwrap().is_empty());
            assert_eq!(
                texts(&read.posts_by(&[me], page).await.unwrap()),
                ["one, edited"]
            );
        }
        // What SQLite itself answers, page by page, is what the cache answers.
        for id in 300..340 {
            write
                .create(&post(id, "more"), None, &event())
                .await
                .unwrap();
            assert_eq!(read.posts_by(&[me], page).await.unwrap()[0].id, Id(id));
        }
        let small = PageRequest::first(5);
        assert_eq!(
            read.posts_by(&[me, Id(8)], small)
                .await
                .unwrap()
                .iter()
                .map(|p| p.id)
                .collect::<Vec<_>>(),
            plain
                .posts_by(&[me, Id(8)], small)
                .await
                .unwrap()
                .iter()
                .map(|p| p.id)
                .collect::<Vec<_>>()
        );
        let later = PageRequest {
            before: Some(320),
            ..small
        };
        assert_eq!(
            read.posts_by(&[me], later).await.unwrap().len(),
            plain.posts_by(&[me], later).await.unwrap().len()
        );
    }
}
