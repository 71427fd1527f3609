//! Rows kept in memory by the process that owns the SQLite database (`chirp all`), for
//! the reads that would otherwise make SQLite start again from an empty page cache: under
//! steady writes every read connection finds the database changed, and re-reads every
//! page it touches.
//!
//! A [`Cache`] is filled by readers and emptied of a key by its writer after the change
//! commits. A reader notes the cache's generation before it reads the database and fills
//! only if no key was forgotten since, so a row read before a change can never be put
//! back after the change forgot it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::model::Post;
use crate::Id;

/// Posts kept by id, and recent posts by author.
const POSTS_BY_ID: usize = 200_000;
const AUTHORS: usize = 100_000;
/// Profiles known to exist kept at most.
const USERS: usize = 1_000_000;
/// Users whose likes and reposts are kept at most.
const REACTORS: usize = 100_000;

/// What ReadService keeps of the posts table in `chirp all`: live posts by id, and each
/// author's newest live posts (up to [`PostCaches::RECENT`], newest first; fewer means
/// all of them). WriteService forgets a post, and its author's recent posts, once a
/// change to them commits. Posts are shared, not copied, with the pages that show them.
#[derive(Debug, Clone)]
pub struct PostCaches {
    pub by_id: Arc<Cache<Id, Arc<Post>>>,
    pub recent: Arc<Cache<Id, Arc<Vec<Arc<Post>>>>>,
    /// The profiles known to exist (AuthService forgets a deleted account's).
    pub users: Arc<Cache<Id, ()>>,
    /// What each user has liked and reposted, for their `viewer` state on every post
    /// they read (`None`: too much to keep; ask SQLite). WriteService forgets a user's
    /// after each like, unlike, repost or its deletion by them.
    pub reactions: Arc<Cache<Id, Option<Arc<Reactions>>>>,
}

/// The posts a user liked and the originals they reposted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reactions {
    pub liked: std::collections::HashSet<Id>,
    pub reposted: std::collections::HashSet<Id>,
}

impl Reactions {
    /// Users with more likes or reposts than this are not kept: their viewer state is
    /// read from SQLite per page.
    pub const MOST: usize = 4096;
}

impl Default for PostCaches {
    fn default() -> Self {
        PostCaches {
            by_id: Arc::new(Cache::new(POSTS_BY_ID)),
            recent: Arc::new(Cache::new(AUTHORS)),
            users: Arc::new(Cache::new(USERS)),
            reactions: Arc::new(Cache::new(REACTORS)),
        }
    }
}

impl PostCaches {
    /// An author's newest posts kept: enough for any first page (limits go up to 100
    /// elsewhere, but a page of 10 is what clients ask for; larger pages read SQLite).
    pub const RECENT: usize = 32;

    /// After a change to `post` by `author` committed (or may have).
    pub fn forget(&self, post: Id, author: Id) {
        self.by_id.forget(&post);
        self.recent.forget(&author);
    }
}

/// A fill that finds a cache full drops this share of its entries (1/8): any of them, in
/// the map's order, which follows the keys' hashes. The cache keeps most of what it holds,
/// instead of starting empty and sending every read to SQLite at once.
const EVICT_DIVISOR: usize = 8;

/// Drops `n` entries of `map`, any of them: the first in the map's order, which follows
/// the keys' hashes.
pub fn evict_any<K, V>(map: &mut HashMap<K, V>, n: usize) {
    let mut left = n;
    map.retain(|_, _| {
        let keep = left == 0;
        left = left.saturating_sub(1);
        keep
    });
}

#[derive(Debug)]
pub struct Cache<K, V> {
    entries: RwLock<HashMap<K, V>>,
    generation: AtomicU64,
    capacity: usize,
}

impl<K: Eq + Hash + Copy, V: Clone> Cache<K, V> {
    /// A cache of at most `capacity` entries; a fill past it first drops an eighth of them.
    pub fn new(capacity: usize) -> Self {
        Cache {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            capacity: capacity.max(1),
        }
    }

    /// To note before reading the rows a [`fill`](Self::fill) will put in.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, key: &K) -> Option<V> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Puts in rows read after [`generation`](Self::generation) answered `seen`, unless a
    /// key was forgotten since.
    pub fn fill(&self, seen: u64, rows: impl IntoIterator<Item = (K, V)>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != seen {
            return;
        }
        for (k, v) in rows {
            if entries.len() >= self.capacity && !entries.contains_key(&k) {
                evict_any(&mut entries, (self.capacity / EVICT_DIVISOR).max(1));
            }
            entries.insert(k, v);
        }
    }

    /// Drops `key`, after a change to its row has committed.
    pub fn forget(&self, key: &K) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    /// Drops every key (when which changed is not known).
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_read_before_a_change_is_not_put_back_after_it() {
        let c: Cache<u64, &str> = Cache::new(10);
        let before = c.generation();
        c.fill(before, [(1, "v1")]);
        assert_eq!(c.get(&1), Some("v1"));

        // A reader reads version 1; meanwhile the row changes and is forgotten.
        let seen = c.generation();
        c.forget(&1);
        c.fill(seen, [(1, "v1"), (2, "two")]);
        assert_eq!(c.get(&1), None);
        assert_eq!(c.get(&2), None);
        // A reader after the change fills.
        let seen = c.generation();
        c.fill(seen, [(1, "v2")]);
        assert_eq!(c.get(&1), Some("v2"));
    }

    #[test]
    fn it_holds_no_more_than_its_capacity() {
        let c: Cache<u64, u64> = Cache::new(3);
        c.fill(c.generation(), (0..10).map(|i| (i, i)));
        assert!(c.len() <= 3 && !c.is_empty());
        assert_eq!(c.get(&9), Some(9));
    }

    #[test]
    fn a_full_cache_drops_an_eighth_not_everything() {
        let c: Cache<u64, u64> = Cache::new(80);
        c.fill(c.generation(), (0..80).map(|i| (i, i)));
        assert_eq!(c.len(), 80);
        // A key already held takes no room.
        c.fill(c.generation(), [(5, 50)]);
        assert_eq!((c.len(), c.get(&5)), (80, Some(50)));
        c.fill(c.generation(), [(80, 80)]);
        assert_eq!(c.len(), 80 - 10 + 1);
        assert_eq!(c.get(&80), Some(80));
        let kept = (0..80).filter(|i| c.get(i).is_some()).count();
        assert_eq!(kept, 70);
    }
}
