//! NotificationService's logic: what each batch of events does to the store, and how a
//! user's notifications are read, counted and marked read.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::events::{Event, EventHandler, Topic};
use chirp_core::http::metrics::{Buckets, CounterMetric, HistogramMetric};
use chirp_core::http::Telemetry;
use chirp_core::id::now_millis;
use chirp_core::model::{Author, Post};
use chirp_core::page::{Cursor, Page, PageRequest, MAX_BATCHES, MAX_LIMIT};
use chirp_core::peers::{Directory, SocialGraph};
use chirp_core::time::rfc3339;
use chirp_core::{ApiError, ApiResult, Id, IdGenerator};
use serde::Serialize;
use utoipa::ToSchema;

use crate::bus::Bus;
use crate::domain::{changes_of, Change, Kind};
use crate::live::{Frame, Live, StreamKind, Subscription};
use crate::ports::{NotificationStore, Query};

pub const GROUP: &str = "chirp-notify";
pub const TOPICS: &[Topic] = &[Topic::Posts, Topic::Graph, Topic::Reactions, Topic::Users];

/// A notification, as API.md has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Notification {
    pub id: Id,
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Who did it.
    pub actor: Author,
    /// The liked or reposted post, the reply, the post that mentions; null for a follow.
    pub post: Option<Post>,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Whether the caller has marked it read (`POST /api/v1/notifications/read`).
    pub read: bool,
}

#[derive(Clone)]
pub struct NotificationMetrics {
    /// Time from the action (its event) to its notification stored.
    pub lag: HistogramMetric,
    pub created: CounterMetric,
}

impl NotificationMetrics {
    pub fn new(telemetry: &Telemetry) -> Self {
        let labels = [("service", "notifications")];
        NotificationMetrics {
            lag: telemetry.histogram_with(
                "notification_lag_seconds",
                "Time from an action (its event) to its notification stored",
                Buckets::Lag,
                &labels,
            ),
            created: telemetry.counter_with(
                "notifications_created",
                "Notifications stored (a redelivered event's are not counted again)",
                &labels,
            ),
        }
    }
}

pub struct NotificationService {
    pub store: Arc<dyn NotificationStore>,
    pub directory: Arc<dyn Directory>,
    pub graph: Arc<dyn SocialGraph>,
    pub metrics: NotificationMetrics,
    /// This process's open streams.
    pub live: Arc<Live>,
    /// Where the notifications stored here go, for the streams of every process.
    pub bus: Arc<dyn Bus>,
    /// The ids notifications are stored under.
    pub ids: Arc<IdGenerator>,
}

/// Items a reconnecting stream replays at most.
pub const REPLAY: usize = 100;

