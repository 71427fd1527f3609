//! TimelineService's logic: delivery into home timelines, and the rebuild of a cold one
//! from the posts store (everyone the user follows below the hybrid threshold, and the
//! user, newest first, capped).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::http::metrics::CounterMetric;
use chirp_core::http::Telemetry;
use chirp_core::page::PageRequest;
use chirp_core::peers::{
    followed_among, reply_reaches_without_a_follow, SocialGraph, TimelineEntry, Timelines,
};
use chirp_core::{ApiResult, Id};

use crate::ports::{PostsSource, TimelineStore};

#[derive(Debug, Clone, Copy)]
pub struct TimelineConfig {
    /// Entries kept per home timeline.
    pub cap: usize,
    /// Authors with more followers than this are merged at read time, never stored.
    pub celebrity_threshold: u64,
    /// How many of a new followee's posts a follow brings in.
    pub backfill: usize,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        TimelineConfig {
            cap: 800,
            celebrity_threshold: 10_000,
            backfill: 200,
        }
    }
}

/// Reads served from a held timeline, reads that found none, and rebuilds.
#[derive(Clone, Default)]
pub struct TimelineMetrics {
    pub hits: CounterMetric,
    pub misses: CounterMetric,
    pub rebuilds: CounterMetric,
}

impl TimelineMetrics {
    pub fn new(telemetry: &Telemetry) -> Self {
        let service = [("service", "timeline")];
        TimelineMetrics {
            hits: telemetry.counter_with(
                "timeline_cache_hits",
                "Home timeline reads served from the timeline store",
                &service,
            ),
            misses: telemetry.counter_with(
                "timeline_cache_misses",
                "Home timeline reads that found no timeline held",
                &service,
            ),
            rebuilds: telemetry.counter_with(
                "timeline_rebuilds",
                "Home timelines rebuilt from the posts store",
                &service,
            ),
        }
    }
}

pub struct TimelineService {
    pub metrics: TimelineMetrics,
    pub config: TimelineConfig,
    pub store: Arc<dyn TimelineStore>,
    pub posts: Arc<dyn PostsSource>,
    pub graph: Arc<dyn SocialGraph>,
}

impl TimelineService {
    /// The author replied to, for each of `entries` that is a reply.
    async fn replied_authors(&self, entries: &[TimelineEntry]) -> ApiResult<HashMap<Id, Id>> {
        let posts: Vec<Id> = entries.iter().map(|e| e.post).collect();
        Ok(self.posts.replied_authors(&posts).await?)
    }

    /// Rebuilds `user`'s timeline from the posts store.
    pub async fn rebuild(&self, user: Id) -> ApiResult<()> {
        self.store.begin_rebuild(user).await?;
        let mut authors = self.graph.all_followees(user).await?;
        let followed: HashSet<Id> = authors.iter().copied().collect();
        authors.push(user);
        let counts = self.graph.counts(&authors).await?;
        let threshold = self.config.celebrity_threshold;
        authors.retain(|a| counts.get(a).is_none_or(|c| c.followers <= threshold));
        let mut entries = self.posts.recent_by(&authors, self.config.cap).await?;
        let replied = self.replied_authors(&entries).await?;
        entries.retain(|e| {
            replied.get(&e.post).is_none_or(|r| {
                reply_reaches_without_a_follow(user, e.author, *r) || followed.contains(r)
            })
        });
        self.store
            .finish_rebuild(user, entries, self.config.cap)
            .await?;
        self.metrics.rebuilds.inc();
        Ok(())
    }
}

#[async_trait]
impl Timelines for TimelineService {
    async fn page(&self, user: Id, page: PageRequest) -> ApiResult<Vec<Id>> {
        if let Some(ids) = self.store.page(user, page).await? {
            self.metrics.hits.inc();
            return Ok(ids);
        }
        self.metrics.misses.inc();
        self.rebuild(user).await?;
        Ok(self.store.page(user, page).await?.unwrap_or_default())
    }

    async fn deliver(&self, users: &[Id], entry: TimelineEntry) -> ApiResult<()> {
        Ok(self.store.insert(users, &[entry], self.config.cap).await?)
    }

    async fn deliver_each(&self, timelines: &[(Id, Vec<TimelineEntry>)]) -> ApiResult<()> {
        Ok(self.store.insert_each(timelines, self.config.cap).await?)
    }

    async fn retract(&self, users: &[Id], post: Id) -> ApiResult<()> {
        Ok(self.store.remove_post(users, post).await?)
    }

    async fn backfill(&self, follower: Id, followee: Id) -> ApiResult<()> {
        let mut entries = self
            .posts
            .recent_by(&[followee], self.config.backfill)
            .await?;
        // The followee's replies reach the follower only as fanout would have taken them.
        let replied = self.replied_authors(&entries).await?;
        let asked: Vec<Id> = replied
            .values()
            .copied()
            .filter(|r| !reply_reaches_without_a_follow(follower, followee, *r))
            .collect();
        let followed = followed_among(self.graph.as_ref(), follower, asked).await?;
        entries.retain(|e| {
            replied.get(&e.post).is_none_or(|r| {
                reply_reaches_without_a_follow(follower, e.author, *r) || followed.contains(r)
            })
        });
        Ok(self
            .store
            .insert(&[follower], &entries, self.config.cap)
            .await?)
    }

    async fn purge(&self, follower: Id, followee: Id) -> ApiResult<()> {
        Ok(self.store.remove_author(follower, followee).await?)
    }
}
