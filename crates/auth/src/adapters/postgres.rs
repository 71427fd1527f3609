//! Public profiles and the auth outbox on PostgreSQL: the deployed adapter.

use async_trait::async_trait;
use chirp_core::deployed::postgres::{enqueue, PgDb};
use chirp_core::events::{Event, EventStamp};
use chirp_core::store::{StoreError, StoreResult};
use chirp_core::Id;
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::oauth::{AuthCode, OAuthApp, OAuthStore, OAuthToken, Scopes};
use crate::ports::{ProfileChange, ProfileStore, PublicProfile};

pub const OUTBOX: &str = "auth_outbox";

#[derive(Debug, Clone)]
pub struct PgProfileStore {
    db: PgDb,
}

impl PgProfileStore {
    /// The store; its tables must have been made by [`crate::SCHEMA`]'s migrations.
    pub fn new(db: PgDb) -> Self {
        PgProfileStore { db }
    }
}

#[async_trait]
impl ProfileStore for PgProfileStore {
    async fn create(&self, p: &PublicProfile, event: &Event) -> StoreResult<()> {
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(
            "INSERT INTO profiles (id, handle, handle_key, display_name, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(p.id.as_i64())
        .bind(&p.handle)
        .bind(p.handle.to_ascii_lowercase())
        .bind(&p.display_name)
        .bind(p.created_at_ms)
        .execute(&mut *tx)
        .await?;
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update(
        &self,
        id: Id,
        change: &ProfileChange,
        stamp: &EventStamp,
    ) -> StoreResult<Option<PublicProfile>> {
        let mut tx = self.db.pool.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT handle, display_name, bio, created_at, version FROM profiles
             WHERE id = $1 FOR UPDATE",
        )
        .bind(id.as_i64())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let now = PublicProfile {
            id,
            handle: row.try_get(0)?,
            display_name: row.try_get(1)?,
            bio: row.try_get(2)?,
            created_at_ms: row.try_get(3)?,
        };
        let Some(changed) = change.applied_to(&now) else {
            return Ok(Some(now));
        };
        let version = row.try_get::<i64, _>(4)? as u64 + 1;
        sqlx::query("UPDATE profiles SET display_name = $2, bio = $3, version = $4 WHERE id = $1")
            .bind(id.as_i64())
            .bind(&changed.display_name)
            .bind(&changed.bio)
            .bind(version as i64)
            .execute(&mut *tx)
            .await?;
        enqueue(&mut tx, OUTBOX, &stamp.event(version, changed.updated())).await?;
        tx.commit().await?;
        Ok(Some(changed))
    }

    async fn delete(&self, id: Id, event: &Event) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM profiles WHERE id = $1")
            .bind(id.as_i64())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Ok(false);
        }
        enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}

/// OAuth apps, codes and tokens on PostgreSQL: the deployed adapter (durable, unlike the
/// refresh sessions in Redis: an app's registration and a user's token outlive restarts
/// and evictions, as Mastodon's do).
#[derive(Debug, Clone)]
pub struct PgOAuthStore {
    db: PgDb,
}

impl PgOAuthStore {
    /// The store; its tables must have been made by [`crate::SCHEMA`]'s migrations.
    pub fn new(db: PgDb) -> Self {
        PgOAuthStore { db }
    }
}

fn scopes_of(text: String) -> StoreResult<Scopes> {
    Scopes::parse(&text)
        .map_err(|e| StoreError::new("postgres", anyhow::anyhow!("stored scopes: {e}")))
}

fn hash_of(raw: Vec<u8>) -> StoreResult<[u8; 32]> {
    raw.try_into().map_err(|_| {
        StoreError::new(
            "postgres",
            anyhow::anyhow!("a stored hash of other than 32 bytes"),
        )
    })
}

fn pg_app(row: &PgRow) -> StoreResult<OAuthApp> {
    let uris: String = row.try_get("redirect_uris")?;
    Ok(OAuthApp {
        id: Id::from_i64(row.try_get("id")?),
        client_id: row.try_get("client_id")?,
        secret_hash: hash_of(row.try_get("secret_hash")?)?,
        name: row.try_get("name")?,
        website: row.try_get("website")?,
        redirect_uris: uris.lines().map(str::to_owned).collect(),
        scopes: scopes_of(row.try_get("scopes")?)?,
        created_at_ms: row.try_get("created_at")?,
    })
}

fn pg_token(row: &PgRow) -> StoreResult<OAuthToken> {
    Ok(OAuthToken {
        id: Id::from_i64(row.try_get("id")?),
        access_hash: hash_of(row.try_get("access_hash")?)?,
        refresh_hash: row
            .try_get::<Option<Vec<u8>>, _>("refresh_hash")?
            .map(hash_of)
            .transpose()?,
        app: Id::from_i64(row.try_get("app_id")?),
        user: row.try_get::<Option<i64>, _>("user_id")?.map(Id::from_i64),
        scopes: scopes_of(row.try_get("scopes")?)?,
        created_at_ms: row.try_get("created_at")?,
    })
}

