//! The follow graph on SQLite: the embedded default, which survives restarts.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chirp_core::embedded::outbox;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::Event;
use chirp_core::model::{FollowCounts, Relationship};
use chirp_core::page::PageRequest;
use chirp_core::peers::{GraphPage, Hidden};
use chirp_core::store::StoreResult;
use chirp_core::Id;
use rusqlite::{params, params_from_iter, Connection};

use super::mirror::Mirror;
use super::{hidden_of, HIDDEN_SQL};
use crate::ports::{BlockEvents, Edge, FollowStore, Followed};

pub const OUTBOX: &str = "graph_outbox";

/// The follow graph on SQLite; in `chirp all`, with a copy of it in memory that every read
/// is answered from ([`SqliteFollowStore::mirrored`]). There one process owns the
/// database, so the copy can be written through: each follow and unfollow changes it on
/// SQLite's writer thread, in commit order, in the same step as the rows. Reading SQLite for every page of followers
/// and every home read's followed celebrities is what a read costs most otherwise: under
/// steady writes, each read connection finds the database changed and starts again from
/// an empty cache. The copy costs about 32 bytes per follow, and is loaded at start.
#[derive(Debug, Clone)]
pub struct SqliteFollowStore {
    db: SqliteDb,
    mirror: Option<Arc<RwLock<Mirror>>>,
}

impl SqliteFollowStore {
    pub async fn new(db: SqliteDb) -> StoreResult<Self> {
        db.migrate(crate::SCHEMA.owner, crate::SCHEMA.sqlite_steps())
            .await?;
        Ok(SqliteFollowStore { db, mirror: None })
    }

    /// The store with the graph copied in memory, for a process that is the database's
    /// only writer of follows (`chirp all`): another process's follows would not reach
    /// the copy.
    pub async fn mirrored(db: SqliteDb) -> StoreResult<Self> {
        let mut store = Self::new(db).await?;
        store.mirror = Some(Arc::default());
        store.load().await?;
        Ok(store)
    }

    /// Reads the whole graph into the copy; on the writer's thread, so that no follow
    /// lands between the read and the copy's replacement.
    async fn load(&self) -> StoreResult<()> {
        let Some(mirror) = self.mirror.clone() else {
            return Ok(());
        };
        self.db
            .write(move |c| {
                let mut fresh = Mirror::default();
                for (sql, edges) in [
                    (
                        "SELECT follower, followee, seq FROM follows",
                        &mut fresh.follows,
                    ),
                    (
                        "SELECT blocker, blocked, seq FROM blocks",
                        &mut fresh.blocks,
                    ),
                    ("SELECT muter, muted, seq FROM mutes", &mut fresh.mutes),
                ] {
                    let mut rows = c.prepare(sql)?;
                    let mut rows = rows.query([])?;
                    while let Some(r) = rows.next()? {
                        let (from, to, seq): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
                        edges.add(Id::from_i64(from), Id::from_i64(to), seq as u64);
                    }
                }
                *mirror.write().unwrap_or_else(|p| p.into_inner()) = fresh;
                Ok(())
            })
            .await
    }

    fn mirror(&self) -> Option<std::sync::RwLockReadGuard<'_, Mirror>> {
        let m = self.mirror.as_ref()?;
        Some(m.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// A write that failed may have changed the copy before its commit failed: start the
    /// copy again from what SQLite holds.
    async fn after_failure<T>(&self, result: StoreResult<T>) -> StoreResult<T> {
        if result.is_err() {
            if let Err(e) = self.load().await {
                tracing::error!(error = %e, "reloading the follow graph after a failed write");
            }
        }
        result
    }
}

/// The graph read from SQLite, where no copy is kept.
impl SqliteFollowStore {
    /// One page of one side of `table`: `side` is the column matched, `other` the one
    /// returned.
    fn page(
        &self,
        (table, side, other): (&str, &str, &str),
        user: Id,
        page: PageRequest,
    ) -> StoreResult<GraphPage> {
        let sql = format!(
            "SELECT {other}, seq FROM {table} WHERE {side} = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        );
        let before = page
            .before
            .map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let rows: Vec<(i64, i64)> = self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map(params![user.as_i64(), before, page.limit as i64 + 1], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect()
        })?;
        let mut out = GraphPage {
            more: rows.len() > page.limit,
            ..GraphPage::default()
        };
        for (other, seq) in rows.into_iter().take(page.limit) {
            out.users.push(Id::from_i64(other));
            out.keys.push(seq as u64);
        }
        Ok(out)
    }

