//! The embedded event log: one SQLite file (`events.db`) holding an append-only table of
//! events in a single total order, and each consumer group's committed position. It gives
//! what Chirp needs of Kafka (durability, per-key order, at-least-once delivery to each
//! group, positions committed after the work), in one process.

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::sqlite::SqliteDb;
use crate::events::{Event, EventConsumer, EventLog, Topic};

/// The log's tables (`migrations/event_log`).
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/event_log");

/// Events dropped at most by one prune. A prune is one write on the log's writer thread,
/// and the appends sent meanwhile wait for it: unbounded, a prune after a burst of posts
/// held the writer for up to half a second (with the checkpoint of what it deleted), and
/// every post's fanout with it.
const PRUNE_CHUNK: usize = 4_096;
/// A group prunes after this many of its commits; and after every commit while the last
/// prune found a whole chunk to drop.
const PRUNE_EVERY: u64 = 16;

#[derive(Debug, Clone)]
pub struct SqliteEventLog {
    db: SqliteDb,
    waiting: Arc<Waiting>,
}

/// Each reader's wake-up, with the topics it reads (one bit per [`Topic::ALL`] entry): an
/// append wakes only the readers of its events' topics. (Every reader woken by every
/// append, a group of a quiet topic read the log for nothing after each post: a tenth of
/// `chirp all`'s CPU went to the readers' fetches under a posting load.) A reader of a
/// quiet topic still passes over the others' events when its wait times out.
#[derive(Debug, Default)]
struct Waiting {
    readers: Mutex<Vec<(u8, Weak<Notify>)>>,
}

fn topic_bits(topics: impl IntoIterator<Item = Topic>) -> u8 {
    topics.into_iter().fold(0, |bits, t| {
        bits | Topic::ALL
            .iter()
            .position(|a| *a == t)
            .map_or(0, |i| 1 << i)
    })
}

impl Waiting {
    /// A reader of `topics`: its wake-up, dropped with it.
    fn register(&self, topics: &[Topic]) -> Arc<Notify> {
        let wake = Arc::new(Notify::new());
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        readers.retain(|(_, w)| w.strong_count() > 0);
        readers.push((topic_bits(topics.iter().copied()), Arc::downgrade(&wake)));
        wake
    }

    /// Wakes the readers of `appended` (a reader not waiting yet keeps the wake-up for its
    /// next wait, so none is lost between its read and its wait).
    fn appended(&self, appended: u8) {
        let readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        for (bits, wake) in readers.iter() {
            if bits & appended != 0 {
                if let Some(wake) = wake.upgrade() {
                    wake.notify_one();
                }
            }
        }
    }
}

impl SqliteEventLog {
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let db = SqliteDb::open(path).await?;
        db.migrate("event_log", MIGRATIONS.iter().cloned().collect())
            .await?;
        Ok(SqliteEventLog {
            db,
            waiting: Arc::default(),
        })
    }

    /// Drops the oldest events every group has passed, at most [`PRUNE_CHUNK`] of them;
    /// returns how many it dropped.
    async fn prune(&self) -> anyhow::Result<usize> {
        let dropped = self
            .db
            .write(|c| {
                Ok(c.execute(
                    "DELETE FROM events WHERE pos < MIN(
                        (SELECT MIN(next_pos) FROM consumer_positions),
                        (SELECT MIN(pos) FROM events) + ?)",
                    [PRUNE_CHUNK as i64],
                )?)
            })
            .await?;
        Ok(dropped)
    }
}

