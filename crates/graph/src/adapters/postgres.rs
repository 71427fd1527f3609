//! The follow graph on PostgreSQL, with its outbox in the same transaction: the deployed
//! adapter. (DESIGN.md names Redis for the graph; PostgreSQL keeps each follow and its
//! event atomic, which a Redis Cluster cannot across two users' slots. Reads of the graph
//! are indexed range scans.)

use std::collections::HashMap;

use async_trait::async_trait;
use chirp_core::deployed::postgres::{enqueue, PgDb};
use chirp_core::events::Event;
use chirp_core::model::{FollowCounts, Relationship};
use chirp_core::page::PageRequest;
use chirp_core::peers::{GraphPage, Hidden, HomeContext};
use chirp_core::store::StoreResult;
use chirp_core::Id;
use sqlx::{PgConnection, Row};

use super::{hidden_of, HIDDEN_SQL};
use crate::ports::{BlockEvents, Edge, FollowStore, Followed};

pub const OUTBOX: &str = "graph_outbox";

#[derive(Debug, Clone)]
pub struct PgFollowStore {
    db: PgDb,
}

impl PgFollowStore {
    /// The store; its tables must have been made by [`migrate`].
    pub fn new(db: PgDb) -> Self {
        PgFollowStore { db }
    }

    /// One page of one side of `table`: `side` is the column matched, `other` the one
    /// returned.
    async fn page(
        &self,
        (table, side, other): (&str, &str, &str),
        user: Id,
        page: PageRequest,
    ) -> StoreResult<GraphPage> {
        let sql = format!(
            "SELECT {other}, seq FROM {table} WHERE {side} = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(user.as_i64())
            .bind(
                page.before
                    .map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64),
            )
            .bind(page.limit as i64 + 1)
            .fetch_all(&self.db.pool)
            .await?;
        let mut out = GraphPage {
            more: rows.len() > page.limit,
            ..GraphPage::default()
        };
        for row in rows.into_iter().take(page.limit) {
            out.users.push(Id::from_i64(row.try_get(0)?));
            out.keys.push(row.try_get::<i64, _>(1)? as u64);
        }
        Ok(out)
    }

    /// Adds `delta` to `user`'s count in `column`, and gives the count it made.
    async fn bump(
        conn: &mut PgConnection,
        user: Id,
        column: &str,
        delta: i64,
    ) -> sqlx::Result<u64> {
        let sql = format!(
            "INSERT INTO follow_counts (user_id, {column}) VALUES ($1, GREATEST($2, 0))
             ON CONFLICT (user_id) DO UPDATE SET {column} = GREATEST(follow_counts.{column} + $2, 0)
             RETURNING {column}"
        );
        let count: i64 = sqlx::query_scalar(&sql)
            .bind(user.as_i64())
            .bind(delta)
            .fetch_one(conn)
            .await?;
        Ok(count.max(0) as u64)
    }

    /// Takes the transaction's lock on the pair `a`, `b` (either order): a follow and a
    /// block between the same two users wait for each other, so a follow never commits
    /// beside a block that its check did not see.
    async fn lock_pair(conn: &mut PgConnection, a: Id, b: Id) -> sqlx::Result<()> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(pair_hash(lo, 0x5f3c))
            .bind(pair_hash(hi, 0x2b71))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Ends `follower`'s follow of `followee` with `event`, counts and all; false when
    /// there was none.
    async fn end_follow(
        conn: &mut PgConnection,
        follower: Id,
        followee: Id,
        event: &Event,
    ) -> StoreResult<bool> {
        let removed = sqlx::query("DELETE FROM follows WHERE follower = $1 AND followee = $2")
            .bind(follower.as_i64())
            .bind(followee.as_i64())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        // Counts in id order, so that two follows between the same pair of users in
        // opposite directions cannot deadlock.
        let (first, second) = if follower < followee {
            ((follower, "following"), (followee, "followers"))
        } else {
            ((followee, "followers"), (follower, "following"))
        };
        Self::bump(conn, first.0, first.1, -1).await?;
        Self::bump(conn, second.0, second.1, -1).await?;
        enqueue(conn, OUTBOX, event).await?;
        Ok(true)
    }

