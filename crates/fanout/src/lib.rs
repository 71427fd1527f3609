//! FanoutService: consumes `chirp.posts` and `chirp.graph` and applies them to home
//! timelines. A post goes to its author's and each follower's timeline, unless the author
//! is above the hybrid-fanout threshold (then ReadService merges it in at read time); a
//! follow backfills, an unfollow purges, a delete retracts. Every step is idempotent, so a
//! redelivered batch changes nothing. Within a batch, one key's events (an author's
//! posts, a follow pair's changes: [`Event::key`]) are applied in order, and different
//! keys' at once: each step waits on peers (the graph, the timelines), and a partition of
//! the log keeps only one key's order anyway.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::events::{Event, EventBody, EventHandler, Topic};
use chirp_core::http::metrics::Buckets;
use chirp_core::http::Telemetry;
use chirp_core::id::now_millis;
use chirp_core::page::PageRequest;
use chirp_core::peers::{SocialGraph, TimelineEntry, Timelines};
use chirp_core::traces;
use chirp_core::{ApiResult, Id};
use futures::stream::{self, TryStreamExt};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tracing::Instrument;

/// The consumer group of the timeline fanout.
pub const GROUP: &str = "chirp-fanout";
pub const TOPICS: &[Topic] = &[Topic::Posts, Topic::Graph];

/// Followers read from the graph per batch.
const FOLLOWER_BATCH: usize = 1000;

/// `(follower, followee)` pairs asked of the graph per call.
const PAIRS_PER_CALL: usize = 500;

/// Keys of a batch whose events are applied at once.
const KEYS_AT_ONCE: usize = 16;

/// A batch's events, one sequence per key, each in the batch's order; the sequences in
/// the order of their first event.
fn by_key(events: &[Event]) -> Vec<Vec<&Event>> {
    let mut sequences: Vec<Vec<&Event>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for e in events {
        let i = *index.entry(e.key()).or_insert_with(|| {
            sequences.push(Vec::new());
            sequences.len() - 1
        });
        sequences[i].push(e);
    }
    sequences
}

#[derive(Clone)]
pub struct FanoutMetrics {
    /// Post ids put into a timeline.
    pub deliveries: Counter,
    /// From a post's creation to its delivery to the last follower.
    pub lag: Histogram,
}

impl FanoutMetrics {
    pub fn new(telemetry: &Telemetry) -> Self {
        let service = [("service", "fanout")];
        FanoutMetrics {
            deliveries: telemetry.counter_with(
                "fanout_deliveries",
                "Home timelines a post id was delivered to",
                &service,
            ),
            lag: telemetry.histogram_with(
                "fanout_lag_seconds",
                "Time from a post's creation to its delivery to every follower's timeline",
                Buckets::Lag,
                &service,
            ),
        }
    }
}

pub struct FanoutService {
    pub graph: Arc<dyn SocialGraph>,
    pub timelines: Arc<dyn Timelines>,
    pub celebrity_threshold: u64,
    pub metrics: FanoutMetrics,
}

impl FanoutService {
    async fn is_celebrity(&self, author: Id) -> ApiResult<bool> {
        let counts = self.graph.counts(&[author]).await?;
        Ok(counts
            .get(&author)
            .is_some_and(|c| c.followers > self.celebrity_threshold))
    }

    /// Calls `each` with the author and then every follower, a batch at a time.
    async fn for_audience<F, Fut>(&self, author: Id, mut each: F) -> ApiResult<()>
    where
        F: FnMut(Vec<Id>) -> Fut,
        Fut: std::future::Future<Output = ApiResult<usize>>,
    {
        each(vec![author]).await?;
        let mut req = PageRequest::first(FOLLOWER_BATCH);
        loop {
            let page = self.graph.followers(author, req).await?;
            if !page.users.is_empty() {
                each(page.users).await?;
            }
            match page.keys.last() {
                Some(last) if page.more => req.before = Some(*last),
                _ => return Ok(()),
            }
        }
    }

