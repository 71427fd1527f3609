//! ReadService on PostgreSQL: the deployed adapter. Reads the tables WriteService and
//! AuthService own; a page of posts and their authors is one query.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chirp_core::deployed::postgres::{post_from_row, PgDb};
use chirp_core::model::{Post, Viewer, POST_COLUMNS, POST_COLUMN_COUNT, POST_FROM};
use chirp_core::page::PageRequest;
use chirp_core::store::StoreResult;
use chirp_core::Id;
use sqlx::Row;

use crate::ports::{Profile, ReadStore};

#[derive(Debug, Clone)]
pub struct PgReadStore {
    pub db: PgDb,
}

fn raw(ids: &[Id]) -> Vec<i64> {
    ids.iter().map(|i| i.as_i64()).collect()
}

#[async_trait]
impl ReadStore for PgReadStore {
    async fn profiles(&self, ids: &[Id]) -> StoreResult<Vec<Profile>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT u.id, u.handle, u.display_name, u.created_at, COALESCE(c.posts, 0), u.bio
             FROM profiles u LEFT JOIN post_counts c ON c.user_id = u.id
             WHERE u.id = ANY($1)",
        )
        .bind(raw(ids))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Profile {
                    id: Id::from_i64(r.try_get(0)?),
                    handle: r.try_get(1)?,
                    display_name: r.try_get(2)?,
                    created_at_ms: r.try_get(3)?,
                    posts_count: r.try_get::<i64, _>(4)?.max(0) as u64,
                    bio: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn profile_id_by_handle(&self, handle_key: &str) -> StoreResult<Option<Id>> {
        let row = sqlx::query("SELECT id FROM profiles WHERE handle_key = $1")
            .bind(handle_key)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64, _>(0).map(Id::from_i64))
            .transpose()?)
    }

    async fn profile_exists(&self, id: Id) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 FROM profiles WHERE id = $1")
            .bind(id.as_i64())
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn posts(&self, ids: &[Id]) -> StoreResult<Vec<Arc<Post>>> {
        self.posts_seen(ids, None).await
    }

    async fn posts_seen(&self, ids: &[Id], viewer: Option<Id>) -> StoreResult<Vec<Arc<Post>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = sqlx::query(&POSTS[seen(viewer)]).bind(raw(ids));
        if let Some(v) = viewer {
            query = query.bind(v.as_i64());
        }
        let rows = query.fetch_all(&self.db.pool).await?;
        posts_seen_from(&rows, viewer)
    }

    async fn posts_by(&self, authors: &[Id], page: PageRequest) -> StoreResult<Vec<Arc<Post>>> {
        self.posts_by_seen(authors, page, None).await
    }

    async fn posts_by_seen(
        &self,
        authors: &[Id],
        page: PageRequest,
        viewer: Option<Id>,
    ) -> StoreResult<Vec<Arc<Post>>> {
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = sqlx::query(&POSTS_BY[seen(viewer)])
            .bind(raw(authors))
            .bind(before(page))
            .bind(page.limit as i64 + 1);
        if let Some(v) = viewer {
            query = query.bind(v.as_i64());
        }
        let rows = query.fetch_all(&self.db.pool).await?;
        posts_seen_from(&rows, viewer)
    }

    async fn home_posts(
        &self,
        stored: &[Id],
        authors: &[Id],
        page: PageRequest,
        viewer: Id,
    ) -> StoreResult<(Vec<Arc<Post>>, Vec<Arc<Post>>)> {
        if stored.is_empty() || authors.is_empty() {
            return Ok((
                self.posts_seen(stored, Some(viewer)).await?,
                self.posts_by_seen(authors, page, Some(viewer)).await?,
            ));
        }
        let rows = sqlx::query(&HOME_POSTS)
            .bind(raw(stored))
            .bind(raw(authors))
            .bind(before(page))
            .bind(page.limit as i64 + 1)
            .bind(viewer.as_i64())
            .fetch_all(&self.db.pool)
            .await?;
        let (mut found, mut by_authors) = (Vec::new(), Vec::new());
        for (row, post) in rows.iter().zip(posts_seen_from(&rows, Some(viewer))?) {
            let by_author: bool = row.try_get(POST_COLUMN_COUNT + 2)?;
            if by_author {
                &mut by_authors
            } else {
                &mut found
            }
            .push(post);
        }
        // In the order `posts_by` gives them, whatever the plan.
        by_authors.sort_unstable_by_key(|p| std::cmp::Reverse(p.id));
        Ok((found, by_authors))
    }

    async fn replies(&self, post: Id, page: PageRequest) -> StoreResult<Vec<Arc<Post>>> {
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM {POST_FROM}
             WHERE p.reply_to = $1 AND p.deleted_at IS NULL AND p.id > $2
             ORDER BY p.id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(post.as_i64())
            .bind(page.before.map_or(0, key))
            .bind(page.limit as i64 + 1)
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| post_from_row(r).map(Arc::new))
            .collect::<sqlx::Result<_>>()?)
    }

    async fn ancestor_ids(&self, post: Id, max: usize) -> StoreResult<Vec<Id>> {
        let rows: Vec<i64> = sqlx::query_scalar(ANCESTORS)
            .bind(post.as_i64())
            .bind(max as i32)
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows.into_iter().map(Id::from_i64).collect())
    }

    async fn likers(&self, post: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>> {
        self.keyed(
            "SELECT l.id, l.user_id FROM likes l JOIN profiles u ON u.id = l.user_id
             WHERE l.post_id = $1 AND l.id < $2 ORDER BY l.id DESC LIMIT $3",
            post,
            page,
        )
        .await
    }

    async fn reposters(&self, post: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>> {
        self.keyed(
            "SELECT p.id, p.author_id FROM posts p JOIN profiles u ON u.id = p.author_id
             WHERE p.repost_of = $1 AND p.id < $2 AND p.deleted_at IS NULL
             ORDER BY p.id DESC LIMIT $3",
            post,
            page,
        )
        .await
    }

    async fn liked(&self, user: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>> {
        self.keyed(
            "SELECT l.id, l.post_id FROM likes l JOIN posts p ON p.id = l.post_id
             WHERE l.user_id = $1 AND l.id < $2 AND p.deleted_at IS NULL
             ORDER BY l.id DESC LIMIT $3",
            user,
            page,
        )
        .await
    }

    async fn liked_among(&self, user: Id, posts: &[Id]) -> StoreResult<Vec<Id>> {
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT post_id FROM likes WHERE user_id = $1 AND post_id = ANY($2)",
        )
        .bind(user.as_i64())
        .bind(raw(posts))
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(Id::from_i64).collect())
    }

    async fn reposted_among(&self, user: Id, posts: &[Id]) -> StoreResult<Vec<Id>> {
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT repost_of FROM posts
             WHERE author_id = $1 AND repost_of = ANY($2) AND deleted_at IS NULL",
        )
        .bind(user.as_i64())
        .bind(raw(posts))
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(Id::from_i64).collect())
    }

    async fn viewer_state(&self, user: Id, posts: &[Id]) -> StoreResult<(Vec<Id>, Vec<Id>)> {
        if posts.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let rows: Vec<(i64, bool)> = sqlx::query_as(
            "SELECT post_id, false FROM likes WHERE user_id = $1 AND post_id = ANY($2)
             UNION ALL
             SELECT repost_of, true FROM posts
             WHERE author_id = $1 AND repost_of = ANY($2) AND deleted_at IS NULL",
        )
        .bind(user.as_i64())
        .bind(raw(posts))
        .fetch_all(&self.db.pool)
        .await?;
        let (mut liked, mut reposted) = (Vec::new(), Vec::new());
        for (post, is_repost) in rows {
            let list = if is_repost { &mut reposted } else { &mut liked };
            list.push(Id::from_i64(post));
        }
        Ok((liked, reposted))
    }

    async fn reposts_of(&self, originals: &[Id]) -> StoreResult<Vec<(Id, Id, Id)>> {
        if originals.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT repost_of, id, author_id FROM posts
             WHERE repost_of = ANY($1) AND deleted_at IS NULL",
        )
        .bind(raw(originals))
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(o, r, a)| (Id::from_i64(o), Id::from_i64(r), Id::from_i64(a)))
            .collect())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}

