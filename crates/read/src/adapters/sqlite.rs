//! ReadService on SQLite: the embedded default. Reads the tables WriteService and
//! AuthService own, in the same database.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::embedded::cache::{PostCaches, Reactions};
use chirp_core::embedded::sqlite::{post_from_row, SqliteDb};
use chirp_core::model::{Post, POST_COLUMNS, POST_FROM};
use chirp_core::page::PageRequest;
use chirp_core::store::StoreResult;
use chirp_core::Id;
use rusqlite::{params, params_from_iter, OptionalExtension};

use crate::ports::{Profile, ReadStore};

#[derive(Debug, Clone)]
pub struct SqliteReadStore {
    db: SqliteDb,
    /// In `chirp all`, the process that owns the database: live posts by id and each
    /// author's recent posts (WriteService forgets them as they change), and the
    /// profiles known to exist (AuthService forgets a deleted one).
    cached: Option<PostCaches>,
}

impl SqliteReadStore {
    pub fn new(db: SqliteDb) -> Self {
        SqliteReadStore { db, cached: None }
    }

    /// The store with posts kept in `posts` (which WriteService's store forgets changed
    /// posts in) and the profiles known to exist in memory.
    pub fn cached(db: SqliteDb, posts: PostCaches) -> Self {
        SqliteReadStore {
            db,
            cached: Some(posts),
        }
    }

    /// In `chirp all`, what `user` liked and reposted, kept in memory (read once, then
    /// forgotten by WriteService when it changes); `None` without the cache, or for a
    /// user with more than [`Reactions::MOST`] of either (their pages ask SQLite).
    fn reactions(&self, user: Id) -> StoreResult<Option<Arc<Reactions>>> {
        let Some(cached) = &self.cached else {
            return Ok(None);
        };
        if let Some(known) = cached.reactions.get(&user) {
            return Ok(known);
        }
        let seen = cached.reactions.generation();
        let most = Reactions::MOST as i64 + 1;
        let (liked, reposted) = self.db.read(|c| {
            let liked: HashSet<Id> = c
                .prepare_cached("SELECT post_id FROM likes WHERE user_id = ? LIMIT ?")?
                .query_map(params![user.as_i64(), most], |r| r.get(0).map(Id::from_i64))?
                .collect::<Result<_, _>>()?;
            let reposted: HashSet<Id> = c
                .prepare_cached(
                    "SELECT repost_of FROM posts WHERE author_id = ? AND repost_of IS NOT NULL
                     AND deleted_at IS NULL LIMIT ?",
                )?
                .query_map(params![user.as_i64(), most], |r| r.get(0).map(Id::from_i64))?
                .collect::<Result<_, _>>()?;
            Ok((liked, reposted))
        })?;
        let kept = (liked.len() <= Reactions::MOST && reposted.len() <= Reactions::MOST)
            .then(|| Arc::new(Reactions { liked, reposted }));
        cached.reactions.fill(seen, [(user, kept.clone())]);
        Ok(kept)
    }

