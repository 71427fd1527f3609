//! The event log on Kafka (any broker that speaks its protocol): the deployed adapter.
//!
//! Topics `chirp.posts`, `chirp.graph` and `chirp.users` (under an optional prefix) are
//! made at start if missing; consumer group ids carry the same prefix, so that
//! deployments sharing brokers under different prefixes never share a group (and its
//! rebalances). Events are keyed by [`Event::key`], so one entity's events
//! share a partition and keep their order; the producer is idempotent and waits for every
//! in-sync replica. Consumers belong to groups, so several processes split the partitions;
//! each commits offsets only for what it has handled, so a crash redelivers, never skips.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::OnceCell;

use crate::deployed::kafka_producer::Producer;
use crate::events::{Event, EventConsumer, EventLog, Topic};
use crate::traces;

const TIMEOUT: Duration = Duration::from_secs(5);

/// How often librdkafka reports what a consumer knows of its partitions (its
/// statistics), which is what [`EventConsumer::lag`] reads: a lag is at most this old,
/// plus the time since the report was served (while the consumer reads).
const STATISTICS_EVERY: &str = "1000";

fn make_producer(brokers: &str) -> anyhow::Result<Producer> {
    Producer::new(
        ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "10000")
            .set("socket.timeout.ms", "5000")
            .set("linger.ms", "2"),
    )
    .context("creating the Kafka producer")
}

/// Errors after which an idempotent producer cannot go on.
fn is_fatal_for_producer(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::Fatal
        )
    )
}

#[derive(Clone)]
pub struct KafkaEventLog {
    brokers: String,
    prefix: String,
    partitions: i32,
    /// The producer, and how many times it has been made afresh.
    producer: Arc<std::sync::RwLock<(u64, Producer)>>,
    /// The topics are made once, on first use, so that a broker that is down at start
    /// costs 503s rather than the process.
    topics: Arc<OnceCell<()>>,
}

impl KafkaEventLog {
    /// `brokers`: `host:port[,host:port...]`; `prefix`: of every topic name and consumer
    /// group id.
    pub fn new(brokers: &str, prefix: &str, partitions: i32) -> anyhow::Result<Self> {
        Ok(KafkaEventLog {
            brokers: brokers.to_owned(),
            prefix: prefix.to_owned(),
            partitions,
            producer: Arc::new(std::sync::RwLock::new((0, make_producer(brokers)?))),
            topics: Arc::new(OnceCell::new()),
        })
    }

    /// A member of consumer group `group` reading `topics`.
    pub(crate) async fn member(
        &self,
        group: &str,
        topics: &[Topic],
    ) -> anyhow::Result<KafkaConsumer> {
        self.ensure_topics().await?;
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", self.group_id(group))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            // How long a member that stopped heartbeating (a process killed) still holds
            // its partitions, which nobody reads meanwhile: 6 s, the shortest session a
            // Kafka broker accepts by default (group.min.session.timeout.ms).
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            // Also the rebalance timeout: how long a rebalance waits for members that
            // vanished without leaving before going on without them.
            .set("max.poll.interval.ms", "8000")
            // Fanout lag is what users feel: do not let the broker hold fetches long.
            .set("fetch.wait.max.ms", "50")
            .set("statistics.interval.ms", STATISTICS_EVERY);
        let topics: Vec<String> = topics.iter().map(|t| self.topic_name(*t)).collect();
        let consumer = subscribe(&config, &topics)?;
        Ok(KafkaConsumer::new(consumer, config, topics, false))
    }

    /// The id of the thread serving the current producer's delivery reports.
    #[cfg(test)]
    pub(crate) fn producer_thread(&self) -> Option<u64> {
        self.producer().1.report_thread()
    }

