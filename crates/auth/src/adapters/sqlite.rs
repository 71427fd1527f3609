//! Identities, public profiles and refresh sessions on SQLite: the embedded default.

use async_trait::async_trait;
use chirp_core::embedded::cache::PostCaches;
use chirp_core::embedded::outbox;
use chirp_core::embedded::sqlite::{is_unique_violation, SqliteDb};
use chirp_core::events::{Event, EventStamp};
use chirp_core::store::StoreResult;
use chirp_core::Id;
use rusqlite::{params, OptionalExtension};

use crate::oauth::{AuthCode, OAuthApp, OAuthStore, OAuthToken, Scopes};
use crate::ports::{
    CreateError, Identity, IdentityStore, ProfileChange, ProfileStore, PublicProfile, Rotation,
    SessionStore, TokenRef,
};

pub const OUTBOX: &str = "auth_outbox";

#[derive(Debug, Clone)]
pub struct SqliteAuthStore {
    db: SqliteDb,
    /// Posts ReadService keeps in memory in `chirp all`, with their authors' names: a
    /// profile change forgets them all once it has committed (changes are rare; which
    /// kept posts are the user's is not known without a scan).
    cached: Option<PostCaches>,
}

impl SqliteAuthStore {
    pub async fn new(db: SqliteDb) -> StoreResult<Self> {
        db.migrate(crate::SCHEMA.owner, crate::SCHEMA.sqlite_steps())
            .await?;
        Ok(SqliteAuthStore { db, cached: None })
    }

    /// Forgets the posts kept in `caches` (ReadService's) after each profile change.
    pub fn forgetting_in(mut self, caches: PostCaches) -> Self {
        self.cached = Some(caches);
        self
    }
}

fn identity(row: &rusqlite::Row<'_>) -> rusqlite::Result<Identity> {
    Ok(Identity {
        id: Id::from_i64(row.get("id")?),
        handle: row.get("handle")?,
        email: row.get("email")?,
        display_name: row.get("display_name")?,
        password_hash: row.get("password_hash")?,
        created_at_ms: row.get("created_at")?,
    })
}