impl NotificationService {
    /// Whose notifications `user` does not see: those they block or mute, and those who
    /// block them.
    async fn hidden(&self, user: Id) -> ApiResult<Vec<Id>> {
        let hidden = self.graph.hidden_from(user).await?;
        let mut all = hidden.blocked;
        all.extend(hidden.muted);
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    /// `caller`'s notifications, newest first, of `kinds` (every kind when empty). One
    /// whose actor or post has gone (before its event reached this service) is passed
    /// over without shortening the page: further rows are read until the page is full.
    pub async fn list(
        &self,
        caller: Id,
        kinds: Vec<Kind>,
        req: PageRequest,
    ) -> ApiResult<Page<Notification>> {
        let (hidden, read_up_to) = tokio::try_join!(self.hidden(caller), async {
            Ok(self.store.read_up_to(caller).await?)
        })?;
        let mut q = Query {
            kinds,
            hidden,
            before: req.before,
            limit: req.limit + 1,
        };
        let mut items = Vec::with_capacity(req.limit);
        let mut last_given = None;
        let mut batches = 0;
        let more = loop {
            let rows = self.store.page(caller, &q).await?;
            let ended = rows.len() < q.limit;
            let mut actors: Vec<Id> = rows.iter().map(|r| r.actor).collect();
            actors.sort_unstable();
            actors.dedup();
            let posts: Vec<Id> = rows.iter().filter_map(|r| r.post).collect();
            let (users, posts) = tokio::try_join!(self.directory.users(&actors), async {
                if posts.is_empty() {
                    Ok(Vec::new())
                } else {
                    self.directory.posts_seen_by(&posts, caller).await
                }
            })?;
            let users: HashMap<Id, Author> = users
                .into_iter()
                .map(|u| {
                    let a = Author {
                        id: u.id,
                        handle: u.handle,
                        display_name: u.display_name,
                    };
                    (a.id, a)
                })
                .collect();
            let posts: HashMap<Id, Post> = posts.into_iter().map(|p| (p.id, p)).collect();
            // Whether a row is left over once the page is full.
            let mut left_over = false;
            for row in &rows {
                if items.len() == req.limit {
                    left_over = true;
                    break;
                }
                last_given = Some(row.id);
                let Some(actor) = users.get(&row.actor) else {
                    continue;
                };
                let post = match row.post {
                    Some(p) => match posts.get(&p) {
                        Some(post) => Some(post.clone()),
                        None => continue,
                    },
                    None => None,
                };
                items.push(Notification {
                    id: row.id,
                    kind: row.kind,
                    actor: actor.clone(),
                    post,
                    created_at: rfc3339(row.created_at_ms),
                    read: row.id.get() <= read_up_to,
                });
            }
            if items.len() == req.limit {
                break left_over || !ended;
            }
            if ended {
                break false;
            }
            batches += 1;
            if batches == MAX_BATCHES {
                break true;
            }
            // What was passed over came in a run: read on in larger batches.
            q.before = last_given.map(|l| l.get());
            q.limit = MAX_LIMIT;
        };
        let next_cursor = match last_given {
            Some(id) if more => Some(Cursor(id.get()).encode()),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// How many of `caller`'s notifications are unread (those hidden from them left out).
    pub async fn unread_count(&self, caller: Id) -> ApiResult<u64> {
        let hidden = self.hidden(caller).await?;
        Ok(self.store.unread(caller, &hidden).await?)
    }

    /// Opens a live stream of `kind` for `caller`, and what it missed after `last` (the
    /// id of the last event the client got, from `Last-Event-ID`), oldest first, up to
    /// [`REPLAY`] items (the newest of them, if more were missed).
    pub async fn stream(
        &self,
        caller: Id,
        kind: StreamKind,
        last: Option<Id>,
    ) -> ApiResult<(Vec<Frame>, Subscription)> {
        // Open first, so that nothing between the replay and the live frames is lost
        // (what is in both is sent once).
        let subscription = self.live.open(caller, kind).await?;
        let Some(last) = last else {
            return Ok((Vec::new(), subscription));
        };
        let mut frames: Vec<Frame> = match kind {
            StreamKind::Home => self
                .directory
                .home(caller, REPLAY)
                .await?
                .iter()
                .filter(|p| p.id > last)
                .map(Frame::post)
                .collect(),
            StreamKind::Notifications => self
                .list(caller, Vec::new(), PageRequest::first(REPLAY))
                .await?
                .items
                .iter()
                .filter(|n| n.id > last)
                .map(Frame::notification)
                .collect(),
        };
        // What this process sent the reader's home lately (an item can reach it before
        // the timeline store), and its deletions.
        for f in &subscription.recent {
            let known = frames.iter().any(|g| g.id == f.id && g.event == f.event);
            if f.id > last && !known {
                frames.push(f.clone());
            }
        }
        // A post deleted since is not replayed.
        let deleted: Vec<Id> = frames
            .iter()
            .filter(|f| f.event == "delete")
            .map(|f| f.id)
            .collect();
        frames.retain(|f| f.event == "delete" || !deleted.contains(&f.id));
        frames.sort_by_key(|f| f.id);
        let skip = frames.len().saturating_sub(REPLAY);
        frames.drain(..skip);
        Ok((frames, subscription))
    }

    /// Removes the caller's notification `id` (404 when they have none of that id), or
    /// with `None` all of theirs. A redelivery of the event that made one (at least once,
    /// soon after it was made) could make it again.
    pub async fn dismiss(&self, caller: Id, id: Option<Id>) -> ApiResult<()> {
        let gone = self.store.dismiss(caller, id).await?;
        if id.is_some() && gone == 0 {
            return Err(ApiError::NotFound("no such notification".into()));
        }
        Ok(())
    }

    /// Marks `up_to` and every older notification of `caller`'s read.
    pub async fn mark_read(&self, caller: Id, up_to: Id) -> ApiResult<()> {
        Ok(self.store.mark_read(caller, up_to.get()).await?)
    }
}

#[async_trait]
impl EventHandler for NotificationService {
    /// One transaction per batch: a redelivered batch changes nothing. Each notification
    /// gets its id as it is stored (so ids follow arrival). Then every notification the
    /// batch's events have in the store goes on the bus, for the recipients' open
    /// streams: the new ones, and those an earlier delivery stored but may not have
    /// published (its process stopped in between, or the bus failed it). A batch whose
    /// notifications could not be published fails, and comes again; a stream sends each
    /// notification once however often it is published.
    async fn handle(&self, events: &[Event]) -> anyhow::Result<()> {
        let mut changes: Vec<Change> = events.iter().flat_map(changes_of).collect();
        if changes.is_empty() {
            return Ok(());
        }
        let mut keys = Vec::new();
        for c in &mut changes {
            match c {
                Change::Add(n) => {
                    n.id = self.ids.next_id()?;
                    keys.push((n.recipient, n.event));
                }
                Change::Mentions {
                    id,
                    event,
                    recipients,
                    ..
                } => {
                    *id = self.ids.next_id()?;
                    keys.extend(recipients.iter().map(|r| (*r, *event)));
                }
                _ => {}
            }
        }
        let added = self.store.apply(&changes).await?;
        self.metrics.created.inc_by(added.len() as u64);
        let now = now_millis() as i64;
        for n in &added {
            let lag_ms = (now - n.created_at_ms).max(0);
            self.metrics.lag.observe(lag_ms as f64 / 1000.0);
        }
        // All new (the usual case): nothing to look up.
        let stored = if added.len() == keys.len() {
            added
        } else {
            self.store.stored(&keys).await?
        };
        self.bus.publish(stored).await?;
        Ok(())
    }
}