    async fn add_edge(
        conn: &mut PgConnection,
        edge: Edge,
        from: Id,
        to: Id,
        key: u64,
    ) -> sqlx::Result<bool> {
        let (table, from_col, to_col) = edge.table();
        let added = sqlx::query(&format!(
            "INSERT INTO {table} ({from_col}, {to_col}, seq) VALUES ($1, $2, $3)
             ON CONFLICT ({from_col}, {to_col}) DO NOTHING"
        ))
        .bind(from.as_i64())
        .bind(to.as_i64())
        .bind(key as i64)
        .execute(conn)
        .await?
        .rows_affected();
        Ok(added > 0)
    }
}

/// Half of an advisory lock's key: `id` folded into 32 bits, salted by its side.
fn pair_hash(id: Id, salt: u32) -> i32 {
    let v = id.get();
    ((v ^ (v >> 32)) as u32 ^ salt) as i32
}

#[async_trait]
impl FollowStore for PgFollowStore {
    async fn follow(
        &self,
        follower: Id,
        followee: Id,
        key: u64,
        event: &Event,
    ) -> StoreResult<Followed> {
        let mut tx = self.db.pool.begin().await?;
        Self::lock_pair(&mut tx, follower, followee).await?;
        let blocked: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE (blocker = $1 AND blocked = $2)
                                                 OR (blocker = $2 AND blocked = $1))",
        )
        .bind(follower.as_i64())
        .bind(followee.as_i64())
        .fetch_one(&mut *tx)
        .await?;
        if blocked {
            return Ok(Followed::Blocked);
        }
        let added = sqlx::query(
            "INSERT INTO follows (follower, followee, seq) VALUES ($1, $2, $3)
             ON CONFLICT (follower, followee) DO NOTHING",
        )
        .bind(follower.as_i64())
        .bind(followee.as_i64())
        .bind(key as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added == 0 {
            return Ok(Followed::Already);
        }
        // Counts in id order, so that two follows between the same pair of users in
        // opposite directions cannot deadlock.
        let (first, second) = if follower < followee {
            ((follower, "following"), (followee, "followers"))
        } else {
            ((followee, "followers"), (follower, "following"))
        };
        let made = [
            Self::bump(&mut tx, first.0, first.1, 1).await?,
            Self::bump(&mut tx, second.0, second.1, 1).await?,
        ];
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        let followers = if follower < followee {
            made[1]
        } else {
            made[0]
        };
        Ok(Followed::Now { followers })
    }

    async fn unfollow(&self, follower: Id, followee: Id, event: &Event) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        if !Self::end_follow(&mut tx, follower, followee, event).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn followers(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        self.page(("follows", "followee", "follower"), user, page)
            .await
    }

    async fn following(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        self.page(("follows", "follower", "followee"), user, page)
            .await
    }

    async fn all_following(&self, user: Id, max: usize) -> StoreResult<Vec<Id>> {
        let rows = sqlx::query(
            "SELECT followee FROM follows WHERE follower = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(user.as_i64())
        .bind(max as i64)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(Id::from_i64(r.try_get(0)?)))
            .collect()
    }

    async fn counts(&self, users: &[Id]) -> StoreResult<HashMap<Id, FollowCounts>> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<i64> = users.iter().map(|u| u.as_i64()).collect();
        let rows = sqlx::query(
            "SELECT user_id, followers, following FROM follow_counts WHERE user_id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&self.db.pool)
        .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            out.insert(
                Id::from_i64(row.try_get(0)?),
                FollowCounts {
                    followers: row.try_get::<i64, _>(1)?.max(0) as u64,
                    following: row.try_get::<i64, _>(2)?.max(0) as u64,
                },
            );
        }
        Ok(out)
    }

    async fn following_above(&self, user: Id, threshold: u64) -> StoreResult<Vec<Id>> {
        let rows = sqlx::query(
            "SELECT f.followee FROM follows f JOIN follow_counts c ON c.user_id = f.followee
             WHERE f.follower = $1 AND c.followers > $2",
        )
        .bind(user.as_i64())
        .bind(threshold.min(i64::MAX as u64) as i64)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(Id::from_i64(r.try_get(0)?)))
            .collect()
    }

    async fn block(
        &self,
        blocker: Id,
        blocked: Id,
        key: u64,
        events: &BlockEvents,
    ) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        Self::lock_pair(&mut tx, blocker, blocked).await?;
        if !Self::add_edge(&mut tx, Edge::Block, blocker, blocked, key).await? {
            return Ok(false);
        }
        Self::end_follow(&mut tx, blocker, blocked, &events.unfollow).await?;
        Self::end_follow(&mut tx, blocked, blocker, &events.unfollowed).await?;
        enqueue(&mut tx, OUTBOX, &events.block).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn mute(&self, muter: Id, muted: Id, key: u64, event: &Event) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        if !Self::add_edge(&mut tx, Edge::Mute, muter, muted, key).await? {
            return Ok(false);
        }
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn remove_edge(&self, edge: Edge, from: Id, to: Id, event: &Event) -> StoreResult<bool> {
        let (table, from_col, to_col) = edge.table();
        let mut tx = self.db.pool.begin().await?;
        let removed = sqlx::query(&format!(
            "DELETE FROM {table} WHERE {from_col} = $1 AND {to_col} = $2"
        ))
        .bind(from.as_i64())
        .bind(to.as_i64())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn forget_edges_of(&self, user: Id) -> StoreResult<()> {
        let mut tx = self.db.pool.begin().await?;
        for edge in [Edge::Block, Edge::Mute] {
            let (table, from_col, to_col) = edge.table();
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE {from_col} = $1 OR {to_col} = $1"
            ))
            .bind(user.as_i64())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn edges(&self, edge: Edge, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        self.page(edge.table(), user, page).await
    }

    async fn follows_each(&self, pairs: &[(Id, Id)]) -> StoreResult<Vec<bool>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let (followers, followees): (Vec<i64>, Vec<i64>) =
            pairs.iter().map(|(a, b)| (a.as_i64(), b.as_i64())).unzip();
        let rows: Vec<(bool,)> = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM follows f WHERE f.follower = t.a AND f.followee = t.b)
             FROM unnest($1::BIGINT[], $2::BIGINT[]) WITH ORDINALITY AS t(a, b, n) ORDER BY t.n",
        )
        .bind(followers)
        .bind(followees)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(|(b,)| b).collect())
    }

    async fn relationships(&self, user: Id, others: &[Id]) -> StoreResult<Vec<Relationship>> {
        if others.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = others.iter().map(|u| u.as_i64()).collect();
        let rows = sqlx::query(
            "SELECT t.id,
                    EXISTS (SELECT 1 FROM follows WHERE follower = $1 AND followee = t.id),
                    EXISTS (SELECT 1 FROM follows WHERE follower = t.id AND followee = $1),
                    EXISTS (SELECT 1 FROM blocks WHERE blocker = $1 AND blocked = t.id),
                    EXISTS (SELECT 1 FROM blocks WHERE blocker = t.id AND blocked = $1),
                    EXISTS (SELECT 1 FROM mutes WHERE muter = $1 AND muted = t.id)
             FROM unnest($2::BIGINT[]) WITH ORDINALITY AS t(id, n) ORDER BY t.n",
        )
        .bind(user.as_i64())
        .bind(ids)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Relationship {
                    id: Id::from_i64(r.try_get(0)?),
                    following: r.try_get(1)?,
                    followed_by: r.try_get(2)?,
                    blocking: r.try_get(3)?,
                    blocked_by: r.try_get(4)?,
                    muting: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn hidden_from(&self, user: Id) -> StoreResult<Hidden> {
        let rows: Vec<(i64, bool)> = sqlx::query_as(&HIDDEN_SQL.replace("?1", "$1"))
            .bind(user.as_i64())
            .fetch_all(&self.db.pool)
            .await?;
        Ok(hidden_of(rows))
    }

    async fn home_context(&self, user: Id, threshold: u64) -> StoreResult<HomeContext> {
        // One round trip: the hidden (kind 0 blocked, 1 muted) and the accounts above
        // the threshold (kind 2: those followed, and the reader).
        let sql = format!(
            "SELECT id, CASE WHEN muted THEN 1 ELSE 0 END FROM ({}) AS hidden(id, muted)
             UNION ALL
             SELECT f.followee, 2 FROM follows f JOIN follow_counts c ON c.user_id = f.followee
             WHERE f.follower = $1 AND c.followers > $2
             UNION ALL
             SELECT user_id, 2 FROM follow_counts WHERE user_id = $1 AND followers > $2",
            HIDDEN_SQL.replace("?1", "$1")
        );
        let rows: Vec<(i64, i32)> = sqlx::query_as(&sql)
            .bind(user.as_i64())
            .bind(threshold.min(i64::MAX as u64) as i64)
            .fetch_all(&self.db.pool)
            .await?;
        let mut context = HomeContext::default();
        for (id, kind) in rows {
            let list = match kind {
                0 => &mut context.hidden.blocked,
                1 => &mut context.hidden.muted,
                _ => &mut context.celebrities,
            };
            list.push(Id::from_i64(id));
        }
        Ok(context)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}
