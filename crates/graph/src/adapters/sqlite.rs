//! The follow graph on SQLite: the embedded default, which survives restarts.

use std::collections::HashMap;

use async_trait::async_trait;
use chirp_core::embedded::outbox;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::Event;
use chirp_core::model::FollowCounts;
use chirp_core::page::PageRequest;
use chirp_core::peers::GraphPage;
use chirp_core::Id;
use rusqlite::{params, params_from_iter, Connection};

use crate::ports::FollowStore;

pub const OUTBOX: &str = "graph_outbox";

pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE follows (
            follower INTEGER NOT NULL,
            followee INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (follower, followee));
         CREATE INDEX follows_by_followee ON follows (followee, seq);
         CREATE INDEX follows_by_follower ON follows (follower, seq);
         CREATE TABLE follow_counts (
            user_id INTEGER PRIMARY KEY,
            followers INTEGER NOT NULL DEFAULT 0,
            following INTEGER NOT NULL DEFAULT 0);"
            .to_owned(),
        outbox::create_table(OUTBOX),
    ]
}

#[derive(Debug, Clone)]
pub struct SqliteFollowStore {
    db: SqliteDb,
}

impl SqliteFollowStore {
    pub async fn new(db: SqliteDb) -> anyhow::Result<Self> {
        let steps = migrations();
        let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
        db.migrate("graph", &steps).await?;
        Ok(SqliteFollowStore { db })
    }

    /// One page of one side of the graph: `side` is the column matched, `other` the one
    /// returned.
    fn page(
        &self,
        side: &str,
        other: &str,
        user: Id,
        page: PageRequest,
    ) -> anyhow::Result<GraphPage> {
        let sql = format!(
            "SELECT {other}, seq FROM follows WHERE {side} = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
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
}

/// Adds `delta` to one of `user`'s counts, never below zero.
fn bump(c: &Connection, user: Id, column: &str, delta: i64) -> rusqlite::Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO follow_counts (user_id, {column}) VALUES (?1, MAX(?2, 0))
         ON CONFLICT (user_id) DO UPDATE SET {column} = MAX({column} + ?2, 0)"
    ))?
    .execute(params![user.as_i64(), delta])?;
    Ok(())
}

#[async_trait]
impl FollowStore for SqliteFollowStore {
    async fn follow(
        &self,
        follower: Id,
        followee: Id,
        key: u64,
        event: &Event,
    ) -> anyhow::Result<bool> {
        let event = event.clone();
        self.db
            .write(move |c| {
                let added = c
                    .prepare_cached(
                        "INSERT INTO follows (follower, followee, seq) VALUES (?, ?, ?)
                         ON CONFLICT (follower, followee) DO NOTHING",
                    )?
                    .execute(params![follower.as_i64(), followee.as_i64(), key as i64])?;
                if added == 0 {
                    return Ok(false);
                }
                bump(c, followee, "followers", 1)?;
                bump(c, follower, "following", 1)?;
                outbox::enqueue(c, OUTBOX, &event)?;
                Ok(true)
            })
            .await
    }

    async fn unfollow(&self, follower: Id, followee: Id, event: &Event) -> anyhow::Result<bool> {
        let event = event.clone();
        self.db
            .write(move |c| {
                let removed = c
                    .prepare_cached("DELETE FROM follows WHERE follower = ? AND followee = ?")?
                    .execute(params![follower.as_i64(), followee.as_i64()])?;
                if removed == 0 {
                    return Ok(false);
                }
                bump(c, followee, "followers", -1)?;
                bump(c, follower, "following", -1)?;
                outbox::enqueue(c, OUTBOX, &event)?;
                Ok(true)
            })
            .await
    }

    async fn followers(&self, user: Id, page: PageRequest) -> anyhow::Result<GraphPage> {
        self.page("followee", "follower", user, page)
    }

    async fn following(&self, user: Id, page: PageRequest) -> anyhow::Result<GraphPage> {
        self.page("follower", "followee", user, page)
    }

    async fn all_following(&self, user: Id, max: usize) -> anyhow::Result<Vec<Id>> {
        self.ids(
            "SELECT followee FROM follows WHERE follower = ? ORDER BY seq DESC LIMIT ?",
            user,
            max.min(i64::MAX as usize) as i64,
        )
    }

    async fn counts(&self, users: &[Id]) -> anyhow::Result<HashMap<Id, FollowCounts>> {
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

    async fn following_above(&self, user: Id, threshold: u64) -> anyhow::Result<Vec<Id>> {
        self.ids(
            "SELECT f.followee FROM follows f JOIN follow_counts c ON c.user_id = f.followee
             WHERE f.follower = ? AND c.followers > ?",
            user,
            threshold.min(i64::MAX as u64) as i64,
        )
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}

impl SqliteFollowStore {
    /// The ids a query of `user` and one number answers.
    fn ids(&self, sql: &str, user: Id, n: i64) -> anyhow::Result<Vec<Id>> {
        self.db.read(|c| {
            c.prepare_cached(sql)?
                .query_map(params![user.as_i64(), n], |r| Ok(Id::from_i64(r.get(0)?)))?
                .collect()
        })
    }
}