#[async_trait]
impl IdentityStore for SqliteAuthStore {
    async fn insert(&self, i: &Identity) -> Result<(), CreateError> {
        let i = i.clone();
        let inserted = self
            .db
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO auth_identities
                       (id, handle, handle_key, email, email_key, display_name, password_hash,
                        created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    i.id.as_i64(),
                    i.handle,
                    i.handle.to_ascii_lowercase(),
                    i.email,
                    i.email.to_lowercase(),
                    i.display_name,
                    i.password_hash,
                    i.created_at_ms
                ])?;
                Ok(())
            })
            .await;
        match inserted {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e, "handle_key") => Err(CreateError::HandleTaken),
            Err(e) if is_unique_violation(&e, "email_key") => Err(CreateError::EmailTaken),
            Err(e) => Err(CreateError::Store(e)),
        }
    }

    async fn remove(&self, id: Id) -> StoreResult<()> {
        self.db
            .write(move |c| {
                c.execute("DELETE FROM auth_identities WHERE id = ?", [id.as_i64()])?;
                Ok(())
            })
            .await
    }

    async fn find_by_login(&self, login: &str) -> StoreResult<Option<Identity>> {
        let key = login.to_lowercase();
        self.db.read(|c| {
            c.prepare_cached(
                "SELECT * FROM auth_identities WHERE handle_key = ?1 OR email_key = ?1 LIMIT 1",
            )?
            .query_row([&key], identity)
            .optional()
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}

#[async_trait]
impl ProfileStore for SqliteAuthStore {
    async fn create(&self, p: &PublicProfile, event: &Event) -> StoreResult<()> {
        let (p, event) = (p.clone(), event.clone());
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO profiles (id, handle, handle_key, display_name, created_at)
                     VALUES (?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    p.id.as_i64(),
                    p.handle,
                    p.handle.to_ascii_lowercase(),
                    p.display_name,
                    p.created_at_ms
                ])?;
                outbox::enqueue(c, OUTBOX, &event)?;
                Ok(())
            })
            .await
    }

    async fn update(
        &self,
        id: Id,
        change: &ProfileChange,
        stamp: &EventStamp,
    ) -> StoreResult<Option<PublicProfile>> {
        let (change, stamp) = (change.clone(), stamp.clone());
        let result = self
            .db
            .write(move |c| {
                let Some((now, version)) = c
                    .prepare_cached(
                        "SELECT handle, display_name, bio, created_at, version FROM profiles
                         WHERE id = ?",
                    )?
                    .query_row([id.as_i64()], |r| {
                        let profile = PublicProfile {
                            id,
                            handle: r.get(0)?,
                            display_name: r.get(1)?,
                            bio: r.get(2)?,
                            created_at_ms: r.get(3)?,
                        };
                        Ok((profile, r.get::<_, i64>(4)? as u64))
                    })
                    .optional()?
                else {
                    return Ok((None, false));
                };
                let Some(changed) = change.applied_to(&now) else {
                    return Ok((Some(now), false));
                };
                let version = version + 1;
                c.prepare_cached(
                    "UPDATE profiles SET display_name = ?, bio = ?, version = ? WHERE id = ?",
                )?
                .execute(params![
                    changed.display_name,
                    changed.bio,
                    version as i64,
                    id.as_i64()
                ])?;
                outbox::enqueue(c, OUTBOX, &stamp.event(version, changed.updated()))?;
                Ok((Some(changed), true))
            })
            .await;
        // A failed commit may still have reached the disk: forget then too.
        if let (Some(caches), Ok((_, true)) | Err(_)) = (&self.cached, &result) {
            caches.by_id.clear();
            caches.recent.clear();
        }
        result.map(|(profile, _)| profile)
    }

    async fn delete(&self, id: Id, event: &Event) -> StoreResult<bool> {
        let event = event.clone();
        let result = self
            .db
            .write(move |c| {
                let gone = c
                    .prepare_cached("DELETE FROM profiles WHERE id = ?")?
                    .execute([id.as_i64()])?;
                if gone == 0 {
                    return Ok(false);
                }
                outbox::enqueue(c, OUTBOX, &event)?;
                Ok(true)
            })
            .await;
        // The profile is no longer known to exist; its posts go when WriteService takes
        // the event, and forgets them then. Its recent posts are forgotten now: read
        // again, they are read with their author's profile, so none (a post read is its
        // author's, which a user's page relies on to answer 404 at once).
        if let (Some(caches), Ok(true) | Err(_)) = (&self.cached, &result) {
            caches.users.forget(&id);
            caches.recent.forget(&id);
        }
        result
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}

/// Stores a refresh token of `token`'s session, valid until `expires_at_ms`.
fn insert_refresh_token(
    c: &rusqlite::Connection,
    token: &TokenRef,
    expires_at_ms: i64,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO auth_refresh_tokens (hash, session_id, expires_at) VALUES (?, ?, ?)",
    )?
    .execute(params![
        &token.hash[..],
        token.session.as_i64(),
        expires_at_ms
    ])?;
    Ok(())
}