    fn stored_posts(&self, wanted: &[Id]) -> StoreResult<Vec<Arc<Post>>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM {POST_FROM} WHERE p.id IN ({}) AND p.deleted_at IS NULL",
            placeholders(wanted.len())
        );
        self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map(params_from_iter(ids(wanted)), shared_post)?
                .collect()
        })
    }

    fn stored_posts_by(&self, authors: &[Id], page: PageRequest) -> StoreResult<Vec<Arc<Post>>> {
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM {POST_FROM}
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
    fn recent(&self, caches: &PostCaches, author: Id) -> StoreResult<Arc<Vec<Arc<Post>>>> {
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

fn shared_post(row: &rusqlite::Row<'_>) -> rusqlite::Result<Arc<Post>> {
    post_from_row(row).map(Arc::new)
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

fn ids(ids: &[Id]) -> impl Iterator<Item = i64> + '_ {
    ids.iter().map(|id| id.as_i64())
}

#[async_trait]
impl ReadStore for SqliteReadStore {
    async fn profiles(&self, users: &[Id]) -> StoreResult<Vec<Profile>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT u.id, u.handle, u.display_name, u.created_at, COALESCE(c.posts, 0), u.bio
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
                        bio: r.get(5)?,
                    })
                })?
                .collect()
        })
    }

    async fn profile_id_by_handle(&self, handle_key: &str) -> StoreResult<Option<Id>> {
        let id: Option<i64> = self.db.read(|c| {
            c.prepare_cached("SELECT id FROM profiles WHERE handle_key = ?")?
                .query_row([handle_key], |r| r.get(0))
                .optional()
        })?;
        Ok(id.map(Id::from_i64))
    }

    async fn profile_exists(&self, id: Id) -> StoreResult<bool> {
        let mut seen = None;
        if let Some(c) = &self.cached {
            if c.users.get(&id).is_some() {
                return Ok(true);
            }
            seen = Some(c.users.generation());
        }
        let exists = self.db.read(|c| {
            c.prepare_cached("SELECT 1 FROM profiles WHERE id = ?")?
                .exists([id.as_i64()])
        })?;
        if let (true, Some(c), Some(seen)) = (exists, &self.cached, seen) {
            c.users.fill(seen, [(id, ())]);
        }
        Ok(exists)
    }

    async fn posts(&self, wanted: &[Id]) -> StoreResult<Vec<Arc<Post>>> {
        let Some(cached) = &self.cached else {
            return self.stored_posts(wanted);
        };
        let mut found = Vec::with_capacity(wanted.len());
        let mut missing = Vec::new();
        for id in wanted {
            match cached.by_id.get(id) {
                Some(p) => found.push(p),
                None => missing.push(*id),
            }
        }
        if !missing.is_empty() {
            let seen = cached.by_id.generation();
            let loaded = self.stored_posts(&missing)?;
            cached
                .by_id
                .fill(seen, loaded.iter().map(|p| (p.id, p.clone())));
            found.extend(loaded);
        }
        Ok(found)
    }

    async fn posts_by(&self, authors: &[Id], page: PageRequest) -> StoreResult<Vec<Arc<Post>>> {
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
        // (Each author once, as the query's `IN` takes them.)
        let mut merged = Vec::new();
        for (i, author) in authors.iter().enumerate() {
            if authors[..i].contains(author) {
                continue;
            }
            let recent = self.recent(cached, *author)?;
            merged.extend(recent.iter().take(wanted).cloned());
        }
        merged.sort_unstable_by_key(|p| std::cmp::Reverse(p.id));
        merged.truncate(wanted);
        Ok(merged)
    }

    async fn replies(&self, post: Id, page: PageRequest) -> StoreResult<Vec<Arc<Post>>> {
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM {POST_FROM}
             WHERE p.reply_to = ? AND p.deleted_at IS NULL AND p.id > ?
             ORDER BY p.id LIMIT ?"
        );
        let after = page.before.map_or(0, key);
        self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map([post.as_i64(), after, page.limit as i64 + 1], shared_post)?
                .collect()
        })
    }

    async fn ancestor_ids(&self, post: Id, max: usize) -> StoreResult<Vec<Id>> {
        let sql = super::postgres::ANCESTORS.replace('$', "?");
        self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map([post.as_i64(), max as i64], |r| r.get(0).map(Id::from_i64))?
                .collect()
        })
    }

    async fn likers(&self, post: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>> {
        self.keyed(
            "SELECT l.id, l.user_id FROM likes l JOIN profiles u ON u.id = l.user_id
             WHERE l.post_id = ? AND l.id < ? ORDER BY l.id DESC LIMIT ?",
            post,
            page,
        )
    }

    async fn reposters(&self, post: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>> {
        self.keyed(
            "SELECT p.id, p.author_id FROM posts p JOIN profiles u ON u.id = p.author_id
             WHERE p.repost_of = ? AND p.id < ? AND p.deleted_at IS NULL
             ORDER BY p.id DESC LIMIT ?",
            post,
            page,
        )
    }

    async fn liked(&self, user: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>> {
        self.keyed(
            "SELECT l.id, l.post_id FROM likes l JOIN posts p ON p.id = l.post_id
             WHERE l.user_id = ? AND l.id < ? AND p.deleted_at IS NULL
             ORDER BY l.id DESC LIMIT ?",
            user,
            page,
        )
    }

    async fn liked_among(&self, user: Id, posts: &[Id]) -> StoreResult<Vec<Id>> {
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(r) = self.reactions(user)? {
            return Ok(posts
                .iter()
                .copied()
                .filter(|p| r.liked.contains(p))
                .collect());
        }
        let sql = format!(
            "SELECT post_id FROM likes WHERE user_id = ? AND post_id IN ({})",
            placeholders(posts.len())
        );
        let params = std::iter::once(user.as_i64()).chain(ids(posts));
        self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map(params_from_iter(params), |r| r.get(0).map(Id::from_i64))?
                .collect()
        })
    }

    async fn reposted_among(&self, user: Id, posts: &[Id]) -> StoreResult<Vec<Id>> {
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(r) = self.reactions(user)? {
            return Ok(posts
                .iter()
                .copied()
                .filter(|p| r.reposted.contains(p))
                .collect());
        }
        let sql = format!(
            "SELECT repost_of FROM posts
             WHERE author_id = ? AND repost_of IN ({}) AND deleted_at IS NULL",
            placeholders(posts.len())
        );
        let params = std::iter::once(user.as_i64()).chain(ids(posts));
        self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map(params_from_iter(params), |r| r.get(0).map(Id::from_i64))?
                .collect()
        })
    }

    async fn reposts_of(&self, originals: &[Id]) -> StoreResult<Vec<(Id, Id, Id)>> {
        if originals.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT repost_of, id, author_id FROM posts
             WHERE repost_of IN ({}) AND deleted_at IS NULL",
            placeholders(originals.len())
        );
        self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map(params_from_iter(ids(originals)), |r| {
                    Ok((
                        Id::from_i64(r.get(0)?),
                        Id::from_i64(r.get(1)?),
                        Id::from_i64(r.get(2)?),
                    ))
                })?
                .collect()
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}

fn key(k: u64) -> i64 {
    k.min(i64::MAX as u64) as i64
}

impl SqliteReadStore {
    /// A newest-first list of (key, id) below the page's start, by `sql` (which takes the
    /// owner, the key to page below and the limit).
    fn keyed(&self, sql: &str, owner: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>> {
        let before = page.before.map_or(i64::MAX, key);
        self.db.read(|c| {
            c.prepare_cached(sql)?
                .query_map([owner.as_i64(), before, page.limit as i64 + 1], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, Id::from_i64(r.get(1)?)))
                })?
                .collect()
        })
    }
}