    /// Those of `users` whose home a reply to `replied` reaches: those who follow
    /// `replied`, and those it reaches whatever the graph says
    /// ([`reply_reaches_without_a_follow`](chirp_core::peers::reply_reaches_without_a_follow)).
    async fn reached_by_reply(
        &self,
        users: Vec<Id>,
        author: Id,
        replied: Id,
    ) -> ApiResult<Vec<Id>> {
        let mut reached = Vec::with_capacity(users.len());
        for chunk in users.chunks(PAIRS_PER_CALL) {
            let asked: Vec<(Id, Id)> = chunk
                .iter()
                .filter(|u| {
                    !chirp_core::peers::reply_reaches_without_a_follow(**u, author, replied)
                })
                .map(|u| (*u, replied))
                .collect();
            let follows = self.graph.follows(&asked).await?;
            let mut follows = follows.into_iter();
            for u in chunk {
                if chirp_core::peers::reply_reaches_without_a_follow(*u, author, replied)
                    || follows.next().unwrap_or(false)
                {
                    reached.push(*u);
                }
            }
        }
        Ok(reached)
    }

    async fn apply(&self, event: &Event) -> ApiResult<()> {
        match &event.body {
            EventBody::PostCreated {
                post_id,
                author_id,
                created_at_ms,
                reply_to_author,
                ..
            } => {
                if self.is_celebrity(*author_id).await? {
                    return Ok(());
                }
                let entry = TimelineEntry {
                    post: *post_id,
                    author: *author_id,
                };
                let (author, replied) = (*author_id, *reply_to_author);
                self.for_audience(*author_id, |users| async move {
                    let users = match replied {
                        Some(r) => self.reached_by_reply(users, author, r).await?,
                        None => users,
                    };
                    if users.is_empty() {
                        return Ok(0);
                    }
                    self.timelines.deliver(&users, entry).await?;
                    self.metrics.deliveries.inc_by(users.len() as u64);
                    Ok(users.len())
                })
                .await?;
                let lag_ms = (now_millis() as i64 - created_at_ms).max(0);
                self.metrics.lag.observe(lag_ms as f64 / 1000.0);
            }
            EventBody::PostDeleted { post_id, author_id } => {
                if self.is_celebrity(*author_id).await? {
                    // Never fanned out (or fanned out long ago): reads drop deleted posts.
                    return self.timelines.retract(&[*author_id], *post_id).await;
                }
                self.for_audience(*author_id, |users| async move {
                    self.timelines.retract(&users, *post_id).await?;
                    Ok(users.len())
                })
                .await?;
            }
            EventBody::FollowCreated { follower, followee } => {
                if !self.is_celebrity(*followee).await? {
                    self.timelines.backfill(*follower, *followee).await?;
                }
            }
            EventBody::FollowDeleted { follower, followee } => {
                self.timelines.purge(*follower, *followee).await?;
            }
            // Likes, profile changes, blocks and mutes fan out to nobody (a block's ends of
            // follows come as follow.deleted; ReadService filters blocked and muted
            // authors out of a home page); a deleted account's follows end with events of
            // their own (UserGraphService's), which purge, and its posts leave the store,
            // which reads drop; a type this build does not know is passed over.
            EventBody::PostEdited { .. }
            | EventBody::UserDeleted { .. }
            | EventBody::UserCreated { .. }
            | EventBody::UserUpdated { .. }
            | EventBody::BlockCreated { .. }
            | EventBody::BlockDeleted { .. }
            | EventBody::MuteCreated { .. }
            | EventBody::MuteDeleted { .. }
            | EventBody::LikeCreated { .. }
            | EventBody::LikeDeleted { .. }
            | EventBody::Unknown => {}
        }
        Ok(())
    }
}

/// Whether every event of a key's sequence is a new post: such sequences are fanned out
/// together (the order of inserts into a timeline does not matter; a key with anything
/// else keeps its events' order by applying them one at a time).
fn only_new_posts(sequence: &[&Event]) -> bool {
    sequence
        .iter()
        .all(|e| matches!(e.body, EventBody::PostCreated { .. }))
}