#[async_trait]
impl SessionStore for SqliteAuthStore {
    async fn start(&self, user: Id, token: &TokenRef, expires_at_ms: i64) -> StoreResult<()> {
        let token = *token;
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO auth_sessions (id, user_id, created_at) VALUES (?, ?, ?)",
                )?
                .execute(params![
                    token.session.as_i64(),
                    user.as_i64(),
                    chirp_core::time::now_ms()
                ])?;
                insert_refresh_token(c, &token, expires_at_ms)?;
                Ok(())
            })
            .await
    }

    async fn rotate(
        &self,
        old: &TokenRef,
        new: &TokenRef,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> StoreResult<Rotation> {
        let (old, new) = (*old, *new);
        self.db
            .write(move |c| {
                let row: Option<(Option<i64>, i64, i64, Option<i64>)> = c
                    .prepare_cached(
                        "SELECT t.used_at, t.expires_at, s.user_id, s.revoked_at
                         FROM auth_refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
                         WHERE t.hash = ? AND t.session_id = ?",
                    )?
                    .query_row(params![&old.hash[..], old.session.as_i64()], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()?;
                let Some((used_at, expires_at, user, revoked_at)) = row else {
                    return Ok(Rotation::Invalid);
                };
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
                c.prepare_cached("UPDATE auth_refresh_tokens SET used_at = ? WHERE hash = ?")?
                    .execute(params![now_ms, &old.hash[..]])?;
                insert_refresh_token(c, &new, expires_at_ms)?;
                Ok(Rotation::Rotated {
                    user: Id::from_i64(user),
                    session: old.session,
                })
            })
            .await
    }

    async fn revoke(&self, session: Id) -> StoreResult<()> {
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE auth_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                    params![chirp_core::time::now_ms(), session.as_i64()],
                )?;
                Ok(())
            })
            .await
    }

    async fn knows(&self, token: &TokenRef) -> StoreResult<bool> {
        self.db.read(|c| {
            c.prepare_cached("SELECT 1 FROM auth_refresh_tokens WHERE hash = ? AND session_id = ?")?
                .exists(params![&token.hash[..], token.session.as_i64()])
        })
    }
}

fn scopes_of(text: String) -> rusqlite::Result<Scopes> {
    Scopes::parse(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn hash_of(raw: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    raw.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "a hash of other than 32 bytes".into(),
        )
    })
}

fn oauth_app(row: &rusqlite::Row<'_>) -> rusqlite::Result<OAuthApp> {
    let uris: String = row.get("redirect_uris")?;
    Ok(OAuthApp {
        id: Id::from_i64(row.get("id")?),
        client_id: row.get("client_id")?,
        secret_hash: hash_of(row.get("secret_hash")?)?,
        name: row.get("name")?,
        website: row.get("website")?,
        redirect_uris: uris.lines().map(str::to_owned).collect(),
        scopes: scopes_of(row.get("scopes")?)?,
        created_at_ms: row.get("created_at")?,
    })
}

fn oauth_token(row: &rusqlite::Row<'_>) -> rusqlite::Result<OAuthToken> {
    Ok(OAuthToken {
        id: Id::from_i64(row.get("id")?),
        access_hash: hash_of(row.get("access_hash")?)?,
        refresh_hash: row
            .get::<_, Option<Vec<u8>>>("refresh_hash")?
            .map(hash_of)
            .transpose()?,
        app: Id::from_i64(row.get("app_id")?),
        user: row.get::<_, Option<i64>>("user_id")?.map(Id::from_i64),
        scopes: scopes_of(row.get("scopes")?)?,
        created_at_ms: row.get("created_at")?,
    })
}

fn insert_oauth_token(c: &rusqlite::Connection, t: &OAuthToken) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO oauth_tokens
           (id, access_hash, refresh_hash, app_id, user_id, scopes, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        t.id.as_i64(),
        t.access_hash.to_vec(),
        t.refresh_hash.map(|h| h.to_vec()),
        t.app.as_i64(),
        t.user.map(Id::as_i64),
        t.scopes.to_string(),
        t.created_at_ms
    ])?;
    Ok(())
}

