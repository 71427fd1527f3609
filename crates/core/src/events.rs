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
    /// Likes (and, later, the other reactions to a post), keyed by the post.
    Reactions,
}

impl Topic {
    pub const ALL: [Topic; 4] = [Topic::Posts, Topic::Graph, Topic::Users, Topic::Reactions];

    pub fn name(self) -> &'static str {
        match self {
            Topic::Posts => "chirp.posts",
            Topic::Graph => "chirp.graph",
            Topic::Users => "chirp.users",
            Topic::Reactions => "chirp.reactions",
        }
    }
}

/// What happened. The `type` tag names the event and its shape; a shape only ever gains
/// fields that older readers may skip and newer ones default (`#[serde(default)]`), and a
/// type this build does not know reads as [`EventBody::Unknown`], which every consumer
/// passes over: a newer build's events never stop an older build's consumers.
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
        /// The author of the post replied to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to_author: Option<Id>,
        /// The users the text mentions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<Id>,
        /// For a repost (whose text is empty), the post it reposts, and its author.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repost_of: Option<Id>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repost_of_author: Option<Id>,
    },
    #[serde(rename = "post.edited")]
    PostEdited {
        post_id: Id,
        author_id: Id,
        text: String,
        edited_at_ms: i64,
        /// The users the new text mentions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<Id>,
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
    /// A profile changed: what it is now (the event's `version` is the profile's).
    #[serde(rename = "user.updated")]
    UserUpdated {
        user_id: Id,
        handle: String,
        display_name: String,
        bio: String,
    },
    /// The account was deleted: every service forgets what it holds of the user (its
    /// posts, reposts and likes, its follows both ways, its blocks and mutes, its place
    /// in the index). Its handle and e-mail are free again from the moment it is written.
    #[serde(rename = "user.deleted")]
    UserDeleted { user_id: Id },
    /// `user_id` liked `post_id` (by `post_author`).
    #[serde(rename = "like.created")]
    LikeCreated {
        user_id: Id,
        post_id: Id,
        post_author: Id,
    },
    #[serde(rename = "like.deleted")]
    LikeDeleted {
        user_id: Id,
        post_id: Id,
        post_author: Id,
    },
    /// `blocker` blocks `blocked` (the follows between them end with events of their own).
    #[serde(rename = "block.created")]
    BlockCreated { blocker: Id, blocked: Id },
    #[serde(rename = "block.deleted")]
    BlockDeleted { blocker: Id, blocked: Id },
    /// `muter` mutes `muted`.
    #[serde(rename = "mute.created")]
    MuteCreated { muter: Id, muted: Id },
    #[serde(rename = "mute.deleted")]
    MuteDeleted { muter: Id, muted: Id },
    /// A type this build does not know (written by a newer one): passed over.
    #[serde(other)]
    Unknown,
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

/// What an event is stamped with before the store that writes it knows its version: its
/// id, when it happened, and the trace of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStamp {
    pub id: Id,
    pub occurred_at_ms: i64,
    pub trace: Option<String>,
}

impl EventStamp {
    /// The event of `body` that leaves its entity at `version`.
    pub fn event(&self, version: u64, body: EventBody) -> Event {
        Event {
            id: self.id,
            version,
            occurred_at_ms: self.occurred_at_ms,
            body,
            trace: self.trace.clone(),
        }
    }
}

impl Event {
    /// The topic the event goes to; `None` for an event of a type this build does not
    /// know, which it only ever reads, never appends.
    pub fn topic(&self) -> Option<Topic> {
        match self.body {
            EventBody::PostCreated { .. }
            | EventBody::PostEdited { .. }
            | EventBody::PostDeleted { .. } => Some(Topic::Posts),
            EventBody::FollowCreated { .. }
            | EventBody::FollowDeleted { .. }
            | EventBody::BlockCreated { .. }
            | EventBody::BlockDeleted { .. }
            | EventBody::MuteCreated { .. }
            | EventBody::MuteDeleted { .. } => Some(Topic::Graph),
            EventBody::UserCreated { .. }
            | EventBody::UserUpdated { .. }
            | EventBody::UserDeleted { .. } => Some(Topic::Users),
            EventBody::LikeCreated { .. } | EventBody::LikeDeleted { .. } => Some(Topic::Reactions),
            EventBody::Unknown => None,
        }
    }