    /// The ids a query of `user` and one number answers.
    fn ids(&self, sql: &str, user: Id, n: i64) -> StoreResult<Vec<Id>> {
        self.db.read(|c| {
            c.prepare_cached(sql)?
                .query_map(params![user.as_i64(), n], |r| Ok(Id::from_i64(r.get(0)?)))?
                .collect()
        })
    }

    fn stored_counts(&self, users: &[Id]) -> StoreResult<HashMap<Id, FollowCounts>> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        let placeholders = vec!["?"; users.len()].join(",");
        let sql = format!(
            "SELECT user_id, followers, following FROM follow_counts WHERE user_id IN ({placeholders})"
        );
        self.db.read(|c| {
            c.prepare_cached(&sql)?
                .query_map(params_from_iter(users.iter().map(|u| u.as_i64())), |r| {
                    Ok((
                        Id::from_i64(r.get(0)?),
                        FollowCounts {
                            followers: r.get::<_, i64>(1)?.max(0) as u64,
                            following: r.get::<_, i64>(2)?.max(0) as u64,
                        },
                    ))
                })?
                .collect()
        })
    }
}

/// Adds `delta` to one of `user`'s counts, never below zero.
/// Adds `delta` to `user`'s count in `column`, and gives the count it made.
fn bump(c: &Connection, user: Id, column: &str, delta: i64) -> rusqlite::Result<u64> {
    let count: i64 = c
        .prepare_cached(&format!(
            "INSERT INTO follow_counts (user_id, {column}) VALUES (?1, MAX(?2, 0))
             ON CONFLICT (user_id) DO UPDATE SET {column} = MAX({column} + ?2, 0)
             RETURNING {column}"
        ))?
        .query_row(params![user.as_i64(), delta], |r| r.get(0))?;
    Ok(count.max(0) as u64)
}

/// Ends `follower`'s follow of `followee` with `event`, counts and all; false when there
/// was none.
fn end_follow(c: &Connection, follower: Id, followee: Id, event: &Event) -> anyhow::Result<bool> {
    let removed = c
        .prepare_cached("DELETE FROM follows WHERE follower = ? AND followee = ?")?
        .execute(params![follower.as_i64(), followee.as_i64()])?;
    if removed == 0 {
        return Ok(false);
    }
    bump(c, followee, "followers", -1)?;
    bump(c, follower, "following", -1)?;
    outbox::enqueue(c, OUTBOX, event)?;
    Ok(true)
}

/// Whether either of the two blocks the other.
fn blocked_between(c: &Connection, a: Id, b: Id) -> rusqlite::Result<bool> {
    c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM blocks WHERE (blocker = ?1 AND blocked = ?2)
                                             OR (blocker = ?2 AND blocked = ?1))",
    )?
    .query_row(params![a.as_i64(), b.as_i64()], |r| r.get(0))
}

/// Adds the edge `from` → `to` of `table` at `key`; false when it was there.
fn add_edge(
    c: &Connection,
    (table, from_col, to_col): (&str, &str, &str),
    from: Id,
    to: Id,
    key: u64,
) -> rusqlite::Result<bool> {
    let added = c
        .prepare_cached(&format!(
            "INSERT INTO {table} ({from_col}, {to_col}, seq) VALUES (?, ?, ?)
             ON CONFLICT ({from_col}, {to_col}) DO NOTHING"
        ))?
        .execute(params![from.as_i64(), to.as_i64(), key as i64])?;
    Ok(added > 0)
}

