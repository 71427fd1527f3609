//! Live streams: each open stream of this process, and what reaches them.
//!
//! Notifications come from the bus ([`crate::bus`]) as any process of the service stores
//! them (so a stream and a replay from the store never miss one between them). Home items come from
//! the log read from its end, in no consumer group ([`EventLog::tail`]), looked at for
//! the connected users only: a new post of someone a connected reader follows
//! (hybrid-fanout authors included: this is not the timeline store, which does not hold
//! them) and the deletion of one. The last home items of a reader are kept for a while
//! after their last stream closes ([`GRACE`]), for the replay of a reconnection: an item
//! can reach this process before it reaches the timeline store. It keeps,
//! for each connected user, whom they follow, block and mute (read from UserGraphService
//! when their first stream opens, then kept by the graph's events), so that deciding who
//! gets an event costs no call. Each stream has a bounded buffer; a stream whose buffer
//! is full (a client that does not keep up) is closed, and its client replays what it
//! missed when it reconnects, so that one slow client never slows the others.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chirp_core::backoff::Backoff;
use chirp_core::events::{Event, EventBody, EventLog, Topic};
use chirp_core::http::metrics::{CounterMetric, GaugeMetric};
use chirp_core::http::Telemetry;
use chirp_core::model::{Author, Post, Viewer};
use chirp_core::peers::{reply_reaches_without_a_follow, Directory, SocialGraph};
use chirp_core::time::rfc3339;
use chirp_core::{ApiError, ApiResult, Id};
use tokio_util::sync::CancellationToken;

use crate::domain::NewNotification;
use crate::queue::{self, Refused};
use crate::service::Notification;

/// How a stream behaves toward its client.
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// How often a stream with nothing else to send sends a comment line, so that proxies
    /// do not close it as idle.
    pub keep_alive: Duration,
    /// Items a stream holds for its client; when one more comes, it is closed as too slow
    /// (its client replays what it missed on reconnecting).
    pub buffer: usize,
}

impl Default for StreamSettings {
    /// A comment every 15 s (API.md), 256 items waiting at most.
    fn default() -> Self {
        StreamSettings {
            keep_alive: Duration::from_secs(15),
            buffer: 256,
        }
    }
}

/// The topics the live streams read.
pub const TOPICS: &[Topic] = &[Topic::Posts, Topic::Graph];

/// How long a reader's state (and last home items) outlives their last stream: a client
/// reconnects within it (browsers' EventSource after 3 s).
pub const GRACE: Duration = Duration::from_secs(30);

/// Home items kept per reader for a reconnection's replay.
const RECENT: usize = 100;

/// Notification ids kept per reader, so that one published twice is sent once.
const NOTIFIED: usize = 256;

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Home,
    Notifications,
}

impl StreamKind {
    pub fn parse(s: &str) -> Option<StreamKind> {
        match s {
            "home" => Some(StreamKind::Home),
            "notifications" => Some(StreamKind::Notifications),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Home => "home",
            StreamKind::Notifications => "notifications",
        }
    }
}

/// One event of a stream: its `event:`, its `id:` and its data (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub event: &'static str,
    pub id: Id,
    pub data: String,
}

impl Frame {
    pub fn post(post: &Post) -> Frame {
        Frame {
            event: "post",
            id: post.id,
            data: serde_json::to_string(post).unwrap_or_default(),
        }
    }

    pub fn notification(n: &Notification) -> Frame {
        Frame {
            event: "notification",
            id: n.id,
            data: serde_json::to_string(n).unwrap_or_default(),
        }
    }

    fn delete(post: Id) -> Frame {
        Frame {
            event: "delete",
            id: post,
            data: format!("{{\"id\":\"{post}\"}}"),
        }
    }
}

struct Conn {
    serial: u64,
    kind: StreamKind,
    /// Frames shared with the reader's other streams.
    tx: queue::Sender<Arc<Frame>>,
}

