//! Notifications on PostgreSQL: the deployed adapter. Each page and count is a range scan
//! of one user's rows by the primary key (recipient, id).

use async_trait::async_trait;
use chirp_core::deployed::postgres::PgDb;
use chirp_core::store::{StoreError, StoreResult};
use chirp_core::Id;
use sqlx::{PgConnection, Row as _};

use crate::domain::{Change, Kind, NewNotification};
use crate::ports::{NotificationStore, Query, Row};

#[derive(Debug, Clone)]
pub struct PgNotifications {
    db: PgDb,
}

impl PgNotifications {
    /// The store; its tables must have been made by the schema's migrations.
    pub fn new(db: PgDb) -> Self {
        PgNotifications { db }
    }
}

fn ids(ids: &[Id]) -> Vec<i64> {
    ids.iter().map(|i| i.as_i64()).collect()
}

async fn add(
    c: &mut PgConnection,
    n: &NewNotification,
    added: &mut Vec<NewNotification>,
) -> sqlx::Result<()> {
    let done = sqlx::query(
        "INSERT INTO notifications (recipient, id, event, kind, actor, post_id, subject, created_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8
         WHERE NOT EXISTS (SELECT 1 FROM notification_gone WHERE id IN ($1, $5, $7, $6))
         ON CONFLICT DO NOTHING",
    )
    .bind(n.recipient.as_i64())
    .bind(n.id.as_i64())
    .bind(n.event.as_i64())
    .bind(n.kind.name())
    .bind(n.actor.as_i64())
    .bind(n.post.map(Id::as_i64))
    .bind(n.subject.as_i64())
    .bind(n.created_at_ms)
    .execute(c)
    .await?;
    if done.rows_affected() > 0 {
        added.push(n.clone());
    }
    Ok(())
}

async fn apply_one(
    c: &mut PgConnection,
    change: &Change,
    added: &mut Vec<NewNotification>,
) -> sqlx::Result<()> {
    match change {
        Change::Add(n) => add(c, n, added).await,
        Change::Remove {
            recipient,
            kind,
            actor,
            subject,
        } => {
            sqlx::query(
                "DELETE FROM notifications
                 WHERE recipient = $1 AND kind = $2 AND actor = $3 AND subject = $4",
            )
            .bind(recipient.as_i64())
            .bind(kind.name())
            .bind(actor.as_i64())
            .bind(subject.as_i64())
            .execute(c)
            .await?;
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
            sqlx::query(
                "DELETE FROM notifications WHERE subject = $1 AND kind = 'mention'
                 AND recipient <> ALL($2)",
            )
            .bind(post.as_i64())
            .bind(ids(recipients))
            .execute(&mut *c)
            .await?;
            for r in recipients {
                let replied: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM notifications
                     WHERE recipient = $1 AND subject = $2 AND kind = 'reply')",
                )
                .bind(r.as_i64())
                .bind(post.as_i64())
                .fetch_one(&mut *c)
                .await?;
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
                    add(c, &n, added).await?;
                }
            }
            Ok(())
        }
        Change::PostGone(post) => {
            sqlx::query("DELETE FROM notifications WHERE subject = $1 OR post_id = $1")
                .bind(post.as_i64())
                .execute(&mut *c)
                .await?;
            gone(c, *post).await?;
            Ok(())
        }
        Change::UserGone(user) => {
            sqlx::query("DELETE FROM notifications WHERE actor = $1 OR recipient = $1")
                .bind(user.as_i64())
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM notification_marks WHERE recipient = $1")
                .bind(user.as_i64())
                .execute(&mut *c)
                .await?;
            gone(c, *user).await?;
            Ok(())
        }
    }
}

async fn gone(c: &mut PgConnection, id: Id) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO notification_gone (id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(id.as_i64())
        .execute(c)
        .await?;
    Ok(())
}

