//! Reads the posts table (WriteService's) to rebuild timelines: the embedded default.

use async_trait::async_trait;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::peers::TimelineEntry;
use chirp_core::Id;
use sqlx::Row;

use crate::ports::PostsSource;

/// SQLite takes at most 32,766 bound values; authors go in chunks well below that.
const AUTHORS_PER_QUERY: usize = 500;

#[derive(Debug, Clone)]
pub struct SqlitePostsSource {
    pub db: SqliteDb,
}

#[async_trait]
impl PostsSource for SqlitePostsSource {
    async fn recent_by(&self, authors: &[Id], limit: usize) -> anyhow::Result<Vec<TimelineEntry>> {
        let mut all = Vec::new();
        for chunk in authors.chunks(AUTHORS_PER_QUERY) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT id, author_id FROM posts
                 WHERE author_id IN ({placeholders}) AND deleted_at IS NULL
                 ORDER BY id DESC LIMIT ?"
            );
            let mut q = sqlx::query(&sql);
            for a in chunk {
                q = q.bind(a.as_i64());
            }
            for row in q.bind(limit as i64).fetch_all(&self.db.reader).await? {
                all.push(TimelineEntry {
                    post: Id::from_i64(row.try_get(0)?),
                    author: Id::from_i64(row.try_get(1)?),
                });
            }
        }
        all.sort_unstable_by_key(|e| std::cmp::Reverse(e.post));
        all.truncate(limit);
        Ok(all)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}
