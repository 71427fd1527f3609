//! The follow graph in memory, as `chirp all` keeps a copy of it beside SQLite (see
//! [`SqliteFollowStore::mirrored`](super::sqlite::SqliteFollowStore::mirrored)).

use std::collections::HashMap;

use chirp_core::page::PageRequest;
use chirp_core::peers::GraphPage;
use chirp_core::Id;

/// Each user's follows both ways, as (key, user) in key order.
#[derive(Debug, Default)]
pub struct Mirror {
    pub following: HashMap<Id, Vec<(u64, Id)>>,
    pub followers: HashMap<Id, Vec<(u64, Id)>>,
}

impl Mirror {
    pub fn add(&mut self, follower: Id, followee: Id, key: u64) {
        fn insert(list: &mut Vec<(u64, Id)>, item: (u64, Id)) {
            let at = list.partition_point(|e| *e < item);
            list.insert(at, item);
        }
        insert(self.following.entry(follower).or_default(), (key, followee));
        insert(self.followers.entry(followee).or_default(), (key, follower));
    }

    pub fn remove(&mut self, follower: Id, followee: Id) {
        if let Some(list) = self.following.get_mut(&follower) {
            list.retain(|(_, u)| *u != followee);
        }
        if let Some(list) = self.followers.get_mut(&followee) {
            list.retain(|(_, u)| *u != follower);
        }
    }

    pub fn follower_count(&self, user: Id) -> u64 {
        self.followers.get(&user).map_or(0, |l| l.len() as u64)
    }

    pub fn following_count(&self, user: Id) -> u64 {
        self.following.get(&user).map_or(0, |l| l.len() as u64)
    }

    /// The page of `list` (newest first) before `page.before`.
    pub fn page(list: Option<&Vec<(u64, Id)>>, page: PageRequest) -> GraphPage {
        let list = list.map_or(&[][..], Vec::as_slice);
        let end = match page.before {
            Some(before) => list.partition_point(|(k, _)| *k < before),
            None => list.len(),
        };
        let start = end.saturating_sub(page.limit);
        let (users, keys) = list[start..end].iter().rev().map(|(k, u)| (*u, *k)).unzip();
        GraphPage {
            users,
            keys,
            more: start > 0,
        }
    }
}
