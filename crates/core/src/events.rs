//! The events that flow from the write side to the consumers, and the ports they flow
//! through: an [`EventLog`] (Kafka deployed, an SQLite log embedded) that producers append
//! to and consumer groups read from, committing their position only after the work is done.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::id::Id;

/// The log's topics; each entity's events share a key and so keep their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Posts,
    Graph,
    Users,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Posts, Topic::Graph, Topic::Users];

    pub fn name(self) -> &'static str {
        match self {
            Topic::Posts => "chirp.posts",
            Topic::Graph => "chirp.graph",
            Topic::Users => "chirp.users",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventBody {
    #[serde(rename = "post.created")]
    PostCreated {
        post_id: Id,
        author_id: Id,
        text: String,
        reply_to: Option<Id>,
        created_at_ms: i64,
    },
    #[serde(rename = "post.edited")]
    PostEdited {
        post_id: Id,
        author_id: Id,
        text: String,
        edited_at_ms: i64,
    },
    #[serde(rename = "post.deleted")]
    PostDeleted { post_id: Id, author_id: Id },
    #[serde(rename = "follow.created")]
    FollowCreated { follower: Id, followee: Id },
    #[serde(rename = "follow.deleted")]
    FollowDeleted { follower: Id, followee: Id },
    #[serde(rename = "user.created")]
    UserCreated {
        user_id: Id,
        handle: String,
        display_name: String,
        created_at_ms: i64,
    },
}

/// An event: a unique id, the version of the entity it leaves behind, what happened, and
/// the trace of the request that made it (a W3C `traceparent`, when traces are on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: Id,
    pub version: u64,
    pub occurred_at_ms: i64,
    #[serde(flatten)]
    pub body: EventBody,
    #[serde(
        rename = "traceparent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub trace: Option<String>,
}

impl Event {
    pub fn topic(&self) -> Topic {
        match self.body {
            EventBody::PostCreated { .. }
            | EventBody::PostEdited { .. }
            | EventBody::PostDeleted { .. } => Topic::Posts,
            EventBody::FollowCreated { .. } | EventBody::FollowDeleted { .. } => Topic::Graph,
            EventBody::UserCreated { .. } => Topic::Users,
        }
    }

    /// The partition key: the author for posts (one author's posts stay in order), the
    /// pair for follows, the user for users.
    pub fn key(&self) -> String {
        match &self.body {
            EventBody::PostCreated { author_id, .. }
            | EventBody::PostEdited { author_id, .. }
            | EventBody::PostDeleted { author_id, .. } => author_id.to_string(),
            EventBody::FollowCreated { follower, followee }
            | EventBody::FollowDeleted { follower, followee } => format!("{follower}:{followee}"),
            EventBody::UserCreated { user_id, .. } => user_id.to_string(),
        }
    }

    /// The event as the logs and outboxes keep it. An error, never an empty string: an
    /// empty payload in an outbox would stop its relay for good.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// A durable, ordered log of events with consumer groups.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends events; once this returns, they survive a crash.
    async fn append(&self, events: &[Event]) -> anyhow::Result<()>;
    /// A consumer in `group`, reading `topics` from the group's committed position.
    async fn consumer(
        &self,
        group: &str,
        topics: &[Topic],
    ) -> anyhow::Result<Box<dyn EventConsumer>>;
    /// Answers when the log can be reached.
    async fn ping(&self) -> anyhow::Result<()>;
}

/// One member of a consumer group.
#[async_trait]
pub trait EventConsumer: Send {
    /// Up to `max` events after the last batch, waiting up to `wait` for the first.
    async fn next_batch(&mut self, max: usize, wait: Duration) -> anyhow::Result<Vec<Event>>;
    /// Records that every event returned so far has been handled.
    async fn commit(&mut self) -> anyhow::Result<()>;
    /// Whether this member has joined its group and been given something to read.
    fn joined(&self) -> bool {
        true
    }
    /// How far the group's committed position is behind the log, per topic and
    /// partition this member reads: `(topic, partition, events behind)`.
    async fn lag(&mut self) -> anyhow::Result<Vec<(String, i32, i64)>> {
        Ok(Vec::new())
    }
}

/// What a consumer group does with a batch. It must be idempotent: after a crash the
/// batch since the last commit is delivered again.
#[async_trait]
pub trait EventHandler: Send + Sync {
    async fn handle(&self, events: &[Event]) -> anyhow::Result<()>;

    /// How this handler wants its events batched.
    fn batching(&self) -> Batching {
        Batching::default()
    }
}

/// Batches of up to `max` events, at most one every `every`: a handler whose each batch
/// has a fixed cost (a search index's commit) takes fewer, larger batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    pub max: usize,
    pub every: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            max: 512,
            every: Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_a_type_tag() {
        let e = Event {
            id: Id(9),
            version: 2,
            occurred_at_ms: 1000,
            body: EventBody::PostEdited {
                post_id: Id(5),
                author_id: Id(7),
                text: "hi".into(),
                edited_at_ms: 1000,
            },
            trace: None,
        };
        let json = e.to_json().unwrap();
        assert!(json.contains("\"type\":\"post.edited\""), "{json}");
        assert!(json.contains("\"post_id\":\"5\""), "{json}");
        assert_eq!(Event::from_json(&json).unwrap(), e);
        assert_eq!(e.topic(), Topic::Posts);
        assert_eq!(e.key(), "7");
        assert!(!json.contains("traceparent"), "{json}");

        let traced = Event {
            trace: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            ..e
        };
        let json = traced.to_json().unwrap();
        assert!(json.contains("\"traceparent\":\"00-4bf9"), "{json}");
        assert_eq!(Event::from_json(&json).unwrap(), traced);
    }
}
