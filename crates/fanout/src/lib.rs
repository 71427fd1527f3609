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

#[async_trait]
impl EventHandler for FanoutService {
    async fn handle(&self, events: &[Event]) -> anyhow::Result<()> {
        // On an error the rest is dropped and the whole batch comes again: every step is
        // idempotent.
        stream::iter(by_key(events).into_iter().map(Ok))
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
    }

    #[async_trait]
    impl Timelines for Slow {
        async fn page(&self, _: Id, _: PageRequest) -> ApiResult<Vec<Id>> {
            Ok(vec![])
        }
        async fn deliver(&self, _: &[Id], _: TimelineEntry) -> ApiResult<()> {
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