/// The ids of the posts `$1` replies to, nearest first, at most `$2`; the walk goes on
/// only through live posts.
pub(crate) const ANCESTORS: &str = "WITH RECURSIVE chain (id, depth) AS (
        SELECT reply_to, 1 FROM posts WHERE id = $1
        UNION ALL
        SELECT p.reply_to, c.depth + 1 FROM chain c JOIN posts p ON p.id = c.id
        WHERE p.deleted_at IS NULL AND c.depth < $2)
    SELECT id FROM chain WHERE id IS NOT NULL ORDER BY depth";

/// The posts among `$1`, with the viewer `$2`'s state when there is one: the statement's
/// text without a viewer, and with one ([`seen`] picks), each made once.
static POSTS: LazyLock<[String; 2]> = LazyLock::new(|| {
    [false, true].map(|viewer| {
        format!(
            "SELECT {POST_COLUMNS}{} FROM {POST_FROM} WHERE p.id = ANY($1) AND p.deleted_at IS NULL",
            viewer_columns(viewer, 2)
        )
    })
});

/// The posts by the authors `$1` ([`by_authors`]), newest first, with the viewer `$4`'s
/// state when there is one, as [`POSTS`].
static POSTS_BY: LazyLock<[String; 2]> = LazyLock::new(|| {
    [false, true].map(|viewer| {
        format!(
            "SELECT {POST_COLUMNS}{} FROM {POST_FROM} WHERE {} ORDER BY p.id DESC",
            viewer_columns(viewer, 4),
            by_authors(1)
        )
    })
});