/// What is kept for a user with at least one open stream.
#[derive(Default)]
struct Reader {
    /// Whom the user follows, sorted: a set in half a hash set's room (one is kept for
    /// every connected user, so that an idle stream costs little).
    following: Vec<Id>,
    /// Those the user blocks and those who block the user.
    blocked: HashSet<Id>,
    muted: HashSet<Id>,
    /// Originals already sent to the user's home streams (posts and reposts' originals),
    /// so that an original comes at most once, as in the home timeline.
    sent: VecDeque<Id>,
    /// The last home items, for a reconnection's replay.
    recent: VecDeque<Frame>,
    /// The last notifications sent to the user's streams: one published again (its
    /// event came again) is not sent twice.
    notified: VecDeque<Id>,
    conns: Vec<Conn>,
    /// Since when the reader has had no stream open (kept for [`GRACE`]).
    idle_since: Option<Instant>,
    /// Follows, blocks and mutes the graph's events changed while the reader's graph was
    /// being read, applied over what was read.
    loading: Option<Vec<GraphChange>>,
}

/// A change to a reader's graph, from an event.
#[derive(Debug, Clone, Copy)]
enum GraphChange {
    Follow(Id, bool),
    Block(Id, bool),
    Mute(Id, bool),
}

/// How many originals a reader's `sent` remembers.
const SENT_REMEMBERED: usize = 512;

impl Reader {
    fn follows(&self, user: Id) -> bool {
        self.following.binary_search(&user).is_ok()
    }

    fn hides(&self, user: Id) -> bool {
        self.blocked.contains(&user) || self.muted.contains(&user)
    }

    fn has(&self, kind: StreamKind) -> bool {
        self.conns.iter().any(|c| c.kind == kind)
    }

    /// Whether home items are worked out for the reader: a home stream is open, or was
    /// (within the grace), or the reader's graph is still being read.
    fn wants_home(&self) -> bool {
        self.has(StreamKind::Home) || (self.conns.is_empty() && self.idle_since.is_some())
    }

    fn remember(&mut self, original: Id) -> bool {
        if self.sent.contains(&original) {
            return false;
        }
        if self.sent.len() == SENT_REMEMBERED {
            self.sent.pop_front();
        }
        self.sent.push_back(original);
        true
    }
}

#[derive(Default)]
struct Readers {
    /// Boxed: most of a reader's fields are empty, and a map holds room for its entries
    /// and more.
    by_user: HashMap<Id, Box<Reader>>,
    /// For each user followed by a connected reader: those readers.
    followers: HashMap<Id, HashSet<Id>>,
}

impl Readers {
    fn apply(&mut self, reader: Id, change: GraphChange) {
        match self.by_user.get_mut(&reader) {
            None => return,
            Some(r) => {
                if let Some(pending) = &mut r.loading {
                    pending.push(change);
                }
            }
        }
        match change {
            GraphChange::Follow(f, true) => self.follow(reader, f),
            GraphChange::Follow(f, false) => self.unfollow(reader, f),
            GraphChange::Block(other, on) | GraphChange::Mute(other, on) => {
                let Some(r) = self.by_user.get_mut(&reader) else {
                    return;
                };
                let set = match change {
                    GraphChange::Block(..) => &mut r.blocked,
                    _ => &mut r.muted,
                };
                if on {
                    set.insert(other);
                } else {
                    set.remove(&other);
                }
            }
        }
    }

    fn forget(&mut self, user: Id) {
        if let Some(r) = self.by_user.remove(&user) {
            for f in r.following {
                self.drop_follower(f, user);
            }
        }
    }

    fn follow(&mut self, reader: Id, followee: Id) {
        if let Some(r) = self.by_user.get_mut(&reader) {
            if let Err(at) = r.following.binary_search(&followee) {
                r.following.insert(at, followee);
                self.followers.entry(followee).or_default().insert(reader);
            }
        }
    }

    fn unfollow(&mut self, reader: Id, followee: Id) {
        if let Some(r) = self.by_user.get_mut(&reader) {
            if let Ok(at) = r.following.binary_search(&followee) {
                r.following.remove(at);
            }
        }
        self.drop_follower(followee, reader);
    }