#[async_trait]
impl FollowStore for SqliteFollowStore {
    async fn follow(
        &self,
        follower: Id,
        followee: Id,
        key: u64,
        event: &Event,
    ) -> StoreResult<Followed> {
        let (event, mirror) = (event.clone(), self.mirror.clone());
        let result = self
            .db
            .write(move |c| {
                if blocked_between(c, follower, followee)? {
                    return Ok(Followed::Blocked);
                }
                let added = c
                    .prepare_cached(
                        "INSERT INTO follows (follower, followee, seq) VALUES (?, ?, ?)
                         ON CONFLICT (follower, followee) DO NOTHING",
                    )?
                    .execute(params![follower.as_i64(), followee.as_i64(), key as i64])?;
                if added == 0 {
                    return Ok(Followed::Already);
                }
                let followers = bump(c, followee, "followers", 1)?;
                bump(c, follower, "following", 1)?;
                outbox::enqueue(c, OUTBOX, &event)?;
                if let Some(m) = mirror {
                    m.write()
                        .unwrap_or_else(|p| p.into_inner())
                        .follows
                        .add(follower, followee, key);
                }
                Ok(Followed::Now { followers })
            })
            .await;
        self.after_failure(result).await
    }

    async fn unfollow(&self, follower: Id, followee: Id, event: &Event) -> StoreResult<bool> {
        let (event, mirror) = (event.clone(), self.mirror.clone());
        let result = self
            .db
            .write(move |c| {
                let removed = end_follow(c, follower, followee, &event)?;
                if removed {
                    if let Some(m) = mirror {
                        m.write()
                            .unwrap_or_else(|p| p.into_inner())
                            .follows
                            .remove(follower, followee);
                    }
                }
                Ok(removed)
            })
            .await;
        self.after_failure(result).await
    }

    async fn followers(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        match self.mirror() {
            Some(m) => Ok(Mirror::page(m.follows.to.get(&user), page)),
            None => self.page(("follows", "followee", "follower"), user, page),
        }
    }

    async fn following(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        match self.mirror() {
            Some(m) => Ok(Mirror::page(m.follows.out.get(&user), page)),
            None => self.page(("follows", "follower", "followee"), user, page),
        }
    }

    async fn all_following(&self, user: Id, max: usize) -> StoreResult<Vec<Id>> {
        match self.mirror() {
            Some(m) => Ok(m
                .follows
                .out
                .get(&user)
                .map(|l| l.iter().rev().take(max).map(|(_, u)| *u).collect())
                .unwrap_or_default()),
            None => self.ids(
                "SELECT followee FROM follows WHERE follower = ? ORDER BY seq DESC LIMIT ?",
                user,
                max.min(i64::MAX as usize) as i64,
            ),
        }
    }

    async fn counts(&self, users: &[Id]) -> StoreResult<HashMap<Id, FollowCounts>> {
        let Some(m) = self.mirror() else {
            return self.stored_counts(users);
        };
        Ok(users
            .iter()
            .filter(|u| m.follows.to.contains_key(u) || m.follows.out.contains_key(u))
            .map(|u| {
                let counts = FollowCounts {
                    followers: m.follows.in_count(*u),
                    following: m.follows.out_count(*u),
                };
                (*u, counts)
            })
            .collect())
    }