impl FanoutService {
    /// New posts of many authors fanned out together: the authors' counts in one call,
    /// each author's followers once, and every timeline's new entries in one delivery
    /// (calls of bounded size), instead of a round of calls per post.
    async fn fan_out_posts(&self, posts: &[&Event]) -> ApiResult<()> {
        let mut authors: Vec<Id> = posts.iter().filter_map(|e| author_of(e)).collect();
        authors.sort_unstable();
        authors.dedup();
        let counts = self.graph.counts(&authors).await?;
        let fanned: Vec<Id> = authors
            .into_iter()
            .filter(|a| {
                counts
                    .get(a)
                    .is_none_or(|c| c.followers <= self.celebrity_threshold)
            })
            .collect();
        // Each author and every follower.
        let audiences: HashMap<Id, Vec<Id>> = stream::iter(fanned.into_iter().map(Ok))
            .map_ok(|author| async move {
                let mut users = Vec::new();
                self.for_audience(author, |batch| {
                    let n = batch.len();
                    users.extend(batch);
                    async move { Ok(n) }
                })
                .await?;
                Ok::<_, chirp_core::ApiError>((author, users))
            })
            .try_buffer_unordered(KEYS_AT_ONCE)
            .try_collect()
            .await?;
        // Each timeline's new entries, delivered a bounded number of entries at a time.
        let mut timelines: HashMap<Id, Vec<TimelineEntry>> = HashMap::new();
        let mut pending = 0usize;
        let mut done: Vec<&Event> = Vec::new();
        for e in posts {
            let EventBody::PostCreated {
                post_id,
                author_id,
                reply_to_author,
                ..
            } = &e.body
            else {
                continue;
            };
            let Some(audience) = audiences.get(author_id) else {
                continue; // above the threshold: merged in at read
            };
            let entry = TimelineEntry {
                post: *post_id,
                author: *author_id,
            };
            let reached;
            let users: &[Id] = match reply_to_author {
                Some(r) => {
                    reached = self
                        .reached_by_reply(audience.clone(), *author_id, *r)
                        .await?;
                    &reached
                }
                None => audience,
            };
            pending += users.len();
            for u in users {
                timelines.entry(*u).or_default().push(entry);
            }
            done.push(e);
            if pending >= DELIVERIES_AT_ONCE {
                self.deliver(std::mem::take(&mut timelines), &mut done, pending)
                    .await?;
                pending = 0;
            }
        }
        self.deliver(timelines, &mut done, pending).await
    }

    /// Delivers `timelines`' entries (`count` in all), and counts the deliveries and the
    /// lag of the posts `done` (emptied).
    async fn deliver(
        &self,
        timelines: HashMap<Id, Vec<TimelineEntry>>,
        done: &mut Vec<&Event>,
        count: usize,
    ) -> ApiResult<()> {
        if done.is_empty() {
            return Ok(());
        }
        let timelines: Vec<(Id, Vec<TimelineEntry>)> = timelines.into_iter().collect();
        self.timelines.deliver_each(&timelines).await?;
        self.metrics.deliveries.inc_by(count as u64);
        let now = now_millis() as i64;
        for e in done.drain(..) {
            if let EventBody::PostCreated { created_at_ms, .. } = &e.body {
                let lag_ms = (now - created_at_ms).max(0);
                self.metrics.lag.observe(lag_ms as f64 / 1000.0);
            }
        }
        Ok(())
    }
}

fn author_of(e: &Event) -> Option<Id> {
    match &e.body {
        EventBody::PostCreated { author_id, .. } => Some(*author_id),
        _ => None,
    }
}

/// (user, post) deliveries gathered before they are sent.
const DELIVERIES_AT_ONCE: usize = 50_000;

impl FanoutService {
    /// New posts fanned out together, in one span in the first one's trace.
    async fn posts_together(&self, posts: &[&Event]) -> anyhow::Result<()> {
        let Some(first) = posts.first() else {
            return Ok(());
        };
        self.fan_out_posts(posts)
            .instrument(traces::consume_span(GROUP, first))
            .await
            .map_err(|err| anyhow::anyhow!("fanout of {} new posts failed: {err:#}", posts.len()))
    }

