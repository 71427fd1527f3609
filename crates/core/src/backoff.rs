//! Waiting between attempts at something that failed.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Exponential backoff from 50 ms to 5 s.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Duration::from_millis(50),
        }
    }
}

impl Backoff {
    pub fn reset(&mut self) {
        *self = Backoff::default();
    }

    /// Logs that `what` failed for consumer `group`, then sleeps; `Err` when stopped
    /// meanwhile.
    pub(crate) async fn after_failure(
        &mut self,
        stop: &CancellationToken,
        group: &str,
        what: &str,
        e: &anyhow::Error,
    ) -> Result<(), ()> {
        tracing::warn!(group, error = format!("{e:#}"), "{what}");
        self.wait(stop).await
    }

    /// The next wait, doubling the one after it.
    pub fn next_wait(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(5));
        d
    }

    /// Sleeps; `Err` when stopped meanwhile.
    pub async fn wait(&mut self, stop: &CancellationToken) -> Result<(), ()> {
        let d = self.next_wait();
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = stop.cancelled() => Err(()),
        }
    }
}
