//! Reads the posts table (WriteService's) on PostgreSQL to rebuild timelines.

use async_trait::async_trait;
use chirp_core::deployed::postgres::PgDb;
use chirp_core::peers::TimelineEntry;
use chirp_core::Id;
use sqlx::Row;

use crate::ports::PostsSource;

#[derive(Debug, Clone)]
pub struct PgPostsSource {
    pub db: PgDb,
}

#[async_trait]
impl PostsSource for PgPostsSource {
    async fn recent_by(&self, authors: &[Id], limit: usize) -> anyhow::Result<Vec<TimelineEntry>> {
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = authors.iter().map(|a| a.as_i64()).collect();
        let rows = sqlx::query(
            "SELECT id, author_id FROM posts
             WHERE author_id = ANY($1) AND deleted_at IS NULL
             ORDER BY id DESC LIMIT $2",
        )
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

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}