    async fn following_above(&self, user: Id, threshold: u64) -> StoreResult<Vec<Id>> {
        let Some(m) = self.mirror() else {
            return self.ids(
                "SELECT f.followee FROM follows f JOIN follow_counts c ON c.user_id = f.followee
                 WHERE f.follower = ? AND c.followers > ?",
                user,
                threshold.min(i64::MAX as u64) as i64,
            );
        };
        Ok(m.follows
            .out
            .get(&user)
            .map(|l| {
                l.iter()
                    .map(|(_, u)| *u)
                    .filter(|u| m.follows.in_count(*u) > threshold)
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn block(
        &self,
        blocker: Id,
        blocked: Id,
        key: u64,
        events: &BlockEvents,
    ) -> StoreResult<bool> {
        let (events, mirror) = (events.clone(), self.mirror.clone());
        let result = self
            .db
            .write(move |c| {
                if !add_edge(c, Edge::Block.table(), blocker, blocked, key)? {
                    return Ok(false);
                }
                let unfollowed = end_follow(c, blocker, blocked, &events.unfollow)?;
                let unfollowed_back = end_follow(c, blocked, blocker, &events.unfollowed)?;
                outbox::enqueue(c, OUTBOX, &events.block)?;
                if let Some(m) = mirror {
                    let mut m = m.write().unwrap_or_else(|p| p.into_inner());
                    m.blocks.add(blocker, blocked, key);
                    if unfollowed {
                        m.follows.remove(blocker, blocked);
                    }
                    if unfollowed_back {
                        m.follows.remove(blocked, blocker);
                    }
                }
                Ok(true)
            })
            .await;
        self.after_failure(result).await
    }

    async fn mute(&self, muter: Id, muted: Id, key: u64, event: &Event) -> StoreResult<bool> {
        let (event, mirror) = (event.clone(), self.mirror.clone());
        let result = self
            .db
            .write(move |c| {
                if !add_edge(c, Edge::Mute.table(), muter, muted, key)? {
                    return Ok(false);
                }
                outbox::enqueue(c, OUTBOX, &event)?;
                if let Some(m) = mirror {
                    let mut m = m.write().unwrap_or_else(|p| p.into_inner());
                    m.mutes.add(muter, muted, key);
                }
                Ok(true)
            })
            .await;
        self.after_failure(result).await
    }

    async fn remove_edge(&self, edge: Edge, from: Id, to: Id, event: &Event) -> StoreResult<bool> {
        let (event, mirror) = (event.clone(), self.mirror.clone());
        let (table, from_col, to_col) = edge.table();
        let sql = format!("DELETE FROM {table} WHERE {from_col} = ? AND {to_col} = ?");
        let result = self
            .db
            .write(move |c| {
                let removed = c
                    .prepare_cached(&sql)?
                    .execute(params![from.as_i64(), to.as_i64()])?;
                if removed == 0 {
                    return Ok(false);
                }
                outbox::enqueue(c, OUTBOX, &event)?;
                if let Some(m) = mirror {
                    let mut m = m.write().unwrap_or_else(|p| p.into_inner());
                    m.edges_mut(edge).remove(from, to);
                }
                Ok(true)
            })
            .await;
        self.after_failure(result).await
    }

    async fn forget_edges_of(&self, user: Id) -> StoreResult<()> {
        let mirror = self.mirror.clone();
        let result = self
            .db
            .write(move |c| {
                for edge in [Edge::Block, Edge::Mute] {
                    let (table, from_col, to_col) = edge.table();
                    let sql = format!("DELETE FROM {table} WHERE {from_col} = ?1 OR {to_col} = ?1");
                    c.prepare_cached(&sql)?.execute([user.as_i64()])?;
                }
                if let Some(m) = mirror {
                    let mut m = m.write().unwrap_or_else(|p| p.into_inner());
                    m.blocks.remove_user(user);
                    m.mutes.remove_user(user);
                }
                Ok(())
            })
            .await;
        self.after_failure(result).await
    }

    async fn edges(&self, edge: Edge, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        match self.mirror() {
            Some(m) => Ok(Mirror::page(m.edges(edge).out.get(&user), page)),
            None => {
                let (table, from_col, to_col) = edge.table();
                self.page((table, from_col, to_col), user, page)
            }
        }
    }

    async fn follows_each(&self, pairs: &[(Id, Id)]) -> StoreResult<Vec<bool>> {
        if let Some(m) = self.mirror() {
            return Ok(pairs.iter().map(|(a, b)| m.follows.has(*a, *b)).collect());
        }
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM follows WHERE follower = ? AND followee = ?)",
            )?;
            pairs
                .iter()
                .map(|(a, b)| stmt.query_row(params![a.as_i64(), b.as_i64()], |r| r.get(0)))
                .collect()
        })
    }