#[async_trait]
impl EventLog for SqliteEventLog {
    async fn append(&self, events: &[Event]) -> anyhow::Result<()> {
        let mut appended = 0;
        let rows = events
            .iter()
            .map(|e| {
                let topic = e.topic_to_append()?;
                appended |= topic_bits([topic]);
                Ok((topic.name(), e.key(), e.to_json()?))
            })
            .collect::<anyhow::Result<Vec<(&'static str, String, String)>>>()?;
        self.db
            .write(move |c| {
                let mut insert =
                    c.prepare_cached("INSERT INTO events (topic, key, payload) VALUES (?, ?, ?)")?;
                for (topic, key, payload) in &rows {
                    insert.execute((topic, key, payload))?;
                }
                Ok(())
            })
            .await?;
        self.waiting.appended(appended);
        Ok(())
    }

    async fn consumer(
        &self,
        group: &str,
        topics: &[Topic],
    ) -> anyhow::Result<Box<dyn EventConsumer>> {
        // A new group starts at the beginning of what the log still holds.
        let grp = group.to_owned();
        let next: i64 = self
            .db
            .write(move |c| {
                c.execute(
                    "INSERT OR IGNORE INTO consumer_positions (grp, next_pos) VALUES (?, 0)",
                    [&grp],
                )?;
                Ok(c.query_row(
                    "SELECT next_pos FROM consumer_positions WHERE grp = ?",
                    [&grp],
                    |r| r.get(0),
                )?)
            })
            .await?;
        Ok(Box::new(SqliteConsumer::new(
            self, group, topics, next, false,
        )))
    }

    async fn tail(&self, topics: &[Topic]) -> anyhow::Result<Box<dyn EventConsumer>> {
        let end: Option<i64> = self
            .db
            .read(|c| c.query_row("SELECT MAX(pos) FROM events", [], |r| r.get(0)))?;
        let next = end.map_or(0, |e| e + 1);
        Ok(Box::new(SqliteConsumer::new(
            self, "(tail)", topics, next, true,
        )))
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(self.db.ping().await?)
    }
}

struct SqliteConsumer {
    log: SqliteEventLog,
    /// Woken by the appends of the consumer's topics.
    wake: Arc<Notify>,
    group: String,
    topics: Vec<&'static str>,
    /// The position after the last event returned.
    read_to: i64,
    committed: i64,
    commits: u64,
    /// Whether the last prune dropped a whole chunk (so there may be more to drop).
    behind_on_pruning: bool,
    /// Whether events were returned since the last commit (or only others passed over).
    returned: bool,
    last_commit: std::time::Instant,
    /// A reader from the end in no group ([`EventLog::tail`]): it records nothing (and
    /// holds back no pruning; a tail that falls behind what every group has passed loses
    /// what was pruned, which a live view can afford).
    tail: bool,
}

/// How often at most a group records a position it reached by passing over other
/// topics' events only.
const SKIPS_COMMITTED_EVERY: Duration = Duration::from_secs(1);

impl SqliteConsumer {
    fn new(log: &SqliteEventLog, group: &str, topics: &[Topic], next: i64, tail: bool) -> Self {
        SqliteConsumer {
            log: log.clone(),
            wake: log.waiting.register(topics),
            group: group.to_owned(),
            topics: topics.iter().map(|t| t.name()).collect(),
            read_to: next,
            committed: next,
            commits: 0,
            behind_on_pruning: false,
            returned: false,
            last_commit: std::time::Instant::now(),
            tail,
        }
    }

    /// Up to `max` events of the group's topics after `read_to`. When fewer come, the
    /// group has read the whole log as it was, and `read_to` passes the end: the events
    /// of other topics are never looked at again (a group of a quiet topic would
    /// otherwise scan everything after its last event on every append).
    fn fetch(&mut self, max: usize) -> anyhow::Result<Vec<Event>> {
        let placeholders = vec!["?"; self.topics.len()].join(",");
        let sql = format!(
            "SELECT pos, payload FROM events
             WHERE pos >= ? AND pos <= ? AND topic IN ({placeholders})
             ORDER BY pos LIMIT ?"
        );
        let (rows, end): (Vec<(i64, String)>, Option<i64>) = self.log.db.read(|c| {
            // Every event up to the end read first has committed (one writer appends,
            // in order): those after it are left for the next fetch.
            let end: Option<i64> = c
                .prepare_cached("SELECT MAX(pos) FROM events")?
                .query_row([], |r| r.get(0))?;
            let Some(end) = end else {
                return Ok((Vec::new(), None));
            };
            let mut params: Vec<rusqlite::types::Value> = vec![self.read_to.into(), end.into()];
            params.extend(self.topics.iter().map(|t| (*t).to_owned().into()));
            params.push((max as i64).into());
            let rows = c
                .prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok((rows, Some(end)))
        })?;
        let whole = rows.len() < max;
        let mut events = Vec::with_capacity(rows.len());
        for (pos, payload) in rows {
            match Event::from_json(&payload) {
                Ok(e) => events.push(e),
                // An event this version cannot read is skipped, loudly, rather than
                // stopping the group forever.
                Err(err) => {
                    tracing::error!(group = %self.group, pos, error = %err, "unreadable event skipped")
                }
            }
            self.read_to = pos + 1;
            self.returned = true;
        }
        if let (true, Some(end)) = (whole, end) {
            self.read_to = self.read_to.max(end + 1);
        }
        Ok(events)
    }
}

#[async_trait]
impl EventConsumer for SqliteConsumer {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> anyhow::Result<Vec<Event>> {
        // An append between the read and the wait has left its wake-up for the wait.
        let batch = self.fetch(max)?;
        if !batch.is_empty() {
            return Ok(batch);
        }
        let _ = tokio::time::timeout(wait, self.wake.notified()).await;
        self.fetch(max)
    }