/// A home batch's two reads in one statement, each row told by its last column: the
/// posts among `$1`, and those by the authors `$2` ([`by_authors`]); the viewer is `$5`.
static HOME_POSTS: LazyLock<String> = LazyLock::new(|| {
    let columns = viewer_columns(true, 5);
    format!(
        "SELECT {POST_COLUMNS}{columns}, false FROM {POST_FROM}
         WHERE p.id = ANY($1) AND p.deleted_at IS NULL
         UNION ALL
         SELECT {POST_COLUMNS}{columns}, true FROM {POST_FROM} WHERE {}",
        by_authors(2)
    )
});

/// Which of a statement's two texts a read takes: with the viewer's state or without.
fn seen(viewer: Option<Id>) -> usize {
    usize::from(viewer.is_some())
}

/// With a viewer (parameter `$n`), two more columns after [`POST_COLUMNS`]: whether the
/// viewer likes each post and has a live repost of it (of a repost: of its original), so
/// that a page and the caller's state of it are one statement. Each is a probe of a
/// primary or unique index per post: written as a scalar subquery, not `EXISTS`, which
/// the planner may turn into a hash of every like (or post) of the viewer's.
fn viewer_columns(viewer: bool, n: usize) -> String {
    if !viewer {
        return String::new();
    }
    format!(
        ", (SELECT true FROM likes l
            WHERE l.user_id = ${n} AND l.post_id = COALESCE(p.repost_of, p.id)
            LIMIT 1) IS NOT NULL,
           (SELECT true FROM posts r
            WHERE r.author_id = ${n} AND r.repost_of = COALESCE(p.repost_of, p.id)
              AND r.deleted_at IS NULL
            LIMIT 1) IS NOT NULL"
    )
}

/// The condition on `p` of the live posts by any of the authors `$n`, below `$n+1`, the
/// newest `$n+2` of them: each author's newest through the author's index, then the
/// newest of those. Its plan holds for any authors, so its statements are prepared once
/// per connection; the plain `author_id = ANY(…) ORDER BY id DESC LIMIT …`'s generic
/// plan (which PostgreSQL may settle on after five runs of a prepared statement) walks
/// the whole primary key backwards (47 ms for an author of 3 posts among 33,617; 0.1 ms
/// by the author's index), so that one had to be planned afresh on every call. Only
/// authors with a profile count, each once, as in the join the posts are read with: an
/// account deleted a moment ago (its posts not yet) takes no place on the page.
fn by_authors(n: usize) -> String {
    let (before, limit) = (n + 1, n + 2);
    format!(
        "p.id = ANY(ARRAY(
           SELECT q.id FROM profiles a CROSS JOIN LATERAL (
             SELECT id FROM posts
             WHERE author_id = a.id AND deleted_at IS NULL AND id < ${before}
             ORDER BY id DESC LIMIT ${limit}) q
           WHERE a.id = ANY(${n})
           ORDER BY q.id DESC LIMIT ${limit}))
         AND p.deleted_at IS NULL"
    )
}

