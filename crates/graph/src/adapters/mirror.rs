//! The graph in memory, as `chirp all` keeps a copy of it beside SQLite (see
//! [`SqliteFollowStore::mirrored`](super::sqlite::SqliteFollowStore::mirrored)).

use std::collections::{HashMap, HashSet};

use chirp_core::model::Relationship;
use chirp_core::page::PageRequest;
use chirp_core::peers::{GraphPage, Hidden};
use chirp_core::Id;

use crate::ports::Edge;

/// One kind of edge both ways: each user's out-edges and in-edges as (key, user) in key
/// order, and the pairs for a membership test.
#[derive(Debug, Default)]
pub struct Edges {
    pub out: HashMap<Id, Vec<(u64, Id)>>,
    pub to: HashMap<Id, Vec<(u64, Id)>>,
    pairs: HashSet<(Id, Id)>,
}

impl Edges {
    pub fn add(&mut self, from: Id, to: Id, key: u64) {
        fn insert(list: &mut Vec<(u64, Id)>, item: (u64, Id)) {
            let at = list.partition_point(|e| *e < item);
            list.insert(at, item);
        }
        if self.pairs.insert((from, to)) {
            insert(self.out.entry(from).or_default(), (key, to));
            insert(self.to.entry(to).or_default(), (key, from));
        }
    }

    /// Removes the edge; false when there was none.
    pub fn remove(&mut self, from: Id, to: Id) -> bool {
        if !self.pairs.remove(&(from, to)) {
            return false;
        }
        if let Some(list) = self.out.get_mut(&from) {
            list.retain(|(_, u)| *u != to);
        }
        if let Some(list) = self.to.get_mut(&to) {
            list.retain(|(_, u)| *u != from);
        }
        true
    }

    /// Removes every edge from or to `user`.
    pub fn remove_user(&mut self, user: Id) {
        let out: Vec<Id> = Self::ids(self.out.get(&user)).collect();
        let to: Vec<Id> = Self::ids(self.to.get(&user)).collect();
        for other in out {
            self.remove(user, other);
        }
        for other in to {
            self.remove(other, user);
        }
        self.out.remove(&user);
        self.to.remove(&user);
    }

    pub fn has(&self, from: Id, to: Id) -> bool {
        self.pairs.contains(&(from, to))
    }

    pub fn out_count(&self, user: Id) -> u64 {
        self.out.get(&user).map_or(0, |l| l.len() as u64)
    }

    pub fn in_count(&self, user: Id) -> u64 {
        self.to.get(&user).map_or(0, |l| l.len() as u64)
    }

    fn ids(list: Option<&Vec<(u64, Id)>>) -> impl Iterator<Item = Id> + '_ {
        list.into_iter().flatten().map(|(_, u)| *u)
    }
}

/// Follows, blocks and mutes.
#[derive(Debug, Default)]
pub struct Mirror {
    /// follower → followee.
    pub follows: Edges,
    pub blocks: Edges,
    pub mutes: Edges,
}

impl Mirror {
    pub fn edges(&self, edge: Edge) -> &Edges {
        match edge {
            Edge::Block => &self.blocks,
            Edge::Mute => &self.mutes,
        }
    }

    pub fn edges_mut(&mut self, edge: Edge) -> &mut Edges {
        match edge {
            Edge::Block => &mut self.blocks,
            Edge::Mute => &mut self.mutes,
        }
    }

    pub fn relationship(&self, user: Id, other: Id) -> Relationship {
        Relationship {
            id: other,
            following: self.follows.has(user, other),
            followed_by: self.follows.has(other, user),
            blocking: self.blocks.has(user, other),
            blocked_by: self.blocks.has(other, user),
            muting: self.mutes.has(user, other),
        }
    }

    pub fn hidden_from(&self, user: Id) -> Hidden {
        let mut blocked: Vec<Id> = Edges::ids(self.blocks.out.get(&user))
            .chain(Edges::ids(self.blocks.to.get(&user)))
            .collect();
        blocked.sort_unstable();
        blocked.dedup();
        Hidden {
            blocked,
            muted: Edges::ids(self.mutes.out.get(&user)).collect(),
        }
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