#[async_trait]
impl OAuthStore for SqliteAuthStore {
    async fn create_app(&self, a: &OAuthApp) -> StoreResult<()> {
        let a = a.clone();
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO oauth_apps
                       (id, client_id, secret_hash, name, website, redirect_uris, scopes,
                        created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    a.id.as_i64(),
                    a.client_id,
                    a.secret_hash.to_vec(),
                    a.name,
                    a.website,
                    a.redirect_uris.join("\n"),
                    a.scopes.to_string(),
                    a.created_at_ms
                ])?;
                Ok(())
            })
            .await
    }

    async fn app(&self, client_id: &str) -> StoreResult<Option<OAuthApp>> {
        self.db.read(|c| {
            c.prepare_cached("SELECT * FROM oauth_apps WHERE client_id = ?")?
                .query_row([client_id], oauth_app)
                .optional()
        })
    }

    async fn app_by_id(&self, id: Id) -> StoreResult<Option<OAuthApp>> {
        self.db.read(|c| {
            c.prepare_cached("SELECT * FROM oauth_apps WHERE id = ?")?
                .query_row([id.as_i64()], oauth_app)
                .optional()
        })
    }

    async fn save_code(&self, code: &AuthCode) -> StoreResult<()> {
        let code = code.clone();
        self.db
            .write(move |c| {
                // Expired codes go as new ones come: a code lives ten minutes.
                c.prepare_cached("DELETE FROM oauth_codes WHERE expires_at < ?")?
                    .execute([chirp_core::time::now_ms()])?;
                c.prepare_cached(
                    "INSERT INTO oauth_codes
                       (hash, app_id, user_id, redirect_uri, scopes, challenge, expires_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    code.hash.to_vec(),
                    code.app.as_i64(),
                    code.user.as_i64(),
                    code.redirect_uri,
                    code.scopes.to_string(),
                    code.challenge,
                    code.expires_at_ms
                ])?;
                Ok(())
            })
            .await
    }

    async fn take_code(&self, hash: &[u8; 32]) -> StoreResult<Option<AuthCode>> {
        let hash = hash.to_vec();
        self.db
            .write(move |c| {
                let code = c
                    .prepare_cached(
                        "DELETE FROM oauth_codes WHERE hash = ?
                         RETURNING hash, app_id, user_id, redirect_uri, scopes, challenge,
                                   expires_at",
                    )?
                    .query_row([hash], |row| {
                        Ok(AuthCode {
                            hash: hash_of(row.get(0)?)?,
                            app: Id::from_i64(row.get(1)?),
                            user: Id::from_i64(row.get(2)?),
                            redirect_uri: row.get(3)?,
                            scopes: scopes_of(row.get(4)?)?,
                            challenge: row.get(5)?,
                            expires_at_ms: row.get(6)?,
                        })
                    })
                    .optional()?;
                Ok(code)
            })
            .await
    }

    async fn save_token(&self, t: &OAuthToken) -> StoreResult<()> {
        let t = t.clone();
        self.db.write(move |c| Ok(insert_oauth_token(c, &t)?)).await
    }

    async fn token(&self, access_hash: &[u8; 32]) -> StoreResult<Option<OAuthToken>> {
        self.db.read(|c| {
            c.prepare_cached("SELECT * FROM oauth_tokens WHERE access_hash = ?")?
                .query_row([access_hash.to_vec()], oauth_token)
                .optional()
        })
    }

    async fn refresh(
        &self,
        app: Id,
        refresh_hash: &[u8; 32],
        next: &OAuthToken,
    ) -> StoreResult<Option<OAuthToken>> {
        let (refresh_hash, mut next) = (refresh_hash.to_vec(), next.clone());
        self.db
            .write(move |c| {
                let old = c
                    .prepare_cached(
                        "DELETE FROM oauth_tokens WHERE app_id = ? AND refresh_hash = ?
                         RETURNING *",
                    )?
                    .query_row(params![app.as_i64(), refresh_hash], oauth_token)
                    .optional()?;
                if let Some(old) = &old {
                    next.user = old.user;
                    next.scopes = old.scopes.clone();
                    insert_oauth_token(c, &next)?;
                }
                Ok(old)
            })
            .await
    }

    async fn revoke(&self, app: Id, hash: &[u8; 32]) -> StoreResult<()> {
        let hash = hash.to_vec();
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "DELETE FROM oauth_tokens
                     WHERE app_id = ?1 AND (access_hash = ?2 OR refresh_hash = ?2)",
                )?
                .execute(params![app.as_i64(), hash])?;
                Ok(())
            })
            .await
    }

    async fn revoke_user(&self, user: Id) -> StoreResult<()> {
        self.db
            .write(move |c| {
                c.prepare_cached("DELETE FROM oauth_tokens WHERE user_id = ?")?
                    .execute([user.as_i64()])?;
                Ok(())
            })
            .await
    }
}