    /// The current producer and its generation.
    fn producer(&self) -> (u64, Producer) {
        match self.producer.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// An idempotent producer that the broker fenced (a broker restarted without the
    /// producer's state, say) is done for: librdkafka calls that fatal. Make a new one,
    /// once per generation however many sends saw the error; the relay's retry then
    /// goes through it. A redelivered event is harmless: every consumer is idempotent.
    fn renew_producer(&self, generation: u64) {
        let Ok(mut current) = self.producer.write() else {
            return;
        };
        if current.0 != generation {
            return;
        }
        match make_producer(&self.brokers) {
            Ok(p) => {
                tracing::warn!("the Kafka producer hit a fatal error: made a new one");
                *current = (generation + 1, p);
            }
            Err(e) => tracing::error!(error = %e, "making a new Kafka producer failed"),
        }
    }

    pub fn topic_name(&self, t: Topic) -> String {
        format!("{}{}", self.prefix, t.name())
    }

    /// The Kafka group id of the consumer group Chirp calls `group`.
    pub fn group_id(&self, group: &str) -> String {
        format!("{}{group}", self.prefix)
    }

    async fn ensure_topics(&self) -> anyhow::Result<()> {
        self.topics
            .get_or_try_init(|| async {
                let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", &self.brokers)
                    .create()
                    .context("creating the Kafka admin client")?;
                let names: Vec<String> = Topic::ALL.iter().map(|t| self.topic_name(*t)).collect();
                let wanted: Vec<NewTopic<'_>> = names
                    .iter()
                    .map(|n| NewTopic::new(n, self.partitions, TopicReplication::Fixed(1)))
                    .collect();
                let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
                for outcome in admin.create_topics(&wanted, &options).await? {
                    match outcome {
                        Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((topic, code)) => anyhow::bail!("creating topic {topic}: {code}"),
                    }
                }
                anyhow::Ok(())
            })
            .await?;
        Ok(())
    }
}

impl KafkaEventLog {
    async fn publish(&self, events: &[Event]) -> anyhow::Result<()> {
        self.ensure_topics().await?;

        let (generation, producer) = self.producer();
        let topics = events
            .iter()
            .map(|e| e.topic_to_append().map(|t| self.topic_name(t)))
            .collect::<anyhow::Result<Vec<String>>>()?;
        let sends = events.iter().zip(topics).map(|(e, topic)| {
            let key = e.key();
            // The trace context travels in a header, as Kafka tools expect, not in the body.
            let trace = e.trace.clone();
            let payload = Event {
                trace: None,
                ..e.clone()
            }
            .to_json();
            let id = e.id.to_string();
            let producer = &producer;
            async move {
                let payload = payload?;
                let mut headers = OwnedHeaders::new().insert(Header {
                    key: "event-id",
                    value: Some(&id),
                });
                if let Some(tp) = &trace {
                    headers = headers.insert(Header {
                        key: traces::TRACEPARENT,
                        value: Some(tp),
                    });
                }
                producer
                    .send(&topic, &key, payload.as_bytes(), headers, TIMEOUT)
                    .await
                    .map_err(|e| {
                        if is_fatal_for_producer(&e) || producer.client().fatal_error().is_some() {
                            self.renew_producer(generation);
                        }
                        anyhow::anyhow!("publishing to {topic}: {e}")
                    })
            }
        });
        // All in flight at once; the idempotent producer keeps each partition's order.
        for r in futures::future::join_all(sends).await {
            r?;
        }
        Ok(())
    }
}

#[async_trait]
impl EventLog for KafkaEventLog {
    async fn append(&self, events: &[Event]) -> anyhow::Result<()> {
        self.publish(events).await
    }

    async fn consumer(
        &self,
        group: &str,
        topics: &[Topic],
    ) -> anyhow::Result<Box<dyn EventConsumer>> {
        Ok(Box::new(self.member(group, topics).await?))
    }

    /// Every partition of `topics` from its end, assigned by hand: no group to join (so
    /// no rebalance to wait for), no offset ever committed.
    async fn tail(&self, topics: &[Topic]) -> anyhow::Result<Box<dyn EventConsumer>> {
        self.ensure_topics().await?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            // Never used to commit: librdkafka wants one all the same.
            .set(
                "group.id",
                self.group_id(&format!("tail-{}-{nanos}", std::process::id())),
            )
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "latest")
            .set("fetch.wait.max.ms", "50");
        let consumer: GroupConsumer = config
            .create_with_context(Partitions::default())
            .context("creating a Kafka consumer")?;
        let names: Vec<String> = topics.iter().map(|t| self.topic_name(*t)).collect();
        let mut tpl = TopicPartitionList::new();
        for name in &names {
            for p in 0..self.partitions {
                tpl.add_partition_offset(name, p, Offset::End)?;
            }
        }
        consumer.assign(&tpl)?;
        Ok(Box::new(KafkaConsumer::new(consumer, config, names, true)))
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let (_, producer) = self.producer();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(2))
        })
        .await?
        .context("asking the Kafka brokers for metadata")?;
        self.ensure_topics().await
    }
}

