//! The Kafka producer of the event log: librdkafka's, with a thread of ours serving its
//! delivery reports.
//!
//! rdkafka's `FutureProducer` serves them from a thread that asks librdkafka for reports
//! in rounds of 100 ms, and each round ends by asking again and again with a timeout that
//! rounds down to 0 ms until the round's last fraction of a millisecond has passed: a
//! spin of up to 1 ms in every 100 ms, busy or idle. `perf` on the local stack found
//! those threads (one per producing process: six) taking 2.2% of the machine's two cores
//! (130 of 5,934 samples, 84 of them in `clock_gettime`). Rounds of [`ROUND`] spin that
//! fraction ten times less often; a report is still served as soon as librdkafka has it,
//! since a round waits on its queue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::ClientConfig;
use tokio::sync::oneshot;

/// How long one round of serving reports lasts: also about how long a producer no longer
/// used lives on (its thread holds it until the round ends, then purges and flushes it
/// for up to 500 ms as it drops it).
pub const ROUND: Duration = Duration::from_secs(1);

/// How long a send waits between attempts while librdkafka's queue of messages is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(100);

/// Hands each delivery report to the send waiting for it.
pub struct Reports;

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<oneshot::Sender<KafkaResult<()>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiting: Self::DeliveryOpaque) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.clone()),
        };
        // A send that gave up waiting has nobody to tell.
        let _ = waiting.send(outcome);
    }
}

/// A producer shared by clones; its thread stops (and lets it go) within a round of the
/// last clone's drop.
#[derive(Clone)]
pub struct Producer(Arc<Handle>);

struct Handle {
    producer: Arc<BaseProducer<Reports>>,
    stop: Arc<AtomicBool>,
    /// The thread's id, for the tests that measure it.
    #[cfg(test)]
    thread: Arc<std::sync::OnceLock<u64>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Producer {
    /// A producer made of `config`, and its thread.
    pub fn new(config: &ClientConfig) -> anyhow::Result<Self> {
        let producer: Arc<BaseProducer<Reports>> = Arc::new(config.create_with_context(Reports)?);
        let stop = Arc::new(AtomicBool::new(false));
        let (serving, stopped) = (producer.clone(), stop.clone());
        #[cfg(test)]
        let thread = Arc::new(std::sync::OnceLock::new());
        #[cfg(test)]
        let id = thread.clone();
        std::thread::Builder::new()
            .name("kafka reports".into())
            .spawn(move || {
                #[cfg(test)]
                if let Some(tid) = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|p| p.file_name()?.to_str()?.parse().ok())
                {
                    let _ = id.set(tid);
                }
                while !stopped.load(Ordering::Acquire) {
                    serving.poll(ROUND);
                }
            })?;
        Ok(Producer(Arc::new(Handle {
            producer,
            stop,
            #[cfg(test)]
            thread,
        })))
    }

    /// The id of the thread serving the reports (Linux), once it has started.
    #[cfg(test)]
    pub fn report_thread(&self) -> Option<u64> {
        self.0.thread.get().copied()
    }

    /// librdkafka's client, for metadata and its fatal error.
    pub fn client(&self) -> &rdkafka::client::Client<Reports> {
        self.0.producer.client()
    }

    /// Sends one message and waits for its delivery report; while librdkafka's queue is
    /// full, tries again for up to `queue_timeout`.
    pub async fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: OwnedHeaders,
        queue_timeout: Duration,
    ) -> KafkaResult<()> {
        let (tx, rx) = oneshot::channel();
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(tx))
            .key(key)
            .payload(payload)
            .headers(headers);
        let started = Instant::now();
        loop {
            match self.0.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if started.elapsed() < queue_timeout =>
                {
                    record = back;
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
        // Dropped unanswered only when the producer is, which this send holds.
        rx.await.unwrap_or(Err(KafkaError::Canceled))
    }
}
