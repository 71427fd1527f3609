//! Schemas as numbered `.sql` files, one folder per dialect in the crate that owns the
//! tables (`migrations/postgres`, `migrations/sqlite`), embedded in the binary by
//! `sqlx::migrate!`. Each service numbers its files in a range of its own (auth 1001…,
//! write 2001…, graph 3001…), because on PostgreSQL the services share one database and
//! sqlx's one table of applied versions (`_sqlx_migrations`); sqlx runs them there. On
//! SQLite the same kind of files run through [`SqliteDb`](crate::embedded::sqlite::SqliteDb),
//! which records them by owner. Files are append-only: never edit one that has shipped.
//!
//! Databases made before the files existed recorded `(owner, step)` with steps counted
//! from 1 per owner; both runners adopt those records as the versions they became
//! (step `n` of a service whose range starts at 1001 is file `1000 + n`).

use std::borrow::Cow;

use futures::future::BoxFuture;
use sqlx::migrate::{Migrate, Migration, MigrationSource, Migrator};
use sqlx::{Connection, PgConnection};

use crate::store::{StoreError, StoreResult};

/// The tables one service owns, in each dialect it runs on.
pub struct Schema {
    /// Who owns them (`auth`, `write`, ...), as SQLite's records name it.
    pub owner: &'static str,
    pub postgres: Option<&'static Migrator>,
    pub sqlite: Option<&'static Migrator>,
}

impl Schema {
    /// The SQLite migrations, to hand to the database's writer.
    pub fn sqlite_steps(&self) -> Vec<Migration> {
        self.sqlite
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// What a step counted from 1 adds to become a version of the service's range (1000 for
/// 1001…; 0 for a schema numbered from 1).
pub fn range_base(migrations: &[Migration]) -> i64 {
    migrations.first().map_or(0, |m| m.version / 1000 * 1000)
}

/// An embedded migrator's migrations, as a source for a migrator of our own settings.
#[derive(Debug)]
struct Embedded(&'static Migrator);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move { Ok(self.0.iter().cloned().collect()) })
    }
}

fn failed(e: impl Into<anyhow::Error>) -> StoreError {
    StoreError::new("postgres", e)
}

/// Applies `schema`'s PostgreSQL migrations not applied yet, on `conn`. sqlx's lock
/// serialises processes that start together.
pub async fn run_postgres(conn: &mut PgConnection, schema: &Schema) -> StoreResult<()> {
    let Some(embedded) = schema.postgres else {
        return Ok(());
    };
    adopt_steps(conn, schema.owner, embedded).await?;
    let mut migrator = Migrator::new(Embedded(embedded)).await.map_err(failed)?;
    // The other services' versions are in the same table.
    migrator.set_ignore_missing(true);
    migrator
        .run_direct(conn)
        .await
        .map_err(|e| failed(anyhow::Error::new(e).context(format!("migrating {}", schema.owner))))
}

/// Records the steps a database made before the files existed as applied versions.
async fn adopt_steps(
    conn: &mut PgConnection,
    owner: &str,
    embedded: &'static Migrator,
) -> StoreResult<()> {
    let old: Option<String> = sqlx::query_scalar("SELECT to_regclass('schema_migrations')::text")
        .fetch_one(&mut *conn)
        .await?;
    if old.is_none() {
        return Ok(());
    }
    conn.lock().await.map_err(failed)?;
    let adopted = async {
        conn.ensure_migrations_table().await.map_err(failed)?;
        let steps: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE owner = $1")
                .bind(owner)
                .fetch_all(&mut *conn)
                .await?;
        let migrations: Vec<Migration> = embedded.iter().cloned().collect();
        let base = range_base(&migrations);
        for step in steps {
            let Some(m) = migrations.iter().find(|m| m.version == base + step) else {
                continue;
            };
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                 VALUES ($1, $2, TRUE, $3, 0) ON CONFLICT (version) DO NOTHING",
            )
            .bind(m.version)
            .bind(Cow::as_ref(&m.description))
            .bind(Cow::as_ref(&m.checksum))
            .execute(&mut *conn)
            .await?;
        }
        StoreResult::Ok(())
    }
    .await;
    let unlocked = conn.unlock().await.map_err(failed);
    adopted.and(unlocked)
}

/// A connection of its own to `pool`'s database, closed after `f`.
pub async fn on_own_connection<T>(
    pool: &sqlx::PgPool,
    f: impl for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<T>>,
) -> StoreResult<T> {
    let mut conn = pool.acquire().await?.detach();
    let out = f(&mut conn).await;
    let _ = conn.close().await;
    out
}