    async fn relationships(&self, user: Id, others: &[Id]) -> StoreResult<Vec<Relationship>> {
        if let Some(m) = self.mirror() {
            return Ok(others.iter().map(|o| m.relationship(user, *o)).collect());
        }
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM follows WHERE follower = ?1 AND followee = ?2),
                        EXISTS (SELECT 1 FROM follows WHERE follower = ?2 AND followee = ?1),
                        EXISTS (SELECT 1 FROM blocks WHERE blocker = ?1 AND blocked = ?2),
                        EXISTS (SELECT 1 FROM blocks WHERE blocker = ?2 AND blocked = ?1),
                        EXISTS (SELECT 1 FROM mutes WHERE muter = ?1 AND muted = ?2)",
            )?;
            others
                .iter()
                .map(|other| {
                    stmt.query_row(params![user.as_i64(), other.as_i64()], |r| {
                        Ok(Relationship {
                            id: *other,
                            following: r.get(0)?,
                            followed_by: r.get(1)?,
                            blocking: r.get(2)?,
                            blocked_by: r.get(3)?,
                            muting: r.get(4)?,
                        })
                    })
                })
                .collect()
        })
    }

    async fn hidden_from(&self, user: Id) -> StoreResult<Hidden> {
        if let Some(m) = self.mirror() {
            return Ok(m.hidden_from(user));
        }
        let rows: Vec<(i64, bool)> = self.db.read(|c| {
            c.prepare_cached(HIDDEN_SQL)?
                .query_map(params![user.as_i64()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })?;
        Ok(hidden_of(rows))
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_copy_in_memory_is_what_the_database_holds_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let event = |n: u64| Event {
            id: Id(n),
            version: 1,
            occurred_at_ms: 0,
            trace: None,
            body: chirp_core::events::EventBody::FollowCreated {
                follower: Id(n),
                followee: Id(n + 1),
            },
        };
        let before = {
            let s = SqliteFollowStore::mirrored(SqliteDb::open(&path).await.unwrap())
                .await
                .unwrap();
            for (i, (a, b)) in [(1, 9), (2, 9), (3, 9), (1, 8), (9, 1)].iter().enumerate() {
                assert!(matches!(
                    s.follow(Id(*a), Id(*b), 10 + i as u64, &event(1))
                        .await
                        .unwrap(),
                    Followed::Now { .. }
                ));
            }
            assert!(s.unfollow(Id(2), Id(9), &event(2)).await.unwrap());
            let page = s.followers(Id(9), PageRequest::first(10)).await.unwrap();
            let counts = s.counts(&[Id(1), Id(9), Id(2), Id(5)]).await.unwrap();
            (page, counts)
        };
        let s = SqliteFollowStore::mirrored(SqliteDb::open(&path).await.unwrap())
            .await
            .unwrap();
        let page = s.followers(Id(9), PageRequest::first(10)).await.unwrap();
        assert_eq!(page.users, [Id(3), Id(1)]);
        assert_eq!(page.keys, [12, 10]);
        assert_eq!(page.users, before.0.users);
        let counts = s.counts(&[Id(1), Id(9), Id(2), Id(5)]).await.unwrap();
        for user in [Id(1), Id(9)] {
            assert_eq!(counts[&user], before.1[&user]);
        }
        assert_eq!(
            counts[&Id(1)],
            FollowCounts {
                followers: 1,
                following: 2
            }
        );
        // Someone who follows no one (any more) has no counts, or zeros.
        for user in [Id(2), Id(5)] {
            assert_eq!(
                counts.get(&user).copied().unwrap_or_default(),
                FollowCounts::default()
            );
        }
        // Newest first, a page at a time.
        let first = s.following(Id(1), PageRequest::first(1)).await.unwrap();
        assert_eq!((first.users.as_slice(), first.more), (&[Id(8)][..], true));
        let rest = s
            .following(
                Id(1),
                PageRequest {
                    before: first.keys.last().copied(),
                    ..PageRequest::first(1)
                },
            )
            .await
            .unwrap();
        assert_eq!((rest.users.as_slice(), rest.more), (&[Id(9)][..], false));
    }
}