type GroupConsumer = StreamConsumer<Partitions>;

fn subscribe(config: &ClientConfig, topics: &[String]) -> anyhow::Result<GroupConsumer> {
    let consumer: GroupConsumer = config
        .create_with_context(Partitions::default())
        .context("creating a Kafka consumer")?;
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&refs)?;
    Ok(consumer)
}

/// How long a member may hold no partition before it joins its group afresh. A group
/// that formed while a member that was killed still counted (its session not yet over)
/// can be left with that member as leader: the others then hold nothing, for good, on a
/// broker that does not rebalance again when the leader's session ends (tansu 0.6). A
/// member that joins anew once the dead one is gone gets its share: so this is longer than
/// the session (6 s), and bounds how long a restarted process waits for its partitions.
pub const REJOIN_AFTER: Duration = Duration::from_secs(8);

/// What a consumer's librdkafka last reported of each partition it knows (its
/// statistics, every [`STATISTICS_EVERY`] ms): the watermarks from its fetches' answers,
/// the group's committed offset from its own commits and from what it fetched on
/// assignment. So a lag needs no request to the broker: asked of the broker every few
/// seconds per partition and per group, the watermarks cost tansu a listing of the
/// partition's objects in its S3 store each, and those listings were half of the store's
/// requests on an idle stack.
#[derive(Default)]
struct Partitions {
    known: std::sync::Mutex<HashMap<(String, i32), Known>>,
    /// How many times a rebalance has taken this member's partitions (all of them, on
    /// the eager protocol librdkafka uses by default): what was read before then is read
    /// again from the group's commit, by whichever member holds each partition now.
    revocations: std::sync::atomic::AtomicU64,
    /// How many reports were served.
    #[cfg(test)]
    reports: std::sync::atomic::AtomicU64,
}

/// Offsets librdkafka reports; negative when it does not know them.
#[derive(Clone, Copy, Debug, serde::Deserialize)]
struct Known {
    lo_offset: i64,
    hi_offset: i64,
    committed_offset: i64,
}

impl Known {
    /// How many events the group has not committed, when what is known tells.
    fn behind(&self) -> Option<i64> {
        if self.hi_offset < 0 {
            return None;
        }
        let from = if self.committed_offset >= 0 {
            self.committed_offset
        } else if self.lo_offset >= 0 {
            // Nothing committed yet: the group starts from the earliest event.
            self.lo_offset
        } else if self.hi_offset == 0 {
            0
        } else {
            return None;
        };
        // A position past the end: the committed offset fetched on a reassignment is newer
        // than the watermark of a fetch from before it. Not known until the next fetch.
        (from <= self.hi_offset).then_some(self.hi_offset - from)
    }
}

/// The part of librdkafka's statistics that [`Partitions`] keeps.
#[derive(serde::Deserialize)]
struct Statistics {
    #[serde(default)]
    topics: HashMap<String, TopicStatistics>,
}

#[derive(serde::Deserialize)]
struct TopicStatistics {
    #[serde(default)]
    partitions: HashMap<String, PartitionStatistics>,
}

#[derive(serde::Deserialize)]
struct PartitionStatistics {
    partition: i32,
    #[serde(flatten)]
    known: Known,
}

impl Partitions {
    /// The partitions known, whether or not a thread panicked holding them (each entry
    /// is written whole).
    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), Known>> {
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps what a report tells, in place of what the one before told: a partition it
    /// leaves out is no longer known.
    fn record(&self, statistics: Statistics) {
        let mut now = HashMap::new();
        for (topic, t) in statistics.topics {
            // Partition -1 is librdkafka's own, for messages not yet given one.
            for p in t.partitions.into_values().filter(|p| p.partition >= 0) {
                now.insert((topic.clone(), p.partition), p.known);
            }
        }
        *self.known() = now;
    }

    fn get(&self, topic: &str, partition: i32) -> Option<Known> {
        self.known().get(&(topic.to_owned(), partition)).copied()
    }
}

