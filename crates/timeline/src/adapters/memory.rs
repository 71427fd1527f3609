//! Home timelines in process memory: the embedded default. Each timeline is a sorted ring
//! buffer of 16-byte entries, newest first (a new post goes in front and, at the cap, the
//! oldest leaves the back, neither moving the others); the map is split into shards so that fanout to many users
//! does not serialise on one lock. Lost on restart by design: timelines rebuild.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chirp_core::page::PageRequest;
use chirp_core::peers::TimelineEntry;
use chirp_core::store::{StoreError, StoreResult};
use chirp_core::Id;

use crate::ports::TimelineStore;

const SHARDS: usize = 64;

#[derive(Debug, Default)]
struct Timeline {
    /// Newest first, distinct posts.
    entries: VecDeque<TimelineEntry>,
    /// Present while a rebuild is under way: what was removed since it began (boxed:
    /// rare, and a timeline without it stays 40 bytes).
    rebuilding: Option<Box<Removed>>,
}

#[derive(Debug, Default)]
struct Removed {
    posts: HashSet<Id>,
    authors: HashSet<Id>,
}

impl Timeline {
    fn insert(&mut self, e: TimelineEntry, cap: usize) {
        // A new post is newer than all the others (the usual case): it goes in front,
        // without a search through the timeline's memory.
        if cap > 0 && self.entries.front().is_none_or(|f| e.post > f.post) {
            if self.entries.len() >= cap {
                self.entries.truncate(cap - 1);
            }
            self.entries.push_front(e);
            return;
        }
        // Newest first: search with the comparison reversed.
        match self.entries.binary_search_by(|x| e.post.cmp(&x.post)) {
            Ok(_) => {}
            Err(pos) if pos < cap => {
                self.entries.insert(pos, e);
                self.entries.truncate(cap);
            }
            Err(_) => {}
        }
    }
}

/// See [`MemoryTimelines::footprint`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub timelines: usize,
    pub entries: usize,
    pub bytes: usize,
}

#[derive(Debug)]
pub struct MemoryTimelines {
    shards: Vec<Mutex<HashMap<Id, Timeline>>>,
}

