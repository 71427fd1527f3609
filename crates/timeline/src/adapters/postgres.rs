//! Reads the posts table (WriteService's) on PostgreSQL to rebuild timelines.

use std::collections::HashMap;

use async_trait::async_trait;
use chirp_core::deployed::postgres::PgDb;
use chirp_core::peers::TimelineEntry;
use chirp_core::store::StoreResult;
use chirp_core::Id;
use sqlx::Row;

use crate::ports::PostsSource;

#[derive(Debug, Clone)]
pub struct PgPostsSource {
    pub db: PgDb,
}

#[async_trait]
impl PostsSource for PgPostsSource {
    async fn recent_by(&self, authors: &[Id], limit: usize) -> StoreResult<Vec<TimelineEntry>> {
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = authors.iter().map(|a| a.as_i64()).collect();
        // Planned afresh for each call's authors (an unnamed statement): the generic
        // plan of a prepared one walks the whole primary key backwards (ReadService's
        // `posts_by` says more).
        let rows = sqlx::query(
            "SELECT id, author_id FROM posts
             WHERE author_id = ANY($1) AND deleted_at IS NULL
             ORDER BY id DESC LIMIT $2",
        )
        .persistent(false)
        .bind(ids)
        .bind(limit as i64)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TimelineEntry {
                    post: Id::from_i64(r.try_get(0)?),
                    author: Id::from_i64(r.try_get(1)?),
                })
            })
            .collect()
    }

    async fn replied_authors(&self, posts: &[Id]) -> StoreResult<HashMap<Id, Id>> {
        if posts.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<i64> = posts.iter().map(|p| p.as_i64()).collect();
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT p.id, rp.author_id FROM posts p JOIN posts rp ON rp.id = p.reply_to
             WHERE p.id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(p, a)| (Id::from_i64(p), Id::from_i64(a)))
            .collect())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recent posts by authors are never read through a prepared statement's generic
    /// plan.
    #[tokio::test]
    async fn recent_by_is_planned_for_its_authors_every_time() {
        let pg = chirp_testkit::postgres().await;
        let mut db = PgDb::connect_lazy(&pg.url).unwrap();
        db.pool = chirp_testkit::one_connection_pool(&pg.url);
        // The posts table as WriteService makes it, as far as this query reads it.
        sqlx::raw_sql(
            "CREATE TABLE posts (id BIGINT PRIMARY KEY, author_id BIGINT NOT NULL,
                 deleted_at BIGINT);
             INSERT INTO posts VALUES (1, 7, NULL), (2, 8, NULL), (3, 7, 5)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        let source = PgPostsSource { db: db.clone() };
        for _ in 0..8 {
            let got = source.recent_by(&[Id(7), Id(8)], 10).await.unwrap();
            assert_eq!(
                got.iter().map(|e| e.post).collect::<Vec<_>>(),
                [Id(2), Id(1)]
            );
        }
        assert_eq!(
            chirp_testkit::prepared_statements_with(&db.pool, "author_id = ANY").await,
            0
        );
    }
}