    fn drop_follower(&mut self, followee: Id, reader: Id) {
        if let Some(f) = self.followers.get_mut(&followee) {
            f.remove(&reader);
            if f.is_empty() {
                self.followers.remove(&followee);
            }
        }
    }
}

/// Open streams, what the metrics say of them.
#[derive(Clone)]
pub struct LiveMetrics {
    pub open: [GaugeMetric; 2],
    pub sent: CounterMetric,
    pub slow: CounterMetric,
}

impl LiveMetrics {
    pub fn new(telemetry: &Telemetry) -> Self {
        let open = |kind: StreamKind| {
            telemetry.gauge_with(
                "streams_open",
                "Live streams open (Server-Sent Events)",
                &[("service", "notifications"), ("stream", kind.name())],
            )
        };
        let labels = [("service", "notifications")];
        LiveMetrics {
            open: [open(StreamKind::Home), open(StreamKind::Notifications)],
            sent: telemetry.counter_with(
                "stream_events_sent",
                "Events handed to live streams",
                &labels,
            ),
            slow: telemetry.counter_with(
                "stream_slow_disconnects",
                "Live streams closed because their client did not keep up",
                &labels,
            ),
        }
    }

    fn open(&self, kind: StreamKind) -> &GaugeMetric {
        &self.open[kind as usize]
    }
}

/// The open streams of this process.
pub struct Live {
    readers: Mutex<Readers>,
    serial: AtomicU64,
    /// Set when the process stops: every stream ends, and no new one opens.
    closed: std::sync::atomic::AtomicBool,
    /// Whether notifications stored by any process reach this one (its bus is
    /// subscribed, see [`crate::bus`]): notification streams open only while they do.
    /// Changed under the readers' lock.
    notifications_live: std::sync::atomic::AtomicBool,
    /// When idle readers were last looked for (at most once a second, not per batch).
    swept: Mutex<Instant>,
    directory: Arc<dyn Directory>,
    graph: Arc<dyn SocialGraph>,
    metrics: LiveMetrics,
    pub settings: StreamSettings,
}

/// An open stream: its frames, and its place among the open streams, given back when it
/// is dropped (the client went away).
pub struct Subscription {
    live: Arc<Live>,
    user: Id,
    serial: u64,
    kind: StreamKind,
    pub frames: queue::Receiver<Arc<Frame>>,
    /// The reader's last home items this process worked out (for a home stream), oldest
    /// first: a reconnection's replay takes those after its last event from here too.
    pub recent: Vec<Frame>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.live.close(self.user, self.serial, self.kind);
    }
}

impl Live {
    pub fn new(
        directory: Arc<dyn Directory>,
        graph: Arc<dyn SocialGraph>,
        metrics: LiveMetrics,
        settings: StreamSettings,
    ) -> Arc<Live> {
        Arc::new(Live {
            readers: Mutex::default(),
            serial: AtomicU64::new(0),
            closed: std::sync::atomic::AtomicBool::new(false),
            notifications_live: std::sync::atomic::AtomicBool::new(true),
            swept: Mutex::new(Instant::now()),
            directory,
            graph,
            metrics,
            settings: StreamSettings {
                buffer: settings.buffer.max(1),
                ..settings
            },
        })
    }