    /// Each key's events in order, several keys at once.
    async fn in_order(&self, sequences: Vec<Vec<&Event>>) -> anyhow::Result<()> {
        stream::iter(sequences.into_iter().map(Ok))
            .try_for_each_concurrent(KEYS_AT_ONCE, |sequence| async move {
                for e in sequence {
                    self.apply(e)
                        .instrument(traces::consume_span(GROUP, e))
                        .await
                        .map_err(|err| {
                            anyhow::anyhow!("fanout of event {} failed: {err:#}", e.id)
                        })?;
                }
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl EventHandler for FanoutService {
    async fn handle(&self, events: &[Event]) -> anyhow::Result<()> {
        // On an error the rest is dropped and the whole batch comes again: every step is
        // idempotent. Keys with new posts only are fanned out together, the others a
        // key at a time, each key's events in order.
        let (posts, others): (Vec<Vec<&Event>>, Vec<Vec<&Event>>) =
            by_key(events).into_iter().partition(|s| only_new_posts(s));
        let posts: Vec<&Event> = posts.into_iter().flatten().collect();
        tokio::try_join!(self.posts_together(&posts), self.in_order(others))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chirp_core::model::FollowCounts;
    use chirp_core::peers::GraphPage;
    use std::sync::Mutex;
    use std::time::Duration;

    fn follow(id: u64, follower: u64, followee: u64, created: bool) -> Event {
        let (follower, followee) = (Id(follower), Id(followee));
        Event {
            id: Id(id),
            version: id,
            occurred_at_ms: 0,
            trace: None,
            body: if created {
                EventBody::FollowCreated { follower, followee }
            } else {
                EventBody::FollowDeleted { follower, followee }
            },
        }
    }

    /// Nobody is a celebrity; each timeline call takes 20 ms and is written down.
    #[derive(Default)]
    struct Slow {
        calls: Mutex<Vec<(&'static str, Id, Id)>>,
        in_flight: Mutex<(usize, usize)>,
    }

    impl Slow {
        async fn call(&self, what: &'static str, follower: Id, followee: Id) {
            {
                let mut f = self.in_flight.lock().unwrap();
                f.0 += 1;
                f.1 = f.1.max(f.0);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.calls.lock().unwrap().push((what, follower, followee));
            self.in_flight.lock().unwrap().0 -= 1;
        }
    }

    #[async_trait]
    impl SocialGraph for Slow {
        async fn followers(&self, _: Id, _: PageRequest) -> ApiResult<GraphPage> {
            Ok(GraphPage {
                users: vec![],
                keys: vec![],
                more: false,
            })
        }
        async fn all_followees(&self, _: Id) -> ApiResult<Vec<Id>> {
            Ok(vec![])
        }
        async fn counts(&self, users: &[Id]) -> ApiResult<HashMap<Id, FollowCounts>> {
            Ok(users
                .iter()
                .map(|u| (*u, FollowCounts::default()))
                .collect())
        }
        async fn followees_above(&self, _: Id, _: u64) -> ApiResult<Vec<Id>> {
            Ok(vec![])
        }
        async fn edges_of(&self, _: Id) -> ApiResult<chirp_core::peers::UserEdges> {
            Ok(Default::default())
        }
        async fn follows(&self, pairs: &[(Id, Id)]) -> ApiResult<Vec<bool>> {
            Ok(vec![false; pairs.len()])
        }
        async fn hidden_from(&self, _: Id) -> ApiResult<chirp_core::peers::Hidden> {
            Ok(Default::default())
        }
        async fn home_context(&self, _: Id, _: u64) -> ApiResult<chirp_core::peers::HomeContext> {
            Ok(Default::default())
        }
    }

    #[async_trait]
    impl Timelines for Slow {
        async fn page(&self, _: Id, _: PageRequest) -> ApiResult<Vec<Id>> {
            Ok(vec![])
        }
        async fn deliver(&self, _: &[Id], _: TimelineEntry) -> ApiResult<()> {
            Ok(())
        }
        async fn deliver_each(&self, _: &[(Id, Vec<TimelineEntry>)]) -> ApiResult<()> {
            Ok(())
        }
        async fn retract(&self, _: &[Id], _: Id) -> ApiResult<()> {
            Ok(())
        }
        async fn backfill(&self, follower: Id, followee: Id) -> ApiResult<()> {
            self.call("backfill", follower, followee).await;
            Ok(())
        }
        async fn purge(&self, follower: Id, followee: Id) -> ApiResult<()> {
            self.call("purge", follower, followee).await;
            Ok(())
        }
    }

    fn post(id: u64, author: u64, reply_to_author: Option<u64>) -> Event {
        Event {
            id: Id(id),
            version: 1,
            occurred_at_ms: 0,
            trace: None,
            body: EventBody::PostCreated {
                post_id: Id(id),
                author_id: Id(author),
                text: String::new(),
                reply_to: reply_to_author.map(|_| Id(1)),
                created_at_ms: 0,
                reply_to_author: reply_to_author.map(Id),
                mentions: vec![],
                repost_of: None,
                repost_of_author: None,
            },
        }
    }

    /// A graph of followers (user 9 above the threshold of 3; user 4 follows 3), and
    /// timelines that write down every call.
    #[derive(Default)]
    struct Recorded {
        calls: Mutex<Vec<String>>,
        delivered: Mutex<Vec<(Id, TimelineEntry)>>,
    }

    impl Recorded {
        fn followers_of(user: Id) -> Vec<Id> {
            match user.get() {
                1 => vec![Id(10), Id(11)],
                2 => vec![Id(11), Id(12), Id(4)],
                3 => vec![Id(4)],
                9 => vec![Id(10), Id(11), Id(12), Id(13)],
                _ => vec![],
            }
        }
    }

    #[async_trait]
    impl SocialGraph for Recorded {
        async fn followers(&self, user: Id, _: PageRequest) -> ApiResult<GraphPage> {
            self.calls.lock().unwrap().push(format!("followers {user}"));
            let users = Self::followers_of(user);
            Ok(GraphPage {
                keys: (1..=users.len() as u64).rev().collect(),
                users,
                more: false,
            })
        }
        async fn all_followees(&self, _: Id) -> ApiResult<Vec<Id>> {
            Ok(vec![])
        }
        async fn counts(&self, users: &[Id]) -> ApiResult<HashMap<Id, FollowCounts>> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("counts {}", users.len()));
            Ok(users
                .iter()
                .map(|u| {
                    let followers = Self::followers_of(*u).len() as u64;
                    (
                        *u,
                        FollowCounts {
                            followers,
                            following: 0,
                        },
                    )
                })
                .collect())
        }
        async fn followees_above(&self, _: Id, _: u64) -> ApiResult<Vec<Id>> {
            Ok(vec![])
        }
        async fn edges_of(&self, _: Id) -> ApiResult<chirp_core::peers::UserEdges> {
            Ok(Default::default())
        }
        async fn follows(&self, pairs: &[(Id, Id)]) -> ApiResult<Vec<bool>> {
            Ok(pairs
                .iter()
                .map(|(a, b)| Self::followers_of(*b).contains(a))
                .collect())
        }
        async fn hidden_from(&self, _: Id) -> ApiResult<chirp_core::peers::Hidden> {
            Ok(Default::default())
        }
        async fn home_context(&self, _: Id, _: u64) -> ApiResult<chirp_core::peers::HomeContext> {
            Ok(Default::default())
        }
    }

    #[async_trait]
    impl Timelines for Recorded {
        async fn page(&self, _: Id, _: PageRequest) -> ApiResult<Vec<Id>> {
            Ok(vec![])
        }
        async fn deliver(&self, users: &[Id], entry: TimelineEntry) -> ApiResult<()> {
            self.calls.lock().unwrap().push("deliver".into());
            let mut d = self.delivered.lock().unwrap();
            d.extend(users.iter().map(|u| (*u, entry)));
            Ok(())
        }
        async fn deliver_each(&self, timelines: &[(Id, Vec<TimelineEntry>)]) -> ApiResult<()> {
            self.calls.lock().unwrap().push("deliver_each".into());
            let mut d = self.delivered.lock().unwrap();
            for (u, es) in timelines {
                d.extend(es.iter().map(|e| (*u, *e)));
            }
            Ok(())
        }
        async fn retract(&self, users: &[Id], post: Id) -> ApiResult<()> {
            let mut d = self.delivered.lock().unwrap();
            let delivered_before = d.iter().any(|(_, e)| e.post == post);
            d.retain(|(u, e)| !(e.post == post && users.contains(u)));
            self.calls.lock().unwrap().push(format!(
                "retract {post} after its delivery: {delivered_before}"
            ));
            Ok(())
        }
        async fn backfill(&self, _: Id, _: Id) -> ApiResult<()> {
            Ok(())
        }
        async fn purge(&self, _: Id, _: Id) -> ApiResult<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn new_posts_of_many_authors_go_out_in_one_delivery() {
        let peers = Arc::new(Recorded::default());
        let fanout = FanoutService {
            graph: peers.clone(),
            timelines: peers.clone(),
            celebrity_threshold: 3,
            metrics: FanoutMetrics::new(&Telemetry::new()),
        };
        // Two posts of 1, one of 2, one of the celebrity 9, a reply of 2 to 3 (which
        // reaches only 2's followers who follow 3: user 4), and a post of 5 deleted in
        // the same batch (its key applied in order, apart).
        let mut deleted = post(106, 5, None);
        let events = [
            post(100, 1, None),
            post(101, 2, None),
            post(102, 1, None),
            post(103, 9, None),
            post(104, 2, Some(3)),
            deleted.clone(),
            {
                deleted.id = Id(107);
                deleted.body = EventBody::PostDeleted {
                    post_id: Id(106),
                    author_id: Id(5),
                };
                deleted
            },
        ];
        fanout.handle(&events).await.unwrap();

        let calls = peers.calls.lock().unwrap().clone();
        let count = |what: &str| calls.iter().filter(|c| c.starts_with(what)).count();
        assert_eq!(count("deliver_each"), 1, "{calls:?}");
        assert_eq!(
            count("counts 3"),
            1,
            "one call for the authors 1, 2, 9: {calls:?}"
        );
        assert_eq!(count("followers 1"), 1, "{calls:?}");
        assert_eq!(count("followers 2"), 1, "{calls:?}");
        assert_eq!(
            count("followers 9"),
            0,
            "a celebrity is not fanned out: {calls:?}"
        );
        assert!(
            calls.contains(&"retract 106 after its delivery: true".to_string()),
            "{calls:?}"
        );

        let mut got: Vec<(u64, u64)> = peers
            .delivered
            .lock()
            .unwrap()
            .iter()
            .map(|(u, e)| (e.post.get(), u.get()))
            .collect();
        got.sort_unstable();
        let want = [
            (100, 1),
            (100, 10),
            (100, 11),
            (101, 2),
            (101, 4),
            (101, 11),
            (101, 12),
            (102, 1),
            (102, 10),
            (102, 11),
            (104, 2),
            (104, 4),
        ];
        assert_eq!(got, want);
        assert_eq!(fanout.metrics.deliveries.get(), 12 + 1);
    }

    #[test]
    fn a_batch_splits_by_key_each_key_in_order() {
        let events = [
            follow(1, 1, 2, true),
            follow(2, 3, 4, true),
            follow(3, 1, 2, false),
            follow(4, 5, 6, true),
            follow(5, 1, 2, true),
        ];
        let ids: Vec<Vec<u64>> = by_key(&events)
            .iter()
            .map(|s| s.iter().map(|e| e.id.get()).collect())
            .collect();
        assert_eq!(ids, [vec![1, 3, 5], vec![2], vec![4]]);
    }

    #[tokio::test]
    async fn different_keys_are_applied_at_once_and_one_keys_events_in_order() {
        let peers = Arc::new(Slow::default());
        let fanout = FanoutService {
            graph: peers.clone(),
            timelines: peers.clone(),
            celebrity_threshold: 1000,
            metrics: FanoutMetrics::new(&Telemetry::new()),
        };
        // Twenty follows of different pairs, and one pair followed, unfollowed, followed.
        let mut events: Vec<Event> = (0..20).map(|i| follow(i, 100 + i, 1, true)).collect();
        events.push(follow(20, 7, 8, true));
        events.push(follow(21, 7, 8, false));
        events.push(follow(22, 7, 8, true));
        fanout.handle(&events).await.unwrap();

        let calls = peers.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 23, "every event applied once");
        let pair: Vec<&str> = calls.iter().filter(|c| c.1 == Id(7)).map(|c| c.0).collect();
        assert_eq!(pair, ["backfill", "purge", "backfill"]);
        let most = peers.in_flight.lock().unwrap().1;
        assert_eq!(most, KEYS_AT_ONCE, "timeline calls in flight at once");
    }
}