#[async_trait]
impl NotificationStore for PgNotifications {
    async fn apply(&self, changes: &[Change]) -> StoreResult<Vec<NewNotification>> {
        let mut tx = self.db.pool.begin().await?;
        let mut added = Vec::new();
        for change in changes {
            apply_one(&mut tx, change, &mut added).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn page(&self, recipient: Id, q: &Query) -> StoreResult<Vec<Row>> {
        let kinds: Vec<&str> = q.kinds.iter().map(|k| k.name()).collect();
        let rows = sqlx::query(
            "SELECT id, kind, actor, post_id, created_at FROM notifications n
             WHERE recipient = $1 AND id < $2
               AND NOT EXISTS (SELECT 1 FROM notification_gone g
                               WHERE g.id IN (n.actor, n.subject, n.post_id))
               AND (cardinality($3::text[]) = 0 OR kind = ANY($3))
               AND actor <> ALL($4)
             ORDER BY id DESC LIMIT $5",
        )
        .bind(recipient.as_i64())
        .bind(q.before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64))
        .bind(kinds)
        .bind(ids(&q.hidden))
        .bind(q.limit as i64)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(1)?;
                Ok(Row {
                    id: Id::from_i64(r.try_get(0)?),
                    kind: Kind::parse(&kind).ok_or_else(|| {
                        StoreError::new(
                            "postgres",
                            anyhow::anyhow!("unknown notification kind {kind:?}"),
                        )
                    })?,
                    actor: Id::from_i64(r.try_get(2)?),
                    post: r.try_get::<Option<i64>, _>(3)?.map(Id::from_i64),
                    created_at_ms: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn stored(&self, keys: &[(Id, Id)]) -> StoreResult<Vec<NewNotification>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let recipients: Vec<i64> = keys.iter().map(|(r, _)| r.as_i64()).collect();
        let events: Vec<i64> = keys.iter().map(|(_, e)| e.as_i64()).collect();
        let rows = sqlx::query(
            "SELECT n.recipient, n.id, n.event, n.kind, n.actor, n.post_id, n.subject, n.created_at
             FROM notifications n
             JOIN UNNEST($1::bigint[], $2::bigint[]) AS k(recipient, event)
               ON n.recipient = k.recipient AND n.event = k.event",
        )
        .bind(recipients)
        .bind(events)
        .fetch_all(&self.db.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(NewNotification {
                    recipient: Id::from_i64(r.try_get("recipient")?),
                    id: Id::from_i64(r.try_get("id")?),
                    event: Id::from_i64(r.try_get("event")?),
                    kind: Kind::parse(&kind).ok_or_else(|| {
                        StoreError::new(
                            "postgres",
                            anyhow::anyhow!("unknown notification kind {kind:?}"),
                        )
                    })?,
                    actor: Id::from_i64(r.try_get("actor")?),
                    post: r.try_get::<Option<i64>, _>("post_id")?.map(Id::from_i64),
                    subject: Id::from_i64(r.try_get("subject")?),
                    created_at_ms: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn read_up_to(&self, recipient: Id) -> StoreResult<u64> {
        let mark: Option<i64> =
            sqlx::query_scalar("SELECT read_up_to FROM notification_marks WHERE recipient = $1")
                .bind(recipient.as_i64())
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(mark.unwrap_or(0).max(0) as u64)
    }

    async fn dismiss(&self, recipient: Id, id: Option<Id>) -> StoreResult<u64> {
        let done = match id {
            Some(id) => {
                sqlx::query("DELETE FROM notifications WHERE recipient = $1 AND id = $2")
                    .bind(recipient.as_i64())
                    .bind(id.as_i64())
                    .execute(&self.db.pool)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM notifications WHERE recipient = $1")
                    .bind(recipient.as_i64())
                    .execute(&self.db.pool)
                    .await?
            }
        };
        Ok(done.rows_affected())
    }

    async fn mark_read(&self, recipient: Id, up_to: u64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO notification_marks (recipient, read_up_to) VALUES ($1, $2)
             ON CONFLICT (recipient) DO UPDATE
             SET read_up_to = GREATEST(notification_marks.read_up_to, excluded.read_up_to)",
        )
        .bind(recipient.as_i64())
        .bind(up_to.min(i64::MAX as u64) as i64)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn unread(&self, recipient: Id, hidden: &[Id]) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications n WHERE recipient = $1 AND id >
             COALESCE((SELECT read_up_to FROM notification_marks WHERE recipient = $1), 0)
             AND actor <> ALL($2)
             AND NOT EXISTS (SELECT 1 FROM notification_gone g
                             WHERE g.id IN (n.actor, n.subject, n.post_id))",
        )
        .bind(recipient.as_i64())
        .bind(ids(hidden))
        .fetch_one(&self.db.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
}
