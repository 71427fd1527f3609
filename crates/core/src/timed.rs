//! The one way a process times what it asks of a dependency: a port wrapped in
//! [`Timed`], whose every call runs in a client span of its own and is counted into
//! `chirp_dependency_duration_seconds` and, when it fails, `chirp_dependency_errors_total`,
//! by dependency and operation. Each crate implements its own ports for `Timed<dyn Port>`;
//! the ports of this crate (outboxes, the event log, peer services, limits) are timed here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tracing::Instrument;

use crate::error::ApiError;
use crate::events::{Event, EventConsumer, EventLog, Topic};
use crate::http::metrics::{Buckets, Telemetry};
use crate::id::Id;
use crate::limits::{Attempt, Limit, Limiter};
use crate::model::{FollowCounts, Post, User, UserData};
use crate::outbox::{OutboxSource, PendingEvent};
use crate::page::PageRequest;
use crate::peers::{
    Directory, GraphPage, Hidden, HomeContext, SocialGraph, TimelineEntry, Timelines, UserEdges,
};
use crate::store::StoreResult;

/// Latency and errors of the calls the process that runs `service` makes.
#[derive(Clone)]
pub struct DependencyMetrics {
    telemetry: Telemetry,
    service: &'static str,
}

impl DependencyMetrics {
    /// The calls of the process that runs `service` (`all` for the whole system).
    pub fn new(telemetry: &Telemetry, service: &'static str) -> Self {
        DependencyMetrics {
            telemetry: telemetry.clone(),
            service,
        }
    }

    /// Runs `call` in a client span of its own, timing it and counting its failure.
    pub async fn time<T, E>(
        &self,
        dependency: &'static str,
        operation: &str,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let span = tracing::info_span!(
            "dependency",
            otel.name = format!("{dependency} {operation}"),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            peer.service = dependency,
            chirp.operation = operation,
        );
        let outcome = call.instrument(span.clone()).await;
        if outcome.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        let labels = [
            ("service", self.service),
            ("dependency", dependency),
            ("operation", operation),
        ];
        self.telemetry
            .histogram_with(
                "dependency_duration_seconds",
                "Time of calls to a dependency, by dependency and operation",
                Buckets::Latency,
                &labels,
            )
            .observe(started.elapsed().as_secs_f64());
        if outcome.is_err() {
            self.telemetry
                .counter_with(
                    "dependency_errors",
                    "Calls to a dependency that failed, by dependency and operation",
                    &labels,
                )
                .inc();
        }
        outcome
    }
}

/// A port on `dependency` (`postgres`, `redis`, the `read` service, ...), every call of
/// which is timed into `metrics`.
pub struct Timed<T: ?Sized> {
    inner: Arc<T>,
    dependency: &'static str,
    metrics: DependencyMetrics,
}

impl<T: ?Sized> Timed<T> {
    pub fn new(inner: Arc<T>, dependency: &'static str, metrics: &DependencyMetrics) -> Self {
        Timed {
            inner,
            dependency,
            metrics: metrics.clone(),
        }
    }

    /// The port itself.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// Times `call` as `operation`.
    pub async fn time<R, E>(
        &self,
        operation: &str,
        call: impl std::future::Future<Output = Result<R, E>>,
    ) -> Result<R, E> {
        self.metrics.time(self.dependency, operation, call).await
    }
}

#[async_trait]
impl OutboxSource for Timed<dyn OutboxSource> {
    async fn pending(&self, max: usize) -> anyhow::Result<Vec<PendingEvent>> {
        self.time("outbox_pending", self.inner.pending(max)).await
    }
    async fn remove(&self, seqs: &[i64]) -> anyhow::Result<()> {
        self.time("outbox_remove", self.inner.remove(seqs)).await
    }
    async fn backlog(&self) -> anyhow::Result<u64> {
        self.time("outbox_backlog", self.inner.backlog()).await
    }
}