/// The posts of `rows`, read with [`viewer_columns`] when there is a viewer.
fn posts_seen_from(
    rows: &[sqlx::postgres::PgRow],
    viewer: Option<Id>,
) -> StoreResult<Vec<Arc<Post>>> {
    Ok(rows
        .iter()
        .map(|r| {
            let mut post = post_from_row(r)?;
            if viewer.is_some() {
                post.viewer = Some(Viewer {
                    liked: r.try_get(POST_COLUMN_COUNT)?,
                    reposted: r.try_get(POST_COLUMN_COUNT + 1)?,
                });
            }
            Ok(Arc::new(post))
        })
        .collect::<sqlx::Result<_>>()?)
}

/// Where a page of posts by authors starts: below `before`, or anywhere.
fn before(page: PageRequest) -> i64 {
    page.before.map_or(i64::MAX, key)
}

fn key(k: u64) -> i64 {
    k.min(i64::MAX as u64) as i64
}

impl PgReadStore {
    /// A newest-first list of (key, id) below the page's start, by `sql` (which takes the
    /// owner, the key to page below and the limit).
    async fn keyed(&self, sql: &str, owner: Id, page: PageRequest) -> StoreResult<Vec<(u64, Id)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(sql)
            .bind(owner.as_i64())
            .bind(page.before.map_or(i64::MAX, key))
            .bind(page.limit as i64 + 1)
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(k, id)| (k as u64, Id::from_i64(id)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Posts by authors are read through prepared statements whose generic plan (which
    /// PostgreSQL may settle on after five runs) goes through each author's index, never
    /// backwards through the whole table: checked on the plans of the statements the
    /// store prepared, with the generic plan forced, over a table of 33,000 posts by
    /// 1,000 authors and 3 older ones by another.
    #[tokio::test]
    async fn posts_by_authors_keep_their_plan_when_prepared() {
        let pg = chirp_testkit::postgres().await;
        let mut db = PgDb::connect_lazy(&pg.url).unwrap();
        db.pool = chirp_testkit::one_connection_pool(&pg.url);
        db.migrate(&chirp_auth::SCHEMA).await.unwrap();
        db.migrate(&chirp_write::SCHEMA).await.unwrap();
        sqlx::query(
            "INSERT INTO posts (id, author_id, text, created_at)
             SELECT n, CASE WHEN n <= 3 THEN 5000 ELSE n % 1000 END, 'p', n
             FROM generate_series(1, 33000) n",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO profiles (id, handle, handle_key, display_name, created_at)
             SELECT n, 'u' || n, 'u' || n, 'U', 0 FROM generate_series(0, 999) n
             UNION ALL SELECT 5000, 'u5000', 'u5000', 'U', 0",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE posts, profiles")
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query("SET plan_cache_mode = force_generic_plan")
            .execute(&db.pool)
            .await
            .unwrap();
        let store = PgReadStore { db: db.clone() };
        let page = PageRequest::first(10);
        let author = [Id(5000)];
        let found = store.posts_by(&author, page).await.unwrap();
        assert_eq!(found.len(), 3);
        store
            .posts_by_seen(&author, page, Some(Id(3)))
            .await
            .unwrap();
        store
            .home_posts(&[Id(40)], &author, page, Id(3))
            .await
            .unwrap();
        let prepared: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, statement FROM pg_prepared_statements
             WHERE strpos(statement, 'CROSS JOIN LATERAL') > 0",
        )
        .persistent(false)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert_eq!(prepared.len(), 3, "{prepared:?}");
        for (name, statement) in prepared {
            // The parameters in the order the statement takes them.
            let args = if statement.contains("p.id = ANY($1)") {
                "'{40}', '{5000}', 9223372036854775807, 11, 3"
            } else if statement.contains("$4") {
                "'{5000}', 9223372036854775807, 11, 3"
            } else {
                "'{5000}', 9223372036854775807, 11"
            };
            let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN EXECUTE {name}({args})"))
                .persistent(false)
                .fetch_all(&db.pool)
                .await
                .unwrap();
            let plan = plan.join("\n");
            // The authors' posts found through their index, not by walking the primary
            // key (`id < $n`, filtered by author) nor the table.
            assert!(plan.contains("posts_author_live"), "{statement}\n{plan}");
            assert!(!plan.contains("Index Cond: (id < $"), "{statement}\n{plan}");
            assert!(!plan.contains("Seq Scan on posts"), "{statement}\n{plan}");
        }
    }
}
