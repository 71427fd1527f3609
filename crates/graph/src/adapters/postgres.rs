//! The follow graph on PostgreSQL, with its outbox in the same transaction: the deployed
//! adapter. (DESIGN.md names Redis for the graph; PostgreSQL keeps each follow and its
//! event atomic, which a Redis Cluster cannot across two users' slots. Reads of the graph
//! are indexed range scans.)

use std::collections::HashMap;

use async_trait::async_trait;
use chirp_core::deployed::postgres::{enqueue, PgDb};
use chirp_core::events::Event;
use chirp_core::model::FollowCounts;
use chirp_core::page::PageRequest;
use chirp_core::peers::GraphPage;
use chirp_core::store::StoreResult;
use chirp_core::Id;
use sqlx::{PgConnection, Row};

use crate::ports::FollowStore;

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

    async fn page(
        &self,
        side: &str,
        other: &str,
        user: Id,
        page: PageRequest,
    ) -> StoreResult<GraphPage> {
        let sql = format!(
            "SELECT {other}, seq FROM follows WHERE {side} = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
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

    async fn bump(conn: &mut PgConnection, user: Id, column: &str, delta: i64) -> sqlx::Result<()> {
        let sql = format!(
            "INSERT INTO follow_counts (user_id, {column}) VALUES ($1, GREATEST($2, 0))
             ON CONFLICT (user_id) DO UPDATE SET {column} = GREATEST(follow_counts.{column} + $2, 0)"
        );
        sqlx::query(&sql)
            .bind(user.as_i64())
            .bind(delta)
            .execute(conn)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl FollowStore for PgFollowStore {
    async fn follow(
        &self,
        follower: Id,
        followee: Id,
        key: u64,
        event: &Event,
    ) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
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
            return Ok(false);
        }
        // Counts in id order, so that two follows between the same pair of users in
        // opposite directions cannot deadlock.
        let (first, second) = if follower < followee {
            ((follower, "following"), (followee, "followers"))
        } else {
            ((followee, "followers"), (follower, "following"))
        };
        Self::bump(&mut tx, first.0, first.1, 1).await?;
        Self::bump(&mut tx, second.0, second.1, 1).await?;
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn unfollow(&self, follower: Id, followee: Id, event: &Event) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        let removed = sqlx::query("DELETE FROM follows WHERE follower = $1 AND followee = $2")
            .bind(follower.as_i64())
            .bind(followee.as_i64())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        let (first, second) = if follower < followee {
            ((follower, "following"), (followee, "followers"))
        } else {
            ((followee, "followers"), (follower, "following"))
        };
        Self::bump(&mut tx, first.0, first.1, -1).await?;
        Self::bump(&mut tx, second.0, second.1, -1).await?;
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn followers(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        self.page("followee", "follower", user, page).await
    }

    async fn following(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        self.page("follower", "followee", user, page).await
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

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}
