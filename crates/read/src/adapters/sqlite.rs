//! ReadService on SQLite: the embedded default. Reads the tables WriteService and
//! AuthService own, in the same database.

use async_trait::async_trait;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::model::{Author, Post};
use chirp_core::page::PageRequest;
use chirp_core::time::rfc3339;
use chirp_core::Id;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::ports::{Profile, ReadStore};

#[derive(Debug, Clone)]
pub struct SqliteReadStore {
    pub db: SqliteDb,
}

const POST_COLUMNS: &str = "p.id, p.author_id, p.text, p.reply_to, p.created_at, p.edited_at,
    u.handle, u.display_name";

fn post(row: &SqliteRow) -> sqlx::Result<Post> {
    Ok(Post {
        id: Id::from_i64(row.try_get(0)?),
        author: Author {
            id: Id::from_i64(row.try_get(1)?),
            handle: row.try_get(6)?,
            display_name: row.try_get(7)?,
        },
        text: row.try_get(2)?,
        reply_to: row.try_get::<Option<i64>, _>(3)?.map(Id::from_i64),
        created_at: rfc3339(row.try_get(4)?),
        edited_at: row.try_get::<Option<i64>, _>(5)?.map(rfc3339),
    })
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

#[async_trait]
impl ReadStore for SqliteReadStore {
    async fn profiles(&self, ids: &[Id]) -> anyhow::Result<Vec<Profile>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT u.id, u.handle, u.display_name, u.created_at, COALESCE(c.posts, 0)
             FROM profiles u LEFT JOIN post_counts c ON c.user_id = u.id
             WHERE u.id IN ({})",
            placeholders(ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id.as_i64());
        }
        let rows = q.fetch_all(&self.db.reader).await?;
        rows.iter()
            .map(|r| {
                Ok(Profile {
                    id: Id::from_i64(r.try_get(0)?),
                    handle: r.try_get(1)?,
                    display_name: r.try_get(2)?,
                    created_at_ms: r.try_get(3)?,
                    posts_count: r.try_get::<i64, _>(4)?.max(0) as u64,
                })
            })
            .collect()
    }

    async fn profile_id_by_handle(&self, handle_key: &str) -> anyhow::Result<Option<Id>> {
        let row = sqlx::query("SELECT id FROM profiles WHERE handle_key = ?")
            .bind(handle_key)
            .fetch_optional(&self.db.reader)
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64, _>(0).map(Id::from_i64))
            .transpose()?)
    }

    async fn profile_exists(&self, id: Id) -> anyhow::Result<bool> {
        let row = sqlx::query("SELECT 1 FROM profiles WHERE id = ?")
            .bind(id.as_i64())
            .fetch_optional(&self.db.reader)
            .await?;
        Ok(row.is_some())
    }

    async fn posts(&self, ids: &[Id]) -> anyhow::Result<Vec<Post>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts p JOIN profiles u ON u.id = p.author_id
             WHERE p.id IN ({}) AND p.deleted_at IS NULL",
            placeholders(ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id.as_i64());
        }
        let rows = q.fetch_all(&self.db.reader).await?;
        Ok(rows.iter().map(post).collect::<sqlx::Result<_>>()?)
    }

    async fn posts_by(&self, authors: &[Id], page: PageRequest) -> anyhow::Result<Vec<Post>> {
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts p JOIN profiles u ON u.id = p.author_id
             WHERE p.author_id IN ({}) AND p.deleted_at IS NULL AND p.id < ?
             ORDER BY p.id DESC LIMIT ?",
            placeholders(authors.len())
        );
        let mut q = sqlx::query(&sql);
        for a in authors {
            q = q.bind(a.as_i64());
        }
        let before = page
            .before
            .map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let rows = q
            .bind(before)
            .bind(page.limit as i64 + 1)
            .fetch_all(&self.db.reader)
            .await?;
        Ok(rows.iter().map(post).collect::<sqlx::Result<_>>()?)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}