    fn readers(&self) -> std::sync::MutexGuard<'_, Readers> {
        self.readers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a stream of `kind` for `user`: from now on, what reaches them is in its
    /// frames. A user with no state here yet is registered first (so that the graph's
    /// events from then on are kept), then their graph is read.
    pub async fn open(self: &Arc<Self>, user: Id, kind: StreamKind) -> ApiResult<Subscription> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ApiError::unavailable(
                "NotificationService",
                anyhow::anyhow!("the process is stopping"),
            ));
        }
        let (tx, rx) = queue::queue(self.settings.buffer);
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let (load, recent) = {
            let mut readers = self.readers();
            if kind == StreamKind::Notifications && !self.notifications_live.load(Ordering::Acquire)
            {
                return Err(ApiError::unavailable(
                    "redis",
                    anyhow::anyhow!("the notification bus is not subscribed"),
                ));
            }
            let load = !readers.by_user.contains_key(&user);
            let r = readers.by_user.entry(user).or_insert_with(|| {
                Box::new(Reader {
                    loading: Some(Vec::new()),
                    ..Reader::default()
                })
            });
            r.conns.push(Conn { serial, kind, tx });
            r.idle_since = None;
            self.metrics.open(kind).inc();
            let recent = match kind {
                StreamKind::Home => r.recent.iter().cloned().collect(),
                StreamKind::Notifications => Vec::new(),
            };
            (load, recent)
        };
        // From here the subscription gives its place back if anything fails.
        let subscription = Subscription {
            live: self.clone(),
            user,
            serial,
            kind,
            frames: rx,
            recent,
        };
        if load {
            let (following, hidden) =
                tokio::try_join!(self.graph.all_followees(user), self.graph.hidden_from(user))?;
            let mut readers = self.readers();
            let Readers { by_user, followers } = &mut *readers;
            let pending = match by_user.get_mut(&user) {
                Some(r) => {
                    r.blocked.extend(hidden.blocked);
                    r.muted.extend(hidden.muted);
                    // What was read, with what the events added meanwhile, sorted once
                    // (not an insertion at a time: up to 10,000 follows, under the lock).
                    let mut all = std::mem::take(&mut r.following);
                    all.extend(following);
                    all.sort_unstable();
                    all.dedup();
                    all.shrink_to_fit();
                    for f in &all {
                        followers.entry(*f).or_default().insert(user);
                    }
                    r.following = all;
                    r.loading.take().unwrap_or_default()
                }
                None => Vec::new(),
            };
            // What the events changed while the graph was read, over what was read.
            for change in pending {
                readers.apply(user, change);
            }
        }
        Ok(subscription)
    }

    fn close(&self, user: Id, serial: u64, kind: StreamKind) {
        let mut readers = self.readers();
        let Some(r) = readers.by_user.get_mut(&user) else {
            return;
        };
        let before = r.conns.len();
        r.conns.retain(|c| c.serial != serial);
        if r.conns.len() < before {
            self.metrics.open(kind).dec();
        }
        if r.conns.is_empty() {
            if r.loading.is_some() {
                // Its graph was never read: nothing worth keeping.
                readers.forget(user);
            } else {
                r.idle_since = Some(Instant::now());
            }
        }
    }

    /// Ends every stream and refuses new ones (the process is stopping): their clients
    /// reconnect, to another process or to this one started again.
    pub fn close_all(&self) {
        self.closed.store(true, Ordering::Release);
        let mut readers = self.readers();
        readers.by_user.clear();
        readers.followers.clear();
        for gauge in &self.metrics.open {
            gauge.set(0);
        }
    }

    /// Whether notifications stored by any process reach this one (for readiness).
    pub fn notifications_live(&self) -> bool {
        self.notifications_live.load(Ordering::Acquire)
    }

    /// Whether notifications stored by any process reach this one. When they stop, every
    /// notification stream here ends (its client reconnects, and replays what it missed
    /// from the store once they reach it again), and none opens until they do.
    pub fn set_notifications_live(&self, live: bool) {
        let mut readers = self.readers();
        let was = self.notifications_live.swap(live, Ordering::AcqRel);
        if live || !was {
            return;
        }
        let users: Vec<Id> = readers.by_user.keys().copied().collect();
        for user in users {
            self.end(&mut readers, user, StreamKind::Notifications);
        }
    }

    /// Ends `user`'s streams of `kind` here (their clients reconnect, and replay what
    /// they missed); how many.
    fn end(&self, readers: &mut Readers, user: Id, kind: StreamKind) -> usize {
        let Some(r) = readers.by_user.get_mut(&user) else {
            return 0;
        };
        let before = r.conns.len();
        r.conns.retain(|c| c.kind != kind);
        let ended = before - r.conns.len();
        if before > 0 && r.conns.is_empty() {
            r.idle_since = Some(Instant::now());
        }
        self.metrics.open(kind).dec_by(ended as i64);
        ended
    }

    /// Forgets the readers whose last stream closed more than [`GRACE`] ago.
    fn sweep(&self) {
        {
            let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
            if swept.elapsed() < Duration::from_secs(1) {
                return;
            }
            *swept = Instant::now();
        }
        let mut readers = self.readers();
        let idle: Vec<Id> = readers
            .by_user
            .iter()
            .filter(|(_, r)| {
                r.conns.is_empty() && r.idle_since.is_some_and(|t| t.elapsed() > GRACE)
            })
            .map(|(u, _)| *u)
            .collect();
        for user in idle {
            readers.forget(user);
        }
    }

    /// Hands `frame` to `user`'s streams of `kind` (and a home item to their recent
    /// ones); a stream whose buffer is full is closed (its client replays on
    /// reconnecting).
    fn send(&self, readers: &mut Readers, user: Id, kind: StreamKind, frame: &Frame) {
        let Some(r) = readers.by_user.get_mut(&user) else {
            return;
        };
        if kind == StreamKind::Home {
            if r.recent.len() == RECENT {
                r.recent.pop_front();
            }
            r.recent.push_back(frame.clone());
        }
        let before = r.conns.len();
        let mut shared: Option<Arc<Frame>> = None;
        r.conns.retain(|c| {
            if c.kind != kind {
                return true;
            }
            let frame = shared.get_or_insert_with(|| Arc::new(frame.clone()));
            match c.tx.try_send(frame.clone()) {
                Ok(()) => {
                    self.metrics.sent.inc();
                    true
                }
                Err(Refused::Full) => {
                    self.metrics.slow.inc();
                    self.metrics.open(kind).dec();
                    false
                }
                Err(Refused::Closed) => {
                    self.metrics.open(kind).dec();
                    false
                }
            }
        });
        if before > 0 && r.conns.is_empty() {
            r.idle_since = Some(Instant::now());
        }
    }

    /// What a batch of the log's events tells the home streams, in the order of the
    /// events; each event on its own (one that cannot be sent does not hold back the
    /// others). After an event that handed frames to streams, the streams' writers get
    /// their turn ([`Live::writers_turn`]).
    pub async fn on_events(&self, events: &[Event]) {
        self.sweep();
        for e in events {
            let handed = self.metrics.sent.get();
            if let Err(err) = self.on_event(e).await {
                tracing::warn!(error = %err, event = %e.id, "a live stream event was not sent");
            }
            self.writers_turn(handed).await;
        }
    }

    /// Yields if frames were handed to streams since `handed` (the count of events sent,
    /// [`LiveMetrics::sent`]) was read. An item's work may finish without waiting (the
    /// embedded shape reads its posts on this thread), and a stream's writer, woken by its
    /// frame, waits behind this task meanwhile (on a multi-thread runtime too: Tokio runs
    /// a task woken by a worker's task next on that worker, where no other worker takes
    /// it): a batch longer than a stream's buffer, handed over in one go, would close the
    /// stream of a client that reads everything as it comes.
    async fn writers_turn(&self, handed: u64) {
        if self.metrics.sent.get() != handed {
            tokio::task::yield_now().await;
        }
    }

    async fn on_event(&self, e: &Event) -> ApiResult<()> {
        self.keep_graph(e);
        match &e.body {
            EventBody::PostCreated {
                post_id,
                author_id,
                reply_to_author,
                repost_of,
                repost_of_author,
                ..
            } => {
                let original = repost_of.zip(*repost_of_author);
                self.new_post(*post_id, *author_id, *reply_to_author, original)
                    .await?
            }
            EventBody::PostDeleted { post_id, author_id } => {
                let frame = Frame::delete(*post_id);
                let mut readers = self.readers();
                let mut to: Vec<Id> = readers
                    .followers
                    .get(author_id)
                    .map(|f| f.iter().copied().collect())
                    .unwrap_or_default();
                to.push(*author_id);
                for reader in to {
                    self.send(&mut readers, reader, StreamKind::Home, &frame);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Keeps the connected users' follows, blocks and mutes as the graph's events say.
    fn keep_graph(&self, e: &Event) {
        use GraphChange as G;
        let changes: Vec<(Id, GraphChange)> = match &e.body {
            EventBody::FollowCreated { follower, followee } => {
                vec![(*follower, G::Follow(*followee, true))]
            }
            EventBody::FollowDeleted { follower, followee } => {
                vec![(*follower, G::Follow(*followee, false))]
            }
            EventBody::BlockCreated { blocker, blocked } => vec![
                (*blocker, G::Block(*blocked, true)),
                (*blocked, G::Block(*blocker, true)),
            ],
            EventBody::BlockDeleted { blocker, blocked } => vec![
                (*blocker, G::Block(*blocked, false)),
                (*blocked, G::Block(*blocker, false)),
            ],
            EventBody::MuteCreated { muter, muted } => vec![(*muter, G::Mute(*muted, true))],
            EventBody::MuteDeleted { muter, muted } => vec![(*muter, G::Mute(*muted, false))],
            _ => return,
        };
        let mut readers = self.readers();
        for (reader, change) in changes {
            readers.apply(reader, change);
        }
    }

    /// A new post (or repost) to the home streams of the readers whose home it reaches:
    /// the author, and those who follow the author, by the rules of the home timeline (a
    /// reply reaches those who also follow the one replied to; an original at most once;
    /// nothing from those the reader blocks or mutes).
    async fn new_post(
        &self,
        post: Id,
        author: Id,
        replied: Option<Id>,
        original: Option<(Id, Id)>,
    ) -> ApiResult<()> {
        let to: Vec<Id> = {
            let mut readers = self.readers();
            let mut candidates: Vec<Id> = readers
                .followers
                .get(&author)
                .map(|f| f.iter().copied().collect())
                .unwrap_or_default();
            candidates.push(author);
            candidates.sort_unstable();
            candidates.dedup();
            candidates
                .into_iter()
                .filter(|reader| {
                    let Some(r) = readers.by_user.get_mut(reader) else {
                        return false;
                    };
                    if !r.wants_home() || r.hides(author) {
                        return false;
                    }
                    if let Some(replied) = replied {
                        let reaches = reply_reaches_without_a_follow(*reader, author, replied)
                            || r.follows(replied);
                        if !reaches {
                            return false;
                        }
                    }
                    match original {
                        // The original is there already (its author followed, or the
                        // reader's own), or came before.
                        Some((o, oa)) => {
                            oa != *reader && !r.follows(oa) && !r.hides(oa) && r.remember(o)
                        }
                        None => {
                            r.remember(post);
                            true
                        }
                    }
                })
                .collect()
        };
        if to.is_empty() {
            return Ok(());
        }
        let frames = match self.home_frames(post, original, &to).await {
            Ok(frames) => frames,
            Err(e) => {
                // Those readers would never get this item live (ReadService is down, or
                // did not answer): their home streams end, and their clients replay it
                // when they reconnect (once ReadService answers).
                let mut readers = self.readers();
                for reader in &to {
                    self.end(&mut readers, *reader, StreamKind::Home);
                }
                return Err(e);
            }
        };
        let mut readers = self.readers();
        for (reader, frame) in frames {
            self.send(&mut readers, reader, StreamKind::Home, &frame);
        }
        Ok(())
    }

    /// The frames of a new post (or repost) for each of `to`: a new post has no
    /// reactions yet, so one hydration serves every reader; a repost carries its
    /// original, whose state is each reader's own.
    async fn home_frames(
        &self,
        post: Id,
        original: Option<(Id, Id)>,
        to: &[Id],
    ) -> ApiResult<Vec<(Id, Frame)>> {
        Ok(if original.is_none() {
            let Some(mut p) = self.directory.posts(&[post]).await?.pop() else {
                return Ok(Vec::new());
            };
            p.viewer = Some(Viewer::default());
            let frame = Frame::post(&p);
            to.iter().map(|r| (*r, frame.clone())).collect()
        } else {
            let seen = to.iter().map(|reader| async move {
                let p = self.directory.posts_seen_by(&[post], *reader).await?;
                Ok::<_, ApiError>(p.into_iter().next().map(|p| (*reader, Frame::post(&p))))
            });
            futures::future::try_join_all(seen)
                .await?
                .into_iter()
                .flatten()
                .collect()
        })
    }

    /// Notifications just stored, to their recipients' notification streams here (those
    /// from someone hidden from the recipient are not sent, as a page leaves them out),
    /// the streams' writers given their turn after each that was sent
    /// ([`Live::writers_turn`]).
    pub async fn notifications(&self, added: Vec<NewNotification>) {
        for n in added {
            let handed = self.metrics.sent.get();
            if let Err(err) = self.notification(n).await {
                tracing::warn!(error = %err, "a live notification was not sent");
            }
            self.writers_turn(handed).await;
        }
    }

    async fn notification(&self, n: NewNotification) -> ApiResult<()> {
        {
            let readers = self.readers();
            let Some(r) = readers.by_user.get(&n.recipient) else {
                return Ok(());
            };
            if !r.has(StreamKind::Notifications) || r.hides(n.actor) || r.notified.contains(&n.id) {
                return Ok(());
            }
        }
        let actors = [n.actor];
        let hydrated = tokio::try_join!(self.directory.users(&actors), async {
            match n.post {
                Some(p) => self.directory.posts_seen_by(&[p], n.recipient).await,
                None => Ok(Vec::new()),
            }
        });
        let (actor, post) = match hydrated {
            Ok(both) => both,
            Err(e) => {
                // Stored, but not sent: the streams end, and replay it from the store.
                let mut readers = self.readers();
                self.end(&mut readers, n.recipient, StreamKind::Notifications);
                return Err(e);
            }
        };
        let Some(actor) = actor.into_iter().next() else {
            return Ok(());
        };
        let post = post.into_iter().next();
        if n.post.is_some() && post.is_none() {
            return Ok(());
        }
        let notification = Notification {
            id: n.id,
            kind: n.kind,
            actor: Author {
                id: actor.id,
                handle: actor.handle,
                display_name: actor.display_name,
            },
            post,
            created_at: rfc3339(n.created_at_ms),
            read: false,
        };
        let frame = Frame::notification(&notification);
        let mut readers = self.readers();
        let Some(r) = readers.by_user.get_mut(&n.recipient) else {
            return Ok(());
        };
        if r.notified.contains(&n.id) {
            return Ok(());
        }
        if r.notified.len() == NOTIFIED {
            r.notified.pop_front();
        }
        r.notified.push_back(n.id);
        self.send(&mut readers, n.recipient, StreamKind::Notifications, &frame);
        Ok(())
    }
}

/// Reads the log from its end into `live` until `stop`, then ends every stream. A log
/// that cannot be read is retried with backoff (the streams stay open meanwhile; what
/// they miss, their clients replay when they reconnect).
pub async fn run(log: Arc<dyn EventLog>, live: Arc<Live>, stop: CancellationToken) {
    let mut backoff = Backoff::default();
    'outer: while !stop.is_cancelled() {
        let mut tail = match log.tail(TOPICS).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "the live streams cannot read the log"
                );
                if backoff.wait(&stop).await.is_err() {
                    break;
                }
                continue;
            }
        };
        backoff = Backoff::default();
        loop {
            let batch = tokio::select! {
                b = tail.next_batch(512, Duration::from_secs(1)) => b,
                _ = stop.cancelled() => break 'outer,
            };
            match batch {
                Ok(events) => live.on_events(&events).await,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "the live streams lost the log");
                    if backoff.wait(&stop).await.is_err() {
                        break 'outer;
                    }
                    continue 'outer;
                }
            }
        }
    }
    live.close_all();
}
