//! Notifications in the embedded database: the embedded default.

use async_trait::async_trait;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::store::StoreResult;
use chirp_core::Id;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use crate::domain::{Change, Kind, NewNotification};
use crate::ports::{NotificationStore, Query, Row};

#[derive(Clone)]
pub struct SqliteNotifications {
    db: SqliteDb,
}

impl SqliteNotifications {
    /// The store, with its tables made or brought up to date.
    pub async fn new(db: SqliteDb) -> anyhow::Result<Self> {
        db.migrate(crate::SCHEMA.owner, crate::SCHEMA.sqlite_steps())
            .await?;
        Ok(SqliteNotifications { db })
    }
}

/// `?, ?, ...` for `n` values.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Stores `n` unless the same action is notified already or something it names is gone.
fn add(
    c: &Connection,
    n: &NewNotification,
    added: &mut Vec<NewNotification>,
) -> rusqlite::Result<()> {
    let post = n.post.map(Id::as_i64);
    let done = c
        .prepare_cached(
            "INSERT INTO notifications (recipient, id, event, kind, actor, post_id, subject, created_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
             WHERE NOT EXISTS (SELECT 1 FROM notification_gone WHERE id IN (?1, ?5, ?7, ?6))
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            n.recipient.as_i64(),
            n.id.as_i64(),
            n.event.as_i64(),
            n.kind.name(),
            n.actor.as_i64(),
            post,
            n.subject.as_i64(),
            n.created_at_ms,
        ])?;
    if done > 0 {
        added.push(n.clone());
    }
    Ok(())
}

fn apply_one(
    c: &Connection,
    change: &Change,
    added: &mut Vec<NewNotification>,
) -> rusqlite::Result<()> {
    match change {
        Change::Add(n) => add(c, n, added),
        Change::Remove {
            recipient,
            kind,
            actor,
            subject,
        } => {
            c.prepare_cached(
                "DELETE FROM notifications
                 WHERE recipient = ? AND kind = ? AND actor = ? AND subject = ?",
            )?
            .execute(params![
                recipient.as_i64(),
                kind.name(),
                actor.as_i64(),
                subject.as_i64()
            ])?;
            Ok(())
        }
        Change::Mentions {
            post,
            author,
            recipients,
            id,
            event,
            at_ms,
        } => {
            let ids: Vec<i64> = recipients.iter().map(|r| r.as_i64()).collect();
            let sql = format!(
                "DELETE FROM notifications WHERE subject = ? AND kind = 'mention'
                 AND recipient NOT IN ({})",
                marks(ids.len())
            );
            let mut values = vec![post.as_i64()];
            values.extend(&ids);
            c.execute(&sql, params_from_iter(values))?;
            for r in recipients {
                let replied: bool = c
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM notifications
                         WHERE recipient = ? AND subject = ? AND kind = 'reply')",
                    )?
                    .query_row(params![r.as_i64(), post.as_i64()], |row| row.get(0))?;
                if !replied {
                    let n = NewNotification {
                        recipient: *r,
                        id: *id,
                        event: *event,
                        kind: Kind::Mention,
                        actor: *author,
                        post: Some(*post),
                        subject: *post,
                        created_at_ms: *at_ms,
                    };
                    add(c, &n, added)?;
                }
            }
            Ok(())
        }
        Change::PostGone(post) => {
            let p = post.as_i64();
            c.prepare_cached("DELETE FROM notifications WHERE subject = ?")?
                .execute([p])?;
            c.prepare_cached("DELETE FROM notifications WHERE post_id = ?")?
                .execute([p])?;
            c.prepare_cached(
                "INSERT INTO notification_gone (id) VALUES (?) ON CONFLICT DO NOTHING",
            )?
            .execute([p])?;
            Ok(())
        }
        Change::UserGone(user) => {
            let u = user.as_i64();
            c.prepare_cached("DELETE FROM notifications WHERE actor = ?")?
                .execute([u])?;
            c.prepare_cached("DELETE FROM notifications WHERE recipient = ?")?
                .execute([u])?;
            c.prepare_cached("DELETE FROM notification_marks WHERE recipient = ?")?
                .execute([u])?;
            c.prepare_cached(
                "INSERT INTO notification_gone (id) VALUES (?) ON CONFLICT DO NOTHING",
            )?
            .execute([u])?;
            Ok(())
        }
    }
}

/// Column 1 of a row: a notification's kind.
fn kind_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Kind> {
    let kind: String = r.get(1)?;
    Kind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            format!("unknown notification kind {kind:?}").into(),
        )
    })
}

/// A row of `id, kind, actor, post_id, created_at`.
fn row_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: Id::from_i64(r.get(0)?),
        kind: kind_of(r)?,
        actor: Id::from_i64(r.get(2)?),
        post: r.get::<_, Option<i64>>(3)?.map(Id::from_i64),
        created_at_ms: r.get(4)?,
    })
}