    /// The topic to append the event to: an error for an event of unknown type.
    pub fn topic_to_append(&self) -> anyhow::Result<Topic> {
        self.topic().ok_or_else(|| {
            anyhow::anyhow!(
                "event {} is of a type this build does not know: it cannot be appended",
                self.id
            )
        })
    }

    /// The partition key: the author for posts (one author's posts stay in order), the
    /// pair for follows, blocks and mutes, the user for users, the post for its reactions.
    pub fn key(&self) -> String {
        match &self.body {
            EventBody::PostCreated { author_id, .. }
            | EventBody::PostEdited { author_id, .. }
            | EventBody::PostDeleted { author_id, .. } => author_id.to_string(),
            EventBody::FollowCreated { follower, followee }
            | EventBody::FollowDeleted { follower, followee }
            | EventBody::BlockCreated {
                blocker: follower,
                blocked: followee,
            }
            | EventBody::BlockDeleted {
                blocker: follower,
                blocked: followee,
            }
            | EventBody::MuteCreated {
                muter: follower,
                muted: followee,
            }
            | EventBody::MuteDeleted {
                muter: follower,
                muted: followee,
            } => format!("{follower}:{followee}"),
            EventBody::UserCreated { user_id, .. }
            | EventBody::UserUpdated { user_id, .. }
            | EventBody::UserDeleted { user_id } => user_id.to_string(),
            EventBody::LikeCreated { post_id, .. } | EventBody::LikeDeleted { post_id, .. } => {
                post_id.to_string()
            }
            EventBody::Unknown => String::new(),
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
    /// A reader of `topics` from the end of the log, in no group: it sees what is
    /// appended from now on, remembers nothing across restarts and commits nothing (a
    /// process's live view of what happens, such as its open streams').
    async fn tail(&self, topics: &[Topic]) -> anyhow::Result<Box<dyn EventConsumer>>;
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
    /// Keeps this member's client served (its place in its group, its reports) without
    /// taking events, until the future is dropped: while the batch it gave last waits to
    /// be retried. The events after it stay where they are, for the next
    /// [`Self::next_batch`].
    async fn idle(&mut self) -> std::convert::Infallible {
        std::future::pending().await
    }
    /// Whether a rebalance took the partitions of the batch last given while this member
    /// was idle: its events are read again from the group's commit, by whichever member
    /// holds each partition now, so this one is not to handle (nor commit) it.
    fn batch_taken_away(&mut self) -> bool {
        false
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
                mentions: vec![Id(3)],
            },
            trace: None,
        };
        let json = e.to_json().unwrap();
        assert!(json.contains("\"type\":\"post.edited\""), "{json}");
        assert!(json.contains("\"post_id\":\"5\""), "{json}");
        assert_eq!(Event::from_json(&json).unwrap(), e);
        assert!(json.contains("\"mentions\":[\"3\"]"), "{json}");
        assert_eq!(e.topic(), Some(Topic::Posts));
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

    /// An event written by an older build (no fields added since) reads with their
    /// defaults, and one of a type a newer build added reads as `Unknown`, with no topic.
    #[test]
    fn older_events_read_with_defaults_and_newer_types_as_unknown() {
        let old = r#"{"id":"1","version":1,"occurred_at_ms":5,"type":"post.created","post_id":"2","author_id":"3","text":"hi","reply_to":null,"created_at_ms":5}"#;
        let e = Event::from_json(old).unwrap();
        match e.body {
            EventBody::PostCreated {
                mentions,
                reply_to_author,
                ..
            } => assert!(mentions.is_empty() && reply_to_author.is_none()),
            other => panic!("{other:?}"),
        }
        let newer = r#"{"id":"4","version":1,"occurred_at_ms":5,"type":"poll.voted","poll_id":"9","choices":[1,2]}"#;
        let e = Event::from_json(newer).unwrap();
        assert_eq!(e.body, EventBody::Unknown);
        assert_eq!(e.topic(), None);
        assert!(e.topic_to_append().is_err());
    }
}
