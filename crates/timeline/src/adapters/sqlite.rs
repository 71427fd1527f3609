//! Reads the posts table (WriteService's) to rebuild timelines: the embedded default.

use std::collections::HashMap;

use async_trait::async_trait;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::peers::TimelineEntry;
use chirp_core::store::StoreResult;
use chirp_core::Id;
use rusqlite::params_from_iter;

use crate::ports::PostsSource;

/// SQLite takes at most 32,766 bound values; authors go in chunks well below that.
const AUTHORS_PER_QUERY: usize = 500;

#[derive(Debug, Clone)]
pub struct SqlitePostsSource {
    pub db: SqliteDb,
}

#[async_trait]
impl PostsSource for SqlitePostsSource {
    async fn recent_by(&self, authors: &[Id], limit: usize) -> StoreResult<Vec<TimelineEntry>> {
        let mut all = Vec::new();
        for chunk in authors.chunks(AUTHORS_PER_QUERY) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT id, author_id FROM posts
                 WHERE author_id IN ({placeholders}) AND deleted_at IS NULL
                 ORDER BY id DESC LIMIT ?"
            );
            let params = chunk
                .iter()
                .map(|a| a.as_i64())
                .chain([limit.min(i64::MAX as usize) as i64]);
            let rows: Vec<(i64, i64)> = self.db.read(|c| {
                c.prepare_cached(&sql)?
                    .query_map(params_from_iter(params), |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })?;
            all.extend(rows.into_iter().map(|(post, author)| TimelineEntry {
                post: Id::from_i64(post),
                author: Id::from_i64(author),
            }));
        }
        all.sort_unstable_by_key(|e| std::cmp::Reverse(e.post));
        all.truncate(limit);
        Ok(all)
    }

    async fn replied_authors(&self, posts: &[Id]) -> StoreResult<HashMap<Id, Id>> {
        let mut all = HashMap::new();
        for chunk in posts.chunks(AUTHORS_PER_QUERY) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT p.id, rp.author_id FROM posts p JOIN posts rp ON rp.id = p.reply_to
                 WHERE p.id IN ({placeholders})"
            );
            let rows: Vec<(i64, i64)> = self.db.read(|c| {
                c.prepare_cached(&sql)?
                    .query_map(params_from_iter(chunk.iter().map(|p| p.as_i64())), |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect()
            })?;
            all.extend(
                rows.into_iter()
                    .map(|(p, a)| (Id::from_i64(p), Id::from_i64(a))),
            );
        }
        Ok(all)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}