/// Publishing is timed; a consumer's reads wait for events by design, so they are not.
#[async_trait]
impl EventLog for Timed<dyn EventLog> {
    async fn append(&self, events: &[Event]) -> anyhow::Result<()> {
        self.time("publish", self.inner.append(events)).await
    }
    async fn consumer(
        &self,
        group: &str,
        topics: &[Topic],
    ) -> anyhow::Result<Box<dyn EventConsumer>> {
        self.inner.consumer(group, topics).await
    }
    async fn tail(&self, topics: &[Topic]) -> anyhow::Result<Box<dyn EventConsumer>> {
        self.inner.tail(topics).await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}

#[async_trait]
impl Directory for Timed<dyn Directory> {
    async fn users(&self, ids: &[Id]) -> Result<Vec<User>, ApiError> {
        self.time("users", self.inner.users(ids)).await
    }
    async fn posts(&self, ids: &[Id]) -> Result<Vec<Post>, ApiError> {
        self.time("posts", self.inner.posts(ids)).await
    }
    async fn posts_seen_by(&self, ids: &[Id], viewer: Id) -> Result<Vec<Post>, ApiError> {
        self.time("posts_seen_by", self.inner.posts_seen_by(ids, viewer))
            .await
    }
    async fn user_exists(&self, id: Id) -> Result<bool, ApiError> {
        self.time("user_exists", self.inner.user_exists(id)).await
    }
    async fn home(&self, user: Id, limit: usize) -> Result<Vec<Post>, ApiError> {
        self.time("home", self.inner.home(user, limit)).await
    }
    async fn user_data(&self, user: Id) -> Result<UserData, ApiError> {
        self.time("user_data", self.inner.user_data(user)).await
    }
}

#[async_trait]
impl SocialGraph for Timed<dyn SocialGraph> {
    async fn followers(&self, user: Id, page: PageRequest) -> Result<GraphPage, ApiError> {
        self.time("followers", self.inner.followers(user, page))
            .await
    }
    async fn all_followees(&self, user: Id) -> Result<Vec<Id>, ApiError> {
        self.time("all_followees", self.inner.all_followees(user))
            .await
    }
    async fn counts(&self, users: &[Id]) -> Result<HashMap<Id, FollowCounts>, ApiError> {
        self.time("counts", self.inner.counts(users)).await
    }
    async fn followees_above(&self, user: Id, threshold: u64) -> Result<Vec<Id>, ApiError> {
        self.time(
            "followees_above",
            self.inner.followees_above(user, threshold),
        )
        .await
    }
    async fn follows(&self, pairs: &[(Id, Id)]) -> Result<Vec<bool>, ApiError> {
        self.time("follows", self.inner.follows(pairs)).await
    }
    async fn edges_of(&self, user: Id) -> Result<UserEdges, ApiError> {
        self.time("edges_of", self.inner.edges_of(user)).await
    }
    async fn hidden_from(&self, user: Id) -> Result<Hidden, ApiError> {
        self.time("hidden_from", self.inner.hidden_from(user)).await
    }
    async fn home_context(&self, user: Id, threshold: u64) -> Result<HomeContext, ApiError> {
        self.time("home_context", self.inner.home_context(user, threshold))
            .await
    }
}

#[async_trait]
impl Timelines for Timed<dyn Timelines> {
    async fn page(&self, user: Id, page: PageRequest) -> Result<Vec<Id>, ApiError> {
        self.time("page", self.inner.page(user, page)).await
    }
    async fn deliver(&self, users: &[Id], entry: TimelineEntry) -> Result<(), ApiError> {
        self.time("deliver", self.inner.deliver(users, entry)).await
    }
    async fn deliver_each(&self, timelines: &[(Id, Vec<TimelineEntry>)]) -> Result<(), ApiError> {
        self.time("deliver_each", self.inner.deliver_each(timelines))
            .await
    }
    async fn retract(&self, users: &[Id], post: Id) -> Result<(), ApiError> {
        self.time("retract", self.inner.retract(users, post)).await
    }
    async fn backfill(&self, follower: Id, followee: Id) -> Result<(), ApiError> {
        self.time("backfill", self.inner.backfill(follower, followee))
            .await
    }
    async fn purge(&self, follower: Id, followee: Id) -> Result<(), ApiError> {
        self.time("purge", self.inner.purge(follower, followee))
            .await
    }
}

#[async_trait]
impl Limiter for Timed<dyn Limiter> {
    async fn attempt(&self, key: &str, now_ms: i64, limit: Limit) -> StoreResult<Attempt> {
        self.time("limit_attempt", self.inner.attempt(key, now_ms, limit))
            .await
    }
    async fn forgive(&self, key: &str, id: &str) -> StoreResult<()> {
        self.time("limit_forgive", self.inner.forgive(key, id))
            .await
    }
    async fn clear(&self, key: &str) -> StoreResult<()> {
        self.time("limit_clear", self.inner.clear(key)).await
    }
}