impl Default for MemoryTimelines {
    fn default() -> Self {
        MemoryTimelines {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl MemoryTimelines {
    fn shard(&self, user: Id) -> StoreResult<MutexGuard<'_, HashMap<Id, Timeline>>> {
        // Ids share their low bits (sequence) often; mix the worker and time bits in.
        let h = (user.get() ^ (user.get() >> 12) ^ (user.get() >> 22)) as usize;
        self.shards[h % SHARDS]
            .lock()
            .map_err(|_| StoreError::new("memory", anyhow::anyhow!("timeline shard lock poisoned")))
    }

    /// What the store holds: timelines, entries, and the bytes allocated for them (the
    /// maps' slots and each timeline's entry buffer; the allocator's own overhead aside).
    pub fn footprint(&self) -> Footprint {
        let mut f = Footprint::default();
        let slot = std::mem::size_of::<Id>() + std::mem::size_of::<Timeline>() + 1;
        for s in &self.shards {
            if let Ok(map) = s.lock() {
                f.timelines += map.len();
                f.bytes += map.capacity() * slot;
                for t in map.values() {
                    f.entries += t.entries.len();
                    f.bytes += t.entries.capacity() * std::mem::size_of::<TimelineEntry>();
                }
            }
        }
        f
    }

    /// How many timelines and entries are held.
    pub fn size(&self) -> (usize, usize) {
        let mut timelines = 0;
        let mut entries = 0;
        for s in &self.shards {
            if let Ok(map) = s.lock() {
                timelines += map.len();
                entries += map.values().map(|t| t.entries.len()).sum::<usize>();
            }
        }
        (timelines, entries)
    }
}

#[async_trait]
impl TimelineStore for MemoryTimelines {
    async fn page(&self, user: Id, page: PageRequest) -> StoreResult<Option<Vec<Id>>> {
        let map = self.shard(user)?;
        let Some(t) = map.get(&user) else {
            return Ok(None);
        };
        if t.rebuilding.is_some() {
            return Ok(None);
        }
        let start = match page.before {
            None => 0,
            Some(b) => t.entries.partition_point(|e| e.post.get() >= b),
        };
        Ok(Some(
            t.entries
                .range(start.min(t.entries.len())..)
                .take(page.limit)
                .map(|e| e.post)
                .collect(),
        ))
    }

    async fn insert(&self, users: &[Id], entries: &[TimelineEntry], cap: usize) -> StoreResult<()> {
        for user in users {
            let mut map = self.shard(*user)?;
            if let Some(t) = map.get_mut(user) {
                for e in entries {
                    t.insert(*e, cap);
                }
            }
        }
        Ok(())
    }

    async fn remove_post(&self, users: &[Id], post: Id) -> StoreResult<()> {
        for user in users {
            let mut map = self.shard(*user)?;
            if let Some(t) = map.get_mut(user) {
                t.entries.retain(|e| e.post != post);
                if let Some(r) = &mut t.rebuilding {
                    r.posts.insert(post);
                }
            }
        }
        Ok(())
    }

    async fn remove_author(&self, user: Id, author: Id) -> StoreResult<()> {
        let mut map = self.shard(user)?;
        if let Some(t) = map.get_mut(&user) {
            t.entries.retain(|e| e.author != author);
            if let Some(r) = &mut t.rebuilding {
                r.authors.insert(author);
            }
        }
        Ok(())
    }

    async fn begin_rebuild(&self, user: Id) -> StoreResult<()> {
        let mut map = self.shard(user)?;
        map.entry(user).or_insert_with(|| Timeline {
            entries: VecDeque::new(),
            rebuilding: Some(Box::default()),
        });
        Ok(())
    }

    async fn finish_rebuild(
        &self,
        user: Id,
        fetched: Vec<TimelineEntry>,
        cap: usize,
    ) -> StoreResult<()> {
        let mut map = self.shard(user)?;
        let t = map.entry(user).or_default();
        let removed = t.rebuilding.take().unwrap_or_default();
        for e in fetched {
            if !removed.posts.contains(&e.post) && !removed.authors.contains(&e.author) {
                t.insert(e, cap);
            }
        }
        t.entries.shrink_to_fit();
        Ok(())
    }

    async fn entries(&self, user: Id) -> StoreResult<Option<Vec<TimelineEntry>>> {
        Ok(self
            .shard(user)?
            .get(&user)
            .map(|t| t.entries.iter().copied().collect()))
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_footprint_counts_entries_and_their_bytes() {
        assert_eq!(std::mem::size_of::<Timeline>(), 40);
        let store = MemoryTimelines::default();
        for u in 1..=10u64 {
            store.begin_rebuild(Id(u)).await.unwrap();
            let entries = (0..100u64)
                .map(|k| TimelineEntry {
                    post: Id(1000 + k),
                    author: Id(k % 7 + 1),
                })
                .collect();
            store.finish_rebuild(Id(u), entries, 800).await.unwrap();
        }
        let f = store.footprint();
        assert_eq!((f.timelines, f.entries), (10, 1000));
        // 16 bytes an entry, exactly allocated after a rebuild, plus the map slots.
        let per_entry = f.bytes as f64 / f.entries as f64;
        assert!((16.0..20.0).contains(&per_entry), "{f:?}");
    }

    #[test]
    fn a_full_timeline_keeps_the_newest_in_order_whatever_the_arrival_order() {
        let mut t = Timeline::default();
        let entry = |p: u64| TimelineEntry {
            post: Id(p),
            author: Id(1),
        };
        for p in (1..=10).chain([5, 0, 15, 12, 11]) {
            t.insert(entry(p), 8);
        }
        let posts: Vec<u64> = t.entries.iter().map(|e| e.post.get()).collect();
        assert_eq!(posts, [15, 12, 11, 10, 9, 8, 7, 6]);
    }
}