/// A row of `id, kind, actor, post_id, subject, created_at`, stored for `recipient` by
/// `event`.
fn stored_of(r: &rusqlite::Row<'_>, recipient: Id, event: Id) -> rusqlite::Result<NewNotification> {
    Ok(NewNotification {
        recipient,
        id: Id::from_i64(r.get(0)?),
        event,
        kind: kind_of(r)?,
        actor: Id::from_i64(r.get(2)?),
        post: r.get::<_, Option<i64>>(3)?.map(Id::from_i64),
        subject: Id::from_i64(r.get(4)?),
        created_at_ms: r.get(5)?,
    })
}

#[async_trait]
impl NotificationStore for SqliteNotifications {
    async fn apply(&self, changes: &[Change]) -> StoreResult<Vec<NewNotification>> {
        let changes = changes.to_vec();
        self.db
            .write(move |c| {
                let mut added = Vec::new();
                for change in &changes {
                    apply_one(c, change, &mut added)?;
                }
                Ok(added)
            })
            .await
    }

    async fn stored(&self, keys: &[(Id, Id)]) -> StoreResult<Vec<NewNotification>> {
        self.db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, kind, actor, post_id, subject, created_at FROM notifications
                 WHERE recipient = ? AND event = ?",
            )?;
            let mut out = Vec::new();
            for (recipient, event) in keys {
                let found = st
                    .query_row([recipient.as_i64(), event.as_i64()], |r| {
                        stored_of(r, *recipient, *event)
                    })
                    .optional()?;
                out.extend(found);
            }
            Ok(out)
        })
    }

    async fn page(&self, recipient: Id, q: &Query) -> StoreResult<Vec<Row>> {
        let mut sql = String::from(
            "SELECT id, kind, actor, post_id, created_at FROM notifications n
             WHERE recipient = ? AND id < ?
               AND NOT EXISTS (SELECT 1 FROM notification_gone g
                               WHERE g.id IN (n.actor, n.subject, n.post_id))",
        );
        let mut values: Vec<rusqlite::types::Value> = vec![
            recipient.as_i64().into(),
            q.before
                .map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64)
                .into(),
        ];
        if !q.kinds.is_empty() {
            sql += &format!(" AND kind IN ({})", marks(q.kinds.len()));
            values.extend(q.kinds.iter().map(|k| k.name().to_owned().into()));
        }
        if !q.hidden.is_empty() {
            sql += &format!(" AND actor NOT IN ({})", marks(q.hidden.len()));
            values.extend(q.hidden.iter().map(|h| h.as_i64().into()));
        }
        sql += " ORDER BY id DESC LIMIT ?";
        values.push((q.limit as i64).into());
        self.db.read(|c| {
            c.prepare(&sql)?
                .query_map(params_from_iter(values), row_of)?
                .collect()
        })
    }

    async fn read_up_to(&self, recipient: Id) -> StoreResult<u64> {
        self.db.read(|c| {
            let mark: Option<i64> = c
                .prepare_cached("SELECT read_up_to FROM notification_marks WHERE recipient = ?")?
                .query_row([recipient.as_i64()], |r| r.get(0))
                .optional()?;
            Ok(mark.unwrap_or(0).max(0) as u64)
        })
    }

    async fn mark_read(&self, recipient: Id, up_to: u64) -> StoreResult<()> {
        let up_to = up_to.min(i64::MAX as u64) as i64;
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO notification_marks (recipient, read_up_to) VALUES (?1, ?2)
                     ON CONFLICT (recipient) DO UPDATE
                     SET read_up_to = MAX(read_up_to, excluded.read_up_to)",
                )?
                .execute(params![recipient.as_i64(), up_to])?;
                Ok(())
            })
            .await
    }

    async fn dismiss(&self, recipient: Id, id: Option<Id>) -> StoreResult<u64> {
        self.db
            .write(move |c| {
                let gone = match id {
                    Some(id) => c
                        .prepare_cached("DELETE FROM notifications WHERE recipient = ? AND id = ?")?
                        .execute(params![recipient.as_i64(), id.as_i64()])?,
                    None => c
                        .prepare_cached("DELETE FROM notifications WHERE recipient = ?")?
                        .execute([recipient.as_i64()])?,
                };
                Ok(gone as u64)
            })
            .await
    }

    async fn unread(&self, recipient: Id, hidden: &[Id]) -> StoreResult<u64> {
        let mut sql = String::from(
            "SELECT COUNT(*) FROM notifications n WHERE recipient = ?1 AND id >
             COALESCE((SELECT read_up_to FROM notification_marks WHERE recipient = ?1), 0)
             AND NOT EXISTS (SELECT 1 FROM notification_gone g
                             WHERE g.id IN (n.actor, n.subject, n.post_id))",
        );
        let mut values = vec![recipient.as_i64()];
        if !hidden.is_empty() {
            // Numbered after ?1, which the subquery uses too.
            let marks: Vec<String> = (0..hidden.len()).map(|i| format!("?{}", i + 2)).collect();
            sql += &format!(" AND actor NOT IN ({})", marks.join(", "));
            values.extend(hidden.iter().map(|h| h.as_i64()));
        }
        self.db.read(|c| {
            let n: i64 = c
                .prepare(&sql)?
                .query_row(params_from_iter(values), |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}