impl ClientContext for Partitions {
    fn stats_raw(&self, statistics: &[u8]) {
        #[cfg(test)]
        self.reports
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match serde_json::from_slice::<Statistics>(statistics) {
            Ok(s) => self.record(s),
            Err(e) => tracing::debug!(error = %e, "unreadable librdkafka statistics"),
        }
    }
}

impl ConsumerContext for Partitions {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            self.revocations
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
    }
}

impl Partitions {
    fn revocations(&self) -> u64 {
        self.revocations.load(std::sync::atomic::Ordering::Acquire)
    }
}

pub(crate) struct KafkaConsumer {
    consumer: Arc<GroupConsumer>,
    config: ClientConfig,
    topics: Vec<String>,
    /// The next offset of each partition read from, once handled.
    done: HashMap<(String, i32), i64>,
    /// Messages that arrived while idle ([`EventConsumer::idle`]), of partitions
    /// assigned since it paused the others: given first by the next batch, in order.
    pub(crate) set_aside: Vec<Read>,
    /// The partitions paused while idle, resumed by the next batch.
    paused: TopicPartitionList,
    /// The revocations counted when the last batch was given ([`Partitions`]).
    batch_revocations: u64,
    /// Since when this member has held no partition.
    unassigned_since: Option<Instant>,
    /// A reader from the end in no group ([`EventLog::tail`]): assigned by hand, it
    /// neither rejoins nor commits.
    tail: bool,
}

impl KafkaConsumer {
    /// A member that has read nothing yet: of a group (`tail` false), still to be given
    /// partitions; else assigned by hand.
    fn new(consumer: GroupConsumer, config: ClientConfig, topics: Vec<String>, tail: bool) -> Self {
        KafkaConsumer {
            consumer: Arc::new(consumer),
            config,
            topics,
            done: HashMap::new(),
            set_aside: Vec::new(),
            paused: TopicPartitionList::new(),
            batch_revocations: 0,
            unassigned_since: (!tail).then(Instant::now),
            tail,
        }
    }

