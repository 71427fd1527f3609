//! A stream's bounded queue: the frames handed to it, waiting for its client. One sender
//! (the process's live streams, which never wait on it) and one receiver (the stream).
//! tokio's mpsc channel does the same, but holds several hundred bytes before it carries
//! anything (its two cache-line-padded halves, and the first block of 32 slots it makes
//! with itself); one queue is kept for every open stream, most of them idle, and this one
//! holds about a hundred.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// A queue of at most `capacity` items.
pub fn queue<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            sender_gone: false,
            receiver_gone: false,
        }),
        ready: Notify::new(),
    });
    (
        Sender {
            shared: shared.clone(),
            capacity: capacity.max(1),
        },
        Receiver { shared },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Woken at each item and when the sender goes (its permit kept when the receiver is
    /// not waiting, so that no wake-up is lost).
    ready: Notify,
}

struct State<T> {
    items: VecDeque<T>,
    sender_gone: bool,
    receiver_gone: bool,
}

impl<T> Shared<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why an item was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds `capacity` items already.
    Full,
    /// The receiver is gone.
    Closed,
}

pub struct Sender<T> {
    shared: Arc<Shared<T>>,
    capacity: usize,
}

impl<T> Sender<T> {
    /// Queues `item` unless the queue is full or its receiver gone; never waits.
    pub fn try_send(&self, item: T) -> Result<(), Refused> {
        {
            let mut state = self.shared.state();
            if state.receiver_gone {
                return Err(Refused::Closed);
            }
            if state.items.len() >= self.capacity {
                return Err(Refused::Full);
            }
            state.items.push_back(item);
        }
        self.shared.ready.notify_one();
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.state().sender_gone = true;
        self.shared.ready.notify_one();
    }
}

pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// Room a drained queue keeps (one that held more gives the rest back).
const KEPT: usize = 16;

impl<T> Receiver<T> {
    /// The next item, or `None` once the sender is gone and every item was taken.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            {
                let mut state = self.shared.state();
                if let Some(item) = state.items.pop_front() {
                    if state.items.is_empty() && state.items.capacity() > KEPT {
                        state.items.shrink_to(KEPT);
                    }
                    return Some(item);
                }
                if state.sender_gone {
                    return None;
                }
            }
            self.shared.ready.notified().await;
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.receiver_gone = true;
        state.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn items_come_in_order_up_to_the_capacity_then_the_end() {
        let (tx, mut rx) = queue(2);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(Refused::Full));
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(tx.try_send(4), Ok(()));
        drop(tx);
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(4));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_an_item_and_by_the_senders_end() {
        let (tx, mut rx) = queue::<u32>(4);
        let waiting = tokio::spawn(async move { (rx.recv().await, rx.recv().await) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.try_send(7).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the receiver was woken")
            .unwrap();
        assert_eq!(got, (Some(7), None));
    }

    #[tokio::test]
    async fn a_gone_receiver_closes_the_queue() {
        let (tx, rx) = queue(4);
        tx.try_send(1).unwrap();
        drop(rx);
        assert_eq!(tx.try_send(2), Err(Refused::Closed));
    }
}
