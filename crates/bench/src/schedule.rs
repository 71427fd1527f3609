//! The open-loop schedule: request `i` is due `i / rate` seconds after the start and is
//! sent then, whether or not earlier ones have been answered, and its latency counts from
//! when it was due. A slow answer therefore cannot hold back the requests behind it and
//! hide their wait (coordinated omission): they queue, and their latency shows it.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct OpenLoop {
    /// Requests per second.
    pub rate: f64,
    pub duration: Duration,
    /// Requests in flight beyond this are not sent, and count as dropped: a server that
    /// has fallen this far behind has failed the step anyway.
    pub max_in_flight: usize,
}

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub issued: u64,
    pub dropped: u64,
}

impl OpenLoop {
    /// How many requests the run makes.
    pub fn total(&self) -> u64 {
        (self.rate * self.duration.as_secs_f64()).round() as u64
    }

    /// When request `i` is due.
    pub fn due(&self, start: Instant, i: u64) -> Instant {
        start + Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// Calls `call(i, due)` for each request when it is due (each wake-up sends all that
    /// are due by then), and waits up to `grace` after the last for those in flight.
    pub async fn run<F, Fut>(&self, mut call: F, grace: Duration) -> Sent
    where
        F: FnMut(u64, Instant) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let total = self.total();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        let mut sent = Sent::default();
        let start = Instant::now();
        let mut i = 0;
        while i < total {
            let now = Instant::now();
            while i < total && self.due(start, i) <= now {
                let due = self.due(start, i);
                if in_flight.load(Ordering::Relaxed) >= self.max_in_flight {
                    sent.dropped += 1;
                } else {
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    let fut = call(i, due);
                    let gauge = in_flight.clone();
                    tasks.spawn(async move {
                        fut.await;
                        gauge.fetch_sub(1, Ordering::Relaxed);
                    });
                    sent.issued += 1;
                }
                i += 1;
            }
            // Reap what finished, so the set does not grow with the run.
            while tasks.try_join_next().is_some() {}
            if i < total {
                tokio::time::sleep_until(self.due(start, i).into()).await;
            }
        }
        let _ =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn requests_are_due_evenly_from_the_start() {
        let l = OpenLoop {
            rate: 1000.0,
            duration: Duration::from_secs(2),
            max_in_flight: 10,
        };
        let s = Instant::now();
        assert_eq!(l.total(), 2000);
        assert_eq!(l.due(s, 0), s);
        assert_eq!(l.due(s, 1000), s + Duration::from_secs(1));
        assert_eq!(l.due(s, 1), s + Duration::from_millis(1));
    }

    #[tokio::test]
    async fn every_request_is_sent_on_time_even_when_answers_are_slow() {
        let l = OpenLoop {
            rate: 200.0,
            duration: Duration::from_millis(500),
            max_in_flight: 1000,
        };
        // Each "request" takes 200 ms: a closed loop with one connection would send 3.
        let sent_at = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let log = sent_at.clone();
        let out = l
            .run(
                move |_, due| {
                    let lateness = Instant::now().saturating_duration_since(due);
                    log.lock().unwrap().push(lateness);
                    async { tokio::time::sleep(Duration::from_millis(200)).await }
                },
                Duration::from_secs(2),
            )
            .await;
        assert_eq!(
            out,
            Sent {
                issued: 100,
                dropped: 0
            }
        );
        let late = sent_at.lock().unwrap();
        assert_eq!(late.len(), 100);
        // Sent when due: a timer tick (ms) late at most, plus scheduling noise.
        let worst = late.iter().max().unwrap();
        assert!(*worst < Duration::from_millis(30), "{worst:?}");
        // All answered: the run waited for them.
        assert!(started.elapsed() >= Duration::from_millis(690));
    }

    #[tokio::test]
    async fn beyond_the_in_flight_bound_requests_are_dropped_not_delayed() {
        let l = OpenLoop {
            rate: 1000.0,
            duration: Duration::from_millis(100),
            max_in_flight: 10,
        };
        let out = l
            .run(
                |_, _| async { tokio::time::sleep(Duration::from_secs(1)).await },
                Duration::from_secs(2),
            )
            .await;
        assert_eq!(out.issued, 10);
        assert_eq!(out.dropped, 90);
    }
}