    /// How many of its client's reports this member has served.
    #[cfg(test)]
    pub(crate) fn reports_served(&self) -> u64 {
        self.consumer
            .context()
            .reports
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Pauses `partitions` (again, for any paused already: a partition given back by a
    /// rebalance may not be).
    fn pause(&mut self, partitions: &TopicPartitionList) {
        if partitions.count() == 0 {
            return;
        }
        if let Err(e) = self.consumer.pause(partitions) {
            tracing::warn!(error = %e, "pausing a Kafka consumer's partitions");
            return;
        }
        for p in partitions.elements() {
            if self
                .paused
                .find_partition(p.topic(), p.partition())
                .is_none()
            {
                self.paused.add_partition(p.topic(), p.partition());
            }
        }
    }

    /// Resumes what [`Self::pause`] paused: each from after the last message it gave
    /// (a partition revoked and assigned again meanwhile, from the group's commit).
    fn resume(&mut self) {
        if self.paused.count() == 0 {
            return;
        }
        let paused = std::mem::replace(&mut self.paused, TopicPartitionList::new());
        // A partition since given to another member is no longer this one's to resume.
        if let Err(e) = self.consumer.resume(&paused) {
            tracing::debug!(error = %e, "resuming a Kafka consumer's partitions");
        }
    }

    /// Joins the group afresh when this member has held nothing for too long.
    fn watch_assignment(&mut self) -> anyhow::Result<()> {
        if self.tail || self.joined() {
            self.unassigned_since = None;
            return Ok(());
        }
        let since = *self.unassigned_since.get_or_insert_with(Instant::now);
        if since.elapsed() > REJOIN_AFTER {
            tracing::warn!(
                topics = ?self.topics,
                "no partition assigned for {REJOIN_AFTER:?}: joining the consumer group afresh"
            );
            // Nothing is held, so there is nothing to commit; dropping the old consumer
            // leaves the group. The group's next member reads from its commit.
            let consumer = subscribe(&self.config, &self.topics)?;
            let (config, topics) = (self.config.clone(), std::mem::take(&mut self.topics));
            *self = KafkaConsumer::new(consumer, config, topics, false);
        }
        Ok(())
    }
}

#[async_trait]
impl EventConsumer for KafkaConsumer {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> anyhow::Result<Vec<Event>> {
        self.watch_assignment()?;
        self.resume();
        let consumer = &*self.consumer;
        let recv = |deadline| async move {
            match tokio::time::timeout(deadline, consumer.recv()).await {
                Err(_) => None,
                Ok(m) => Some(
                    m.map(|m| Read::of(&m, consumer.context().revocations()))
                        .map_err(anyhow::Error::from),
                ),
            }
        };
        let waiting = std::mem::take(&mut self.set_aside);
        let (mut reads, left, failed) = gather(waiting, max, wait, recv).await;
        self.set_aside = left;
        // What was read before a rebalance took this member's partitions is read again
        // from the group's commit, by whichever member holds each partition now.
        let revocations = self.consumer.context().revocations();
        reads.retain(|r| r.revocations == revocations);
        self.set_aside.retain(|r| r.revocations == revocations);
        match failed {
            Some(e) if reads.is_empty() => return Err(e),
            Some(e) => tracing::warn!(
                error = format!("{e:#}"),
                "reading the event log failed; the batch ends with what was read before"
            ),
            None => {}
        }
        self.batch_revocations = revocations;
        let mut events = Vec::with_capacity(reads.len());
        for read in reads {
            self.done.insert(read.partition, read.next);
            events.extend(read.event);
        }
        Ok(events)
    }

    /// Pauses what this member is assigned and serves its client (librdkafka drops what
    /// it had fetched of a partition it pauses, and fetches it again on resuming): a
    /// message that comes all the same (of a partition assigned since) is set aside for
    /// the next batch, and its partition paused.
    async fn idle(&mut self) -> std::convert::Infallible {
        if let Ok(assigned) = self.consumer.assignment() {
            self.pause(&assigned);
        }
        loop {
            match self.consumer.recv().await {
                Ok(msg) => {
                    let read = Read::of(&msg, self.consumer.context().revocations());
                    drop(msg);
                    let mut one = TopicPartitionList::new();
                    one.add_partition(&read.partition.0, read.partition.1);
                    self.pause(&one);
                    self.set_aside.push(read);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "serving an idle Kafka consumer");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn joined(&self) -> bool {
        self.consumer.assignment().is_ok_and(|a| a.count() > 0)
    }

    fn batch_taken_away(&mut self) -> bool {
        if self.consumer.context().revocations() == self.batch_revocations {
            return false;
        }
        self.done.clear();
        true
    }

    /// The high watermark less the group's committed offset, per assigned partition: as
    /// librdkafka last reported them ([`Partitions`]); asked of the broker only for a
    /// partition it has not reported yet (just assigned, not yet fetched from).
    async fn lag(&mut self) -> anyhow::Result<Vec<(String, i32, i64)>> {
        let assigned = self.consumer.assignment()?;
        let mut out = Vec::with_capacity(assigned.count());
        let mut ask = TopicPartitionList::new();
        for p in assigned.elements() {
            let known = self.consumer.context().get(p.topic(), p.partition());
            match known.and_then(|k| k.behind()) {
                Some(behind) => out.push((p.topic().to_owned(), p.partition(), behind)),
                None => {
                    ask.add_partition(p.topic(), p.partition());
                }
            }
        }
        if ask.count() == 0 {
            return Ok(out);
        }
        let consumer = self.consumer.clone();
        let asked = tokio::task::spawn_blocking(move || {
            let committed = consumer.committed_offsets(ask, Duration::from_secs(1))?;
            let mut out = Vec::new();
            for p in committed.elements() {
                let (low, high) =
                    consumer.fetch_watermarks(p.topic(), p.partition(), Duration::from_secs(1))?;
                let at = match p.offset() {
                    Offset::Offset(o) => o,
                    _ => low,
                };
                out.push((p.topic().to_owned(), p.partition(), (high - at).max(0)));
            }
            anyhow::Ok(out)
        })
        .await??;
        out.extend(asked);
        Ok(out)
    }

    async fn commit(&mut self) -> anyhow::Result<()> {
        if self.tail || self.done.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), next) in &self.done {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        let consumer = self.consumer.clone();
        let committed =
            tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync)).await?;
        self.done.clear();
        if let Err(e) = committed {
            // After a rebalance the partitions may be another member's now: it will read
            // from the last commit, so the worst case is a redelivery, which is harmless.
            tracing::warn!(error = %e, "committing offsets failed; the events will be delivered again");
        }
        Ok(())
    }
}

/// A message read: where the partition's next read starts, and its event unless it was
/// not one (logged, and skipped).
pub(crate) struct Read {
    partition: (String, i32),
    next: i64,
    event: Option<Event>,
    /// The member's revocations ([`Partitions`]) when it was read.
    revocations: u64,
}

/// Up to `max` reads: `waiting` first, then what `recv` gives (`None` once its wait is
/// over: `wait` for the first read, 5 ms for each after it). An error from `recv` ends
/// the batch. Returns the reads, what is left of `waiting`, and the error.
async fn gather<F>(
    waiting: Vec<Read>,
    max: usize,
    wait: Duration,
    mut recv: impl FnMut(Duration) -> F,
) -> (Vec<Read>, Vec<Read>, Option<anyhow::Error>)
where
    F: std::future::Future<Output = Option<anyhow::Result<Read>>>,
{
    let mut reads = Vec::new();
    let mut waiting = waiting.into_iter();
    let mut deadline = wait;
    let mut failed = None;
    while reads.len() < max {
        let read = match waiting.next() {
            Some(read) => read,
            None => match recv(deadline).await {
                None => break,
                Some(Ok(read)) => read,
                Some(Err(e)) => {
                    failed = Some(e);
                    break;
                }
            },
        };
        // After the first message, take only what has already arrived.
        deadline = Duration::from_millis(5);
        reads.push(read);
    }
    (reads, waiting.collect(), failed)
}

impl Read {
    fn of(msg: &impl Message, revocations: u64) -> Read {
        let event = msg.payload().and_then(|payload| {
            match std::str::from_utf8(payload)
                .map_err(anyhow::Error::from)
                .and_then(|s| Ok(Event::from_json(s)?))
            {
                Ok(mut e) => {
                    if let Some(tp) = header(msg, traces::TRACEPARENT) {
                        e.trace = Some(tp);
                    }
                    Some(e)
                }
                Err(err) => {
                    tracing::error!(topic = msg.topic(), offset = msg.offset(), error = %err, "unreadable event skipped");
                    None
                }
            }
        });
        Read {
            partition: (msg.topic().to_owned(), msg.partition()),
            next: msg.offset() + 1,
            event,
            revocations,
        }
    }
}

/// A header of a message, as text.
fn header(msg: &impl Message, name: &str) -> Option<String> {
    msg.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of a consumer's librdkafka (2.12, against tansu 0.6), captured in the
    /// event-log suite (its fields as they came, indented for reading): a group member of
    /// one topic of three partitions, having committed 6 of partition 0's 8 events;
    /// partitions 1 and 2 empty, nothing committed there.
    const REPORT: &str = include_str!("kafka-statistics.json");
    const TOPIC: &str = "test_8654_598719396_0.chirp.graph";

    fn offsets(k: Known) -> (i64, i64, i64) {
        (k.lo_offset, k.hi_offset, k.committed_offset)
    }

    #[test]
    fn a_report_tells_each_partitions_offsets_and_lag() {
        let p = Partitions::default();
        p.stats_raw(REPORT.as_bytes());
        let first = p.get(TOPIC, 0).expect("partition 0");
        assert_eq!(offsets(first), (0, 8, 6));
        assert_eq!(first.behind(), Some(2));
        let empty = p.get(TOPIC, 1).expect("partition 1");
        assert_eq!(offsets(empty), (0, 0, -1001));
        assert_eq!(empty.behind(), Some(0));
        assert!(p.get(TOPIC, 2).is_some());
        // librdkafka's own partition for messages not yet given one is no partition.
        assert!(p.get(TOPIC, -1).is_none());
        assert_eq!(p.known().len(), 3);
    }

    #[test]
    fn a_report_replaces_the_one_before() {
        let p = Partitions::default();
        p.stats_raw(REPORT.as_bytes());
        let mut next: serde_json::Value = serde_json::from_str(REPORT).unwrap();
        let partitions = next["topics"][TOPIC]["partitions"].as_object_mut().unwrap();
        // Partition 0 given to another member; partition 1 read on.
        partitions.remove("0").unwrap();
        partitions["1"]["hi_offset"] = 3.into();
        p.stats_raw(next.to_string().as_bytes());
        assert!(
            p.get(TOPIC, 0).is_none(),
            "no longer reported, no longer known"
        );
        assert_eq!(p.get(TOPIC, 1).and_then(|k| k.behind()), Some(3));
    }

    #[test]
    fn an_unreadable_report_changes_nothing() {
        let p = Partitions::default();
        p.stats_raw(REPORT.as_bytes());
        p.stats_raw(b"{\"topics\": 7}");
        assert_eq!(p.get(TOPIC, 0).map(offsets), Some((0, 8, 6)));
    }

    #[test]
    fn what_is_behind_is_known_only_from_a_known_end_and_start() {
        let known = |lo_offset, hi_offset, committed_offset| Known {
            lo_offset,
            hi_offset,
            committed_offset,
        };
        assert_eq!(known(0, 8, 6).behind(), Some(2));
        // Nothing committed: from the earliest event kept.
        assert_eq!(known(3, 8, -1001).behind(), Some(5));
        // An empty partition, its start not yet known.
        assert_eq!(known(-1, 0, -1001).behind(), Some(0));
        assert_eq!(known(-1, 5, -1001).behind(), None);
        // No fetch answered yet.
        assert_eq!(known(0, -1, 6).behind(), None);
        // Committed past the end this client last heard of (the commit fetched on a
        // reassignment, the end from a fetch before it): not 0, unknown.
        assert_eq!(known(0, 8, 9).behind(), None);
    }

    fn read(partition: i32, next: i64) -> Read {
        Read {
            partition: ("t".to_owned(), partition),
            next,
            event: None,
            revocations: 0,
        }
    }

    fn at(reads: &[Read]) -> Vec<(i32, i64)> {
        reads.iter().map(|r| (r.partition.1, r.next)).collect()
    }

    /// Gathers a batch of up to `max` from `waiting` and then from `script` (each call
    /// of `recv` takes the next answer; `None` once it is empty); how many calls there
    /// were.
    async fn gathered(
        waiting: Vec<Read>,
        max: usize,
        script: Vec<Option<anyhow::Result<Read>>>,
    ) -> (Vec<Read>, Vec<Read>, Option<anyhow::Error>, usize) {
        let mut script = std::collections::VecDeque::from(script);
        let mut calls = 0;
        let recv = |_| {
            calls += 1;
            std::future::ready(script.pop_front().flatten())
        };
        let (reads, left, failed) = gather(waiting, max, Duration::ZERO, recv).await;
        (reads, left, failed, calls)
    }

    #[tokio::test]
    async fn a_batch_ends_with_what_was_read_before_an_error() {
        let script = vec![
            Some(Ok(read(1, 3))),
            Some(Err(anyhow::anyhow!("broker gone"))),
        ];
        let (reads, left, failed, _) = gathered(vec![read(0, 5)], 10, script).await;
        // Handled and committed with the batch, not dropped with the error.
        assert_eq!(at(&reads), [(0, 5), (1, 3)]);
        assert!(left.is_empty());
        assert!(failed.is_some());
    }

    #[tokio::test]
    async fn reads_set_aside_come_first_and_what_a_full_batch_leaves_stays() {
        let waiting = vec![read(0, 1), read(0, 2), read(2, 7)];
        let (reads, left, failed, calls) = gathered(waiting, 2, vec![]).await;
        assert_eq!(
            (at(&reads), at(&left), calls),
            (vec![(0, 1), (0, 2)], vec![(2, 7)], 0)
        );
        assert!(failed.is_none());
        // Then the client's, until its wait is over.
        let script = vec![Some(Ok(read(1, 4))), None, Some(Ok(read(1, 5)))];
        let (reads, left, failed, calls) = gathered(left, 10, script).await;
        assert_eq!(
            (at(&reads), at(&left), calls),
            (vec![(2, 7), (1, 4)], vec![], 2)
        );
        assert!(failed.is_none());
    }
}
