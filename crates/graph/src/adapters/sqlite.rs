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
use sqlx::Row;

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
    async fn page(
        &self,
        side: &str,
        other: &str,
        user: Id,
        page: PageRequest,
    ) -> anyhow::Result<GraphPage> {
        let sql = format!(
            "SELECT {other}, seq FROM follows WHERE {side} = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(user.as_i64())
            .bind(
                page.before
                    .map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64),
            )
            .bind(page.limit as i64 + 1)
            .fetch_all(&self.db.reader)
            .await?;
        let more = rows.len() > page.limit;
        let mut out = GraphPage {
            more,
            ..GraphPage::default()
        };
        for row in rows.into_iter().take(page.limit) {
            out.users.push(Id::from_i64(row.try_get(0)?));
            out.keys.push(row.try_get::<i64, _>(1)? as u64);
        }
        Ok(out)
    }

    async fn bump(
        conn: &mut sqlx::SqliteConnection,
        user: Id,
        column: &str,
        delta: i64,
    ) -> sqlx::Result<()> {
        let sql = format!(
            "INSERT INTO follow_counts (user_id, {column}) VALUES (?, MAX(?, 0))
             ON CONFLICT (user_id) DO UPDATE SET {column} = MAX({column} + ?, 0)"
        );
        sqlx::query(&sql)
            .bind(user.as_i64())
            .bind(delta)
            .bind(delta)
            .execute(conn)
            .await?;
        Ok(())
    }
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
        let mut tx = self.db.writer.begin().await?;
        let added = sqlx::query(
            "INSERT INTO follows (follower, followee, seq) VALUES (?, ?, ?)
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
        Self::bump(&mut tx, followee, "followers", 1).await?;
        Self::bump(&mut tx, follower, "following", 1).await?;
        outbox::enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn unfollow(&self, follower: Id, followee: Id, event: &Event) -> anyhow::Result<bool> {
        let mut tx = self.db.writer.begin().await?;
        let removed = sqlx::query("DELETE FROM follows WHERE follower = ? AND followee = ?")
            .bind(follower.as_i64())
            .bind(followee.as_i64())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        Self::bump(&mut tx, followee, "followers", -1).await?;
        Self::bump(&mut tx, follower, "following", -1).await?;
        outbox::enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn followers(&self, user: Id, page: PageRequest) -> anyhow::Result<GraphPage> {
        self.page("followee", "follower", user, page).await
    }

    async fn following(&self, user: Id, page: PageRequest) -> anyhow::Result<GraphPage> {
        self.page("follower", "followee", user, page).await
    }

    async fn all_following(&self, user: Id, max: usize) -> anyhow::Result<Vec<Id>> {
        let rows = sqlx::query(
            "SELECT followee FROM follows WHERE follower = ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(user.as_i64())
        .bind(max as i64)
        .fetch_all(&self.db.reader)
        .await?;
        rows.iter()
            .map(|r| Ok(Id::from_i64(r.try_get(0)?)))
            .collect()
    }

    async fn counts(&self, users: &[Id]) -> anyhow::Result<HashMap<Id, FollowCounts>> {
        let mut out = HashMap::with_capacity(users.len());
        if users.is_empty() {
            return Ok(out);
        }
        let placeholders = vec!["?"; users.len()].join(",");
        let sql = format!(
            "SELECT user_id, followers, following FROM follow_counts WHERE user_id IN ({placeholders})"
        );
        let mut q = sqlx::query(&sql);
        for u in users {
            q = q.bind(u.as_i64());
        }
        for row in q.fetch_all(&self.db.reader).await? {
            out.insert(
                Id::from_i64(row.try_get(0)?),
                FollowCounts {
                    followers: row.try_get::<i64, _>(1)? as u64,
                    following: row.try_get::<i64, _>(2)? as u64,
                },
            );
        }
        Ok(out)
    }

    async fn following_above(&self, user: Id, threshold: u64) -> anyhow::Result<Vec<Id>> {
        let rows = sqlx::query(
            "SELECT f.followee FROM follows f JOIN follow_counts c ON c.user_id = f.followee
             WHERE f.follower = ? AND c.followers > ?",
        )
        .bind(user.as_i64())
        .bind(threshold.min(i64::MAX as u64) as i64)
        .fetch_all(&self.db.reader)
        .await?;
        rows.iter()
            .map(|r| Ok(Id::from_i64(r.try_get(0)?)))
            .collect()
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}
