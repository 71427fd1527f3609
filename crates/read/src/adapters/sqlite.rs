//! ReadService on SQLite: the embedded default. Reads the tables WriteService and
//! AuthService own, in the same database.

use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::embedded::cache::Cache;
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
    /// In `chirp all`, the process that owns the database: live posts by id (WriteService
    /// forgets one when it is edited or deleted), and the profiles known to exist
    /// (profiles are never removed).
    cached: Option<Cached>,
}

#[derive(Debug, Clone)]
struct Cached {
    posts: Arc<Cache<Id, Post>>,
    profiles: Arc<Cache<Id, ()>>,
}

/// Posts and profiles kept at most.
const CACHED_POSTS: usize = 200_000;
const CACHED_PROFILES: usize = 1_000_000;

impl SqliteReadStore {
    pub fn new(db: SqliteDb) -> Self {
        SqliteReadStore { db, cached: None }
    }

    /// The store with posts and profiles kept in memory; the posts cache is returned for
    /// WriteService's store to forget edited and deleted posts in.
    pub fn cached(db: SqliteDb) -> (Self, Arc<Cache<Id, Post>>) {
        let posts = Arc::new(Cache::new(CACHED_POSTS));
        let store = SqliteReadStore {
            db,
            cached: Some(Cached {
                posts: posts.clone(),
                profiles: Arc::new(Cache::new(CACHED_PROFILES)),
            }),
        };
        (store, posts)
    }

    fn stored_posts(&self, wanted: &[Id]) -> anyhow::Result<Vec<Post>> {
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
                .query_map(params_from_iter(ids(wanted)), post)?
                .collect()
        })
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

    async fn posts(&self, wanted: &[Id]) -> anyhow::Result<Vec<Post>> {
        let Some(cached) = &self.cached else {
            return self.stored_posts(wanted);
        };
        let mut found = Vec::with_capacity(wanted.len());
        let mut missing = Vec::new();
        for id in wanted {
            match cached.posts.get(id) {
                Some(p) => found.push(p),
                None => missing.push(*id),
            }
        }
        if !missing.is_empty() {
            let seen = cached.posts.generation();
            let loaded = self.stored_posts(&missing)?;
            cached
                .posts
                .fill(seen, loaded.iter().map(|p| (p.id, p.clone())));
            found.extend(loaded);
        }
        Ok(found)
    }

    async fn posts_by(&self, authors: &[Id], page: PageRequest) -> anyhow::Result<Vec<Post>> {
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
                .query_map(params_from_iter(params), post)?
                .collect()
        })
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}