const INSERT_TOKEN: &str = "INSERT INTO oauth_tokens
       (id, access_hash, refresh_hash, app_id, user_id, scopes, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

fn bind_token<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    t: &'q OAuthToken,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(t.id.as_i64())
        .bind(t.access_hash.to_vec())
        .bind(t.refresh_hash.map(|h| h.to_vec()))
        .bind(t.app.as_i64())
        .bind(t.user.map(Id::as_i64))
        .bind(t.scopes.to_string())
        .bind(t.created_at_ms)
}

#[async_trait]
impl OAuthStore for PgOAuthStore {
    async fn create_app(&self, a: &OAuthApp) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth_apps
               (id, client_id, secret_hash, name, website, redirect_uris, scopes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(a.id.as_i64())
        .bind(&a.client_id)
        .bind(a.secret_hash.to_vec())
        .bind(&a.name)
        .bind(&a.website)
        .bind(a.redirect_uris.join("\n"))
        .bind(a.scopes.to_string())
        .bind(a.created_at_ms)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn app(&self, client_id: &str) -> StoreResult<Option<OAuthApp>> {
        sqlx::query("SELECT * FROM oauth_apps WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.db.pool)
            .await?
            .as_ref()
            .map(pg_app)
            .transpose()
    }

    async fn app_by_id(&self, id: Id) -> StoreResult<Option<OAuthApp>> {
        sqlx::query("SELECT * FROM oauth_apps WHERE id = $1")
            .bind(id.as_i64())
            .fetch_optional(&self.db.pool)
            .await?
            .as_ref()
            .map(pg_app)
            .transpose()
    }

    async fn save_code(&self, code: &AuthCode) -> StoreResult<()> {
        // Expired codes go as new ones come: a code lives ten minutes.
        sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
            .bind(chirp_core::time::now_ms())
            .execute(&self.db.pool)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_codes
               (hash, app_id, user_id, redirect_uri, scopes, challenge, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(code.hash.to_vec())
        .bind(code.app.as_i64())
        .bind(code.user.as_i64())
        .bind(&code.redirect_uri)
        .bind(code.scopes.to_string())
        .bind(&code.challenge)
        .bind(code.expires_at_ms)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn take_code(&self, hash: &[u8; 32]) -> StoreResult<Option<AuthCode>> {
        let Some(row) = sqlx::query("DELETE FROM oauth_codes WHERE hash = $1 RETURNING *")
            .bind(hash.to_vec())
            .fetch_optional(&self.db.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(AuthCode {
            hash: hash_of(row.try_get("hash")?)?,
            app: Id::from_i64(row.try_get("app_id")?),
            user: Id::from_i64(row.try_get("user_id")?),
            redirect_uri: row.try_get("redirect_uri")?,
            scopes: scopes_of(row.try_get("scopes")?)?,
            challenge: row.try_get("challenge")?,
            expires_at_ms: row.try_get("expires_at")?,
        }))
    }

    async fn save_token(&self, t: &OAuthToken) -> StoreResult<()> {
        bind_token(sqlx::query(INSERT_TOKEN), t)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    async fn token(&self, access_hash: &[u8; 32]) -> StoreResult<Option<OAuthToken>> {
        sqlx::query("SELECT * FROM oauth_tokens WHERE access_hash = $1")
            .bind(access_hash.to_vec())
            .fetch_optional(&self.db.pool)
            .await?
            .as_ref()
            .map(pg_token)
            .transpose()
    }

    async fn refresh(
        &self,
        app: Id,
        refresh_hash: &[u8; 32],
        next: &OAuthToken,
    ) -> StoreResult<Option<OAuthToken>> {
        let mut tx = self.db.pool.begin().await?;
        let Some(row) = sqlx::query(
            "DELETE FROM oauth_tokens WHERE app_id = $1 AND refresh_hash = $2 RETURNING *",
        )
        .bind(app.as_i64())
        .bind(refresh_hash.to_vec())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let old = pg_token(&row)?;
        let next = OAuthToken {
            user: old.user,
            scopes: old.scopes.clone(),
            ..next.clone()
        };
        bind_token(sqlx::query(INSERT_TOKEN), &next)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(old))
    }

    async fn revoke(&self, app: Id, hash: &[u8; 32]) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM oauth_tokens
             WHERE app_id = $1 AND (access_hash = $2 OR refresh_hash = $2)",
        )
        .bind(app.as_i64())
        .bind(hash.to_vec())
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn revoke_user(&self, user: Id) -> StoreResult<()> {
        sqlx::query("DELETE FROM oauth_tokens WHERE user_id = $1")
            .bind(user.as_i64())
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
}
