//! Identities, public profiles and refresh sessions on SQLite: the embedded default.

use async_trait::async_trait;
use chirp_core::embedded::outbox;
use chirp_core::embedded::sqlite::{is_unique_violation, SqliteDb};
use chirp_core::events::Event;
use chirp_core::Id;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::ports::{
    CreateError, Identity, IdentityStore, ProfileStore, PublicProfile, Rotation, SessionStore,
    TokenRef,
};

pub const OUTBOX: &str = "auth_outbox";

pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE auth_identities (
            id INTEGER PRIMARY KEY,
            handle TEXT NOT NULL,
            handle_key TEXT NOT NULL,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL,
            display_name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL);
         CREATE UNIQUE INDEX auth_identities_handle_key ON auth_identities (handle_key);
         CREATE UNIQUE INDEX auth_identities_email_key ON auth_identities (email_key);
         CREATE TABLE profiles (
            id INTEGER PRIMARY KEY,
            handle TEXT NOT NULL,
            handle_key TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL,
            created_at INTEGER NOT NULL);
         CREATE TABLE auth_sessions (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER);
         CREATE TABLE auth_refresh_tokens (
            hash BLOB PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES auth_sessions (id),
            expires_at INTEGER NOT NULL,
            used_at INTEGER);
         CREATE INDEX auth_refresh_tokens_session ON auth_refresh_tokens (session_id);"
            .to_owned(),
        outbox::create_table(OUTBOX),
    ]
}

#[derive(Debug, Clone)]
pub struct SqliteAuthStore {
    db: SqliteDb,
}

impl SqliteAuthStore {
    pub async fn new(db: SqliteDb) -> anyhow::Result<Self> {
        let steps = migrations();
        let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
        db.migrate("auth", &steps).await?;
        Ok(SqliteAuthStore { db })
    }
}

fn identity(row: &SqliteRow) -> sqlx::Result<Identity> {
    Ok(Identity {
        id: Id::from_i64(row.try_get("id")?),
        handle: row.try_get("handle")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

#[async_trait]
impl IdentityStore for SqliteAuthStore {
    async fn insert(&self, i: &Identity) -> Result<(), CreateError> {
        let inserted = sqlx::query(
            "INSERT INTO auth_identities
               (id, handle, handle_key, email, email_key, display_name, password_hash, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(i.id.as_i64())
        .bind(&i.handle)
        .bind(i.handle.to_ascii_lowercase())
        .bind(&i.email)
        .bind(i.email.to_lowercase())
        .bind(&i.display_name)
        .bind(&i.password_hash)
        .bind(i.created_at_ms)
        .execute(&self.db.writer)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e, "handle_key") => Err(CreateError::HandleTaken),
            Err(e) if is_unique_violation(&e, "email_key") => Err(CreateError::EmailTaken),
            Err(e) => Err(CreateError::Store(e.into())),
        }
    }

    async fn remove(&self, id: Id) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM auth_identities WHERE id = ?")
            .bind(id.as_i64())
            .execute(&self.db.writer)
            .await?;
        Ok(())
    }

    async fn find_by_login(&self, login: &str) -> anyhow::Result<Option<Identity>> {
        let key = login.to_lowercase();
        let row = sqlx::query(
            "SELECT * FROM auth_identities WHERE handle_key = ? OR email_key = ? LIMIT 1",
        )
        .bind(&key)
        .bind(&key)
        .fetch_optional(&self.db.reader)
        .await?;
        Ok(row.as_ref().map(identity).transpose()?)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}

#[async_trait]
impl ProfileStore for SqliteAuthStore {
    async fn create(&self, p: &PublicProfile, event: &Event) -> anyhow::Result<()> {
        let mut tx = self.db.writer.begin().await?;
        sqlx::query(
            "INSERT INTO profiles (id, handle, handle_key, display_name, created_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(p.id.as_i64())
        .bind(&p.handle)
        .bind(p.handle.to_ascii_lowercase())
        .bind(&p.display_name)
        .bind(p.created_at_ms)
        .execute(&mut *tx)
        .await?;
        outbox::enqueue(&mut tx, OUTBOX, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await
    }
}

#[async_trait]
impl SessionStore for SqliteAuthStore {
    async fn start(&self, user: Id, token: &TokenRef, expires_at_ms: i64) -> anyhow::Result<()> {
        let mut tx = self.db.writer.begin().await?;
        sqlx::query("INSERT INTO auth_sessions (id, user_id, created_at) VALUES (?, ?, ?)")
            .bind(token.session.as_i64())
            .bind(user.as_i64())
            .bind(chirp_core::time::now_ms())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO auth_refresh_tokens (hash, session_id, expires_at) VALUES (?, ?, ?)",
        )
        .bind(&token.hash[..])
        .bind(token.session.as_i64())
        .bind(expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate(
        &self,
        old: &TokenRef,
        new: &TokenRef,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> anyhow::Result<Rotation> {
        let mut tx = self.db.writer.begin().await?;
        let row = sqlx::query(
            "SELECT t.used_at, t.expires_at, s.user_id, s.revoked_at
             FROM auth_refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
             WHERE t.hash = ? AND t.session_id = ?",
        )
        .bind(&old.hash[..])
        .bind(old.session.as_i64())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Rotation::Invalid);
        };
        let used_at: Option<i64> = row.try_get("used_at")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        if revoked_at.is_some() {
            return Ok(Rotation::Invalid);
        }
        if used_at.is_some() {
            return Ok(Rotation::Reused {
                session: old.session,
            });
        }
        if expires_at <= now_ms || new.session != old.session {
            return Ok(Rotation::Invalid);
        }
        sqlx::query("UPDATE auth_refresh_tokens SET used_at = ? WHERE hash = ?")
            .bind(now_ms)
            .bind(&old.hash[..])
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO auth_refresh_tokens (hash, session_id, expires_at) VALUES (?, ?, ?)",
        )
        .bind(&new.hash[..])
        .bind(new.session.as_i64())
        .bind(expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated {
            user: Id::from_i64(row.try_get("user_id")?),
            session: old.session,
        })
    }

    async fn revoke(&self, session: Id) -> anyhow::Result<()> {
        sqlx::query("UPDATE auth_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(chirp_core::time::now_ms())
            .bind(session.as_i64())
            .execute(&self.db.writer)
            .await?;
        Ok(())
    }

    async fn knows(&self, token: &TokenRef) -> anyhow::Result<bool> {
        let row =
            sqlx::query("SELECT 1 FROM auth_refresh_tokens WHERE hash = ? AND session_id = ?")
                .bind(&token.hash[..])
                .bind(token.session.as_i64())
                .fetch_optional(&self.db.reader)
                .await?;
        Ok(row.is_some())
    }
}