    async fn commit(&mut self) -> anyhow::Result<()> {
        if self.tail || self.read_to == self.committed {
            return Ok(());
        }
        // Only other topics' events passed over since the last commit: recorded at most
        // once a second (so that the log can be pruned behind the group), not once per
        // append.
        if !self.returned && self.last_commit.elapsed() < SKIPS_COMMITTED_EVERY {
            return Ok(());
        }
        let (next, grp) = (self.read_to, self.group.clone());
        self.log
            .db
            .write(move |c| {
                c.execute(
                    "UPDATE consumer_positions SET next_pos = ? WHERE grp = ?",
                    rusqlite::params![next, grp],
                )?;
                Ok(())
            })
            .await?;
        self.committed = self.read_to;
        self.returned = false;
        self.last_commit = std::time::Instant::now();
        self.commits += 1;
        if self.behind_on_pruning || self.commits.is_multiple_of(PRUNE_EVERY) {
            self.behind_on_pruning = self.log.prune().await? == PRUNE_CHUNK;
        }
        Ok(())
    }

    /// One log, one order: the events of the group's topics after its committed position.
    async fn lag(&mut self) -> anyhow::Result<Vec<(String, i32, i64)>> {
        let mut out = Vec::new();
        for t in &self.topics {
            let behind: i64 = self.log.db.read(|c| {
                c.prepare_cached("SELECT COUNT(*) FROM events WHERE pos >= ? AND topic = ?")?
                    .query_row(rusqlite::params![self.committed, *t], |r| r.get(0))
            })?;
            out.push(((*t).to_owned(), 0, behind));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventBody;
    use crate::id::Id;

    fn follow(n: u64) -> Event {
        Event {
            id: Id(n),
            version: 1,
            occurred_at_ms: 0,
            trace: None,
            body: EventBody::FollowCreated {
                follower: Id(n),
                followee: Id(n + 1),
            },
        }
    }

    /// Whether `wake` holds a wake-up (polled once: an append leaves it before it returns).
    async fn woken(wake: &Notify) -> bool {
        tokio::time::timeout(Duration::ZERO, wake.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn an_append_wakes_only_the_readers_of_its_topics() {
        let dir = tempfile::tempdir().unwrap();
        let log = SqliteEventLog::open(&dir.path().join("events.db"))
            .await
            .unwrap();
        let users = SqliteConsumer::new(&log, "u", &[Topic::Users], 0, false);
        let both = SqliteConsumer::new(&log, "b", &[Topic::Users, Topic::Graph], 0, false);
        log.append(&[follow(1)]).await.unwrap();
        assert!(woken(&both.wake).await);
        assert!(
            !woken(&users.wake).await,
            "a reader of chirp.users woken by chirp.graph"
        );
        // A wake-up left while the reader was not waiting is kept for its next wait.
        log.append(&[follow(2)]).await.unwrap();
        log.append(&[follow(3)]).await.unwrap();
        assert!(woken(&both.wake).await);
        assert!(
            !woken(&both.wake).await,
            "one wake-up kept, not one per append"
        );
        // A reader gone is forgotten at the next registration.
        drop(both);
        let _graph = SqliteConsumer::new(&log, "g", &[Topic::Graph], 0, false);
        assert_eq!(log.waiting.readers.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn groups_resume_from_their_commit_and_see_events_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let log = SqliteEventLog::open(&path).await.unwrap();
        log.append(&[follow(1), follow(2), follow(3)])
            .await
            .unwrap();

        let mut c = log.consumer("g", &[Topic::Graph]).await.unwrap();
        let first = c.next_batch(2, Duration::ZERO).await.unwrap();
        assert_eq!(
            first.iter().map(|e| e.id).collect::<Vec<_>>(),
            [Id(1), Id(2)]
        );
        c.commit().await.unwrap();
        // Read but not committed: a restart delivers it again.
        let second = c.next_batch(10, Duration::ZERO).await.unwrap();
        assert_eq!(second.len(), 1);
        drop(c);

        let reopened = SqliteEventLog::open(&path).await.unwrap();
        let mut c = reopened.consumer("g", &[Topic::Graph]).await.unwrap();
        let again = c.next_batch(10, Duration::ZERO).await.unwrap();
        assert_eq!(again.iter().map(|e| e.id).collect::<Vec<_>>(), [Id(3)]);

        // Another group reads everything, and another topic nothing.
        let mut other = reopened.consumer("h", &[Topic::Graph]).await.unwrap();
        assert_eq!(other.next_batch(10, Duration::ZERO).await.unwrap().len(), 3);
        let mut posts = reopened.consumer("p", &[Topic::Posts]).await.unwrap();
        assert!(posts
            .next_batch(10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty());
    }

    fn signup(n: u64) -> Event {
        Event {
            id: Id(n),
            version: 1,
            occurred_at_ms: 0,
            trace: None,
            body: EventBody::UserCreated {
                user_id: Id(n),
                handle: format!("u{n}"),
                display_name: format!("u{n}"),
                created_at_ms: 0,
            },
        }
    }

    /// A group of a topic that is seldom written (`chirp.users`) passes over the other
    /// topics' events once, and records that it did, so that the log can be pruned
    /// behind it (before, each fetch scanned everything after its last event, and the
    /// log kept everything after it).
    #[tokio::test]
    async fn a_group_of_a_quiet_topic_passes_over_the_others_once() {
        let (_dir, log) = fresh_log().await;
        drop(log.consumer("quiet", &[Topic::Users]).await.unwrap());
        let mut graph = log.consumer("graph", &[Topic::Graph]).await.unwrap();
        log.append(&(1..=40).map(follow).collect::<Vec<_>>())
            .await
            .unwrap();
        assert_eq!(
            graph.next_batch(100, Duration::ZERO).await.unwrap().len(),
            40
        );
        graph.commit().await.unwrap();
        let mut quiet = SqliteConsumer::new(&log, "quiet", &[Topic::Users], 0, false);
        quiet.last_commit = std::time::Instant::now() - SKIPS_COMMITTED_EVERY;
        assert!(quiet.fetch(10).unwrap().is_empty());
        assert_eq!(quiet.read_to, 41, "past the end of the log");
        quiet.commit().await.unwrap();
        assert_eq!(log.prune().await.unwrap(), 40, "nothing holds the log back");

        // Its own events are read; a full batch stops at its last event.
        log.append(&[signup(41), follow(42), signup(43), follow(44), signup(45)])
            .await
            .unwrap();
        let two = quiet.fetch(2).unwrap();
        assert_eq!(
            two.iter().map(|e| e.id).collect::<Vec<_>>(),
            [Id(41), Id(43)]
        );
        assert_eq!(quiet.read_to, 44);
        let rest = quiet.fetch(2).unwrap();
        assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), [Id(45)]);
        assert_eq!(quiet.read_to, 46);
        // Passing over others only is recorded at most once a second; what was
        // returned, at once.
        quiet.commit().await.unwrap();
        assert_eq!(quiet.committed, 46);
        log.append(&[follow(46)]).await.unwrap();
        assert!(quiet.fetch(2).unwrap().is_empty());
        quiet.commit().await.unwrap();
        assert_eq!((quiet.read_to, quiet.committed), (47, 46));
    }

    #[tokio::test]
    async fn a_waiting_consumer_wakes_on_append() {
        let (_dir, log) = fresh_log().await;
        let mut c = log.consumer("g", &[Topic::Graph]).await.unwrap();
        let writer = log.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer.append(&[follow(7)]).await.unwrap();
        });
        let started = std::time::Instant::now();
        let batch = c.next_batch(10, Duration::from_secs(10)).await.unwrap();
        assert_eq!(batch.len(), 1);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// A tail sees only what is appended after it starts, of its topics, and records
    /// nothing: a new tail starts at the end again, and pruning is not held back by it.
    #[tokio::test]
    async fn a_tail_reads_from_the_end_and_records_nothing() {
        let (_dir, log) = fresh_log().await;
        log.append(&[follow(1), follow(2)]).await.unwrap();
        let mut tail = log.tail(&[Topic::Graph]).await.unwrap();
        assert!(tail
            .next_batch(10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty());
        log.append(&[follow(3), signup(4)]).await.unwrap();
        let seen = tail.next_batch(10, Duration::ZERO).await.unwrap();
        assert_eq!(seen.iter().map(|e| e.id).collect::<Vec<_>>(), [Id(3)]);
        tail.commit().await.unwrap();
        let mut again = log.tail(&[Topic::Graph]).await.unwrap();
        assert!(again
            .next_batch(10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty());
        let positions: i64 = log
            .db
            .read(|c| c.query_row("SELECT COUNT(*) FROM consumer_positions", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(positions, 0);
    }

    async fn fresh_log() -> (tempfile::TempDir, SqliteEventLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = SqliteEventLog::open(&dir.path().join("events.db"))
            .await
            .unwrap();
        (dir, log)
    }

    fn held(log: &SqliteEventLog) -> i64 {
        log.db
            .read(|c| c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)))
            .unwrap()
    }

    #[tokio::test]
    async fn pruning_drops_what_every_group_passed_a_chunk_at_a_time() {
        let (_dir, log) = fresh_log().await;
        let total = 3 * PRUNE_CHUNK + 100;
        let events: Vec<Event> = (1..=total as u64).map(follow).collect();
        for chunk in events.chunks(512) {
            log.append(chunk).await.unwrap();
        }
        let mut slow = log.consumer("slow", &[Topic::Graph]).await.unwrap();
        let mut fast = log.consumer("fast", &[Topic::Graph]).await.unwrap();
        // The slow group passes 10 events; the fast one everything, a commit at a time,
        // up to the commit that prunes.
        assert_eq!(slow.next_batch(10, Duration::ZERO).await.unwrap().len(), 10);
        slow.commit().await.unwrap();
        let mut read = 0;
        while read < total {
            read += fast.next_batch(64, Duration::ZERO).await.unwrap().len();
            fast.commit().await.unwrap();
        }
        // Only what both passed is gone.
        assert_eq!(held(&log), total as i64 - 10);

        // Once the slow group has passed everything too, commits drop the rest, no more
        // than a chunk at a time. (Each round appends an event for both groups to pass,
        // since a commit with nothing new read is a no-op.)
        assert_eq!(
            slow.next_batch(total, Duration::ZERO).await.unwrap().len(),
            total - 10
        );
        slow.commit().await.unwrap();
        let mut before = held(&log);
        let mut prunes = 0;
        for round in 0..200u64 {
            log.append(&[follow(total as u64 + 1 + round)])
                .await
                .unwrap();
            before += 1;
            for group in [&mut fast, &mut slow] {
                assert_eq!(group.next_batch(64, Duration::ZERO).await.unwrap().len(), 1);
                group.commit().await.unwrap();
                let now = held(&log);
                assert!(before - now <= PRUNE_CHUNK as i64, "{before} -> {now}");
                prunes += usize::from(now < before);
                before = now;
            }
            if before <= 1 {
                break;
            }
        }
        assert!(before <= 1, "{before} events still held");
        assert!(prunes >= 4, "{prunes} prunes");
    }
}
