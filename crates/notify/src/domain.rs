//! What each event does to the notifications: the rules of API.md ("Notifications and
//! live updates"), as pure functions of the event.

use chirp_core::events::{Event, EventBody};
use chirp_core::{ApiError, ApiResult, Id};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a notification tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A new follower.
    Follow,
    /// A like of one's post.
    Like,
    /// A repost of one's post.
    Repost,
    /// A reply to one's post.
    Reply,
    /// A post that mentions one.
    Mention,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Follow,
        Kind::Like,
        Kind::Repost,
        Kind::Reply,
        Kind::Mention,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Follow => "follow",
            Kind::Like => "like",
            Kind::Repost => "repost",
            Kind::Reply => "reply",
            Kind::Mention => "mention",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The kinds of a `types` query parameter (comma-separated names, each once or more):
    /// 400 for an empty list or a name that is not a kind.
    pub fn parse_list(raw: &str) -> ApiResult<Vec<Kind>> {
        let mut kinds = Vec::new();
        for part in raw.split(',') {
            let kind = Kind::parse(part).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "types must be names among follow, like, repost, reply and mention, separated by commas; {part:?} is not one"
                ))
            })?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(kinds)
    }
}

/// A notification to store (and, once stored, to tell the live streams of: it crosses
/// the processes of the service as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNotification {
    pub recipient: Id,
    /// Its id, given when it is stored ([`NotificationService`]'s ids): the event's id
    /// until then.
    ///
    /// [`NotificationService`]: crate::service::NotificationService
    pub id: Id,
    /// The event that made it: a redelivered event makes nothing more.
    pub event: Id,
    pub kind: Kind,
    pub actor: Id,
    /// The post it shows: the liked or reposted post, the reply, the mentioning post.
    pub post: Option<Id>,
    /// What undoing the action removes it by (see [`Change::Remove`]).
    pub subject: Id,
    pub created_at_ms: i64,
}

/// What an event changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Stores a notification, unless one of the same action is there already, or its
    /// actor, post or subject is gone.
    Add(NewNotification),
    /// Removes the notification of an action that was undone.
    Remove {
        recipient: Id,
        kind: Kind,
        actor: Id,
        subject: Id,
    },
    /// After an edit, `post` by `author` mentions exactly `recipients`: the mentions of
    /// others are removed, and a newly mentioned user is notified (as `id`), unless
    /// already notified of the post as a reply.
    Mentions {
        post: Id,
        author: Id,
        recipients: Vec<Id>,
        /// The id of a notification stored for it (given as for [`Change::Add`]).
        id: Id,
        event: Id,
        at_ms: i64,
    },
    /// A post was deleted: every notification that shows it or is about it goes, and no
    /// late event makes one again.
    PostGone(Id),
    /// An account was deleted: every notification of theirs and by them goes, likewise.
    UserGone(Id),
}

/// The subject of a follow, which has no post.
pub const NO_SUBJECT: Id = Id(0);

/// What `event` changes. Never a notification of one's own action.
pub fn changes_of(event: &Event) -> Vec<Change> {
    let add = |recipient: Id, kind: Kind, actor: Id, post: Option<Id>, subject: Id| {
        Change::Add(NewNotification {
            recipient,
            id: event.id,
            event: event.id,
            kind,
            actor,
            post,
            subject,
            created_at_ms: event.occurred_at_ms,
        })
    };
    match &event.body {
        EventBody::FollowCreated { follower, followee } if follower != followee => {
            vec![add(*followee, Kind::Follow, *follower, None, NO_SUBJECT)]
        }
        EventBody::FollowDeleted { follower, followee } => vec![Change::Remove {
            recipient: *followee,
            kind: Kind::Follow,
            actor: *follower,
            subject: NO_SUBJECT,
        }],
        EventBody::LikeCreated {
            user_id,
            post_id,
            post_author,
        } if user_id != post_author => {
            vec![add(
                *post_author,
                Kind::Like,
                *user_id,
                Some(*post_id),
                *post_id,
            )]
        }
        EventBody::LikeDeleted {
            user_id,
            post_id,
            post_author,
        } => vec![Change::Remove {
            recipient: *post_author,
            kind: Kind::Like,
            actor: *user_id,
            subject: *post_id,
        }],
        // A repost: its author reposted `original` by `owner`. Undoing it deletes the
        // repost, whose id is the subject.
        EventBody::PostCreated {
            post_id,
            author_id,
            repost_of: Some(original),
            repost_of_author,
            ..
        } => match repost_of_author {
            Some(owner) if owner != author_id => {
                vec![add(
                    *owner,
                    Kind::Repost,
                    *author_id,
                    Some(*original),
                    *post_id,
                )]
            }
            _ => Vec::new(),
        },
        EventBody::PostCreated {
            post_id,
            author_id,
            reply_to_author,
            mentions,
            ..
        } => {
            let mut out = Vec::new();
            let replied = reply_to_author.filter(|r| r != author_id);
            if let Some(r) = replied {
                out.push(add(r, Kind::Reply, *author_id, Some(*post_id), *post_id));
            }
            // One notification per person: the one replied to is told of the reply only.
            let mut told: Vec<Id> = replied.into_iter().collect();
            for m in mentions {
                if m != author_id && !told.contains(m) {
                    told.push(*m);
                    out.push(add(*m, Kind::Mention, *author_id, Some(*post_id), *post_id));
                }
            }
            out
        }
        EventBody::PostEdited {
            post_id,
            author_id,
            mentions,
            ..
        } => {
            let mut recipients: Vec<Id> = Vec::new();
            for m in mentions {
                if m != author_id && !recipients.contains(m) {
                    recipients.push(*m);
                }
            }
            vec![Change::Mentions {
                post: *post_id,
                author: *author_id,
                recipients,
                id: event.id,
                event: event.id,
                at_ms: event.occurred_at_ms,
            }]
        }
        EventBody::PostDeleted { post_id, .. } => vec![Change::PostGone(*post_id)],
        EventBody::UserDeleted { user_id } => vec![Change::UserGone(*user_id)],
        // Blocks and mutes hide notifications when they are read (and an unmute brings
        // them back); a block's end of the follows comes as their own events.
        EventBody::FollowCreated { .. }
        | EventBody::LikeCreated { .. }
        | EventBody::UserCreated { .. }
        | EventBody::UserUpdated { .. }
        | EventBody::BlockCreated { .. }
        | EventBody::BlockDeleted { .. }
        | EventBody::MuteCreated { .. }
        | EventBody::MuteDeleted { .. }
        | EventBody::Unknown => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: EventBody) -> Event {
        Event {
            id: Id(100),
            version: 1,
            occurred_at_ms: 5,
            body,
            trace: None,
        }
    }

    fn post(author: u64, reply_to_author: Option<u64>, mentions: &[u64]) -> EventBody {
        EventBody::PostCreated {
            post_id: Id(50),
            author_id: Id(author),
            text: "hi".into(),
            reply_to: reply_to_author.map(|_| Id(40)),
            created_at_ms: 5,
            reply_to_author: reply_to_author.map(Id),
            mentions: mentions.iter().copied().map(Id).collect(),
            repost_of: None,
            repost_of_author: None,
        }
    }

    fn added(changes: &[Change]) -> Vec<(u64, Kind, u64)> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Add(n) => Some((n.recipient.get(), n.kind, n.actor.get())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_reply_that_mentions_tells_each_person_once_and_never_the_author() {
        let c = changes_of(&event(post(1, Some(2), &[2, 3, 1, 3, 4])));
        assert_eq!(
            added(&c),
            [
                (2, Kind::Reply, 1),
                (3, Kind::Mention, 1),
                (4, Kind::Mention, 1)
            ]
        );
        // A reply to oneself that mentions oneself: nothing.
        assert!(changes_of(&event(post(1, Some(1), &[1]))).is_empty());
    }

    #[test]
    fn own_likes_reposts_and_follows_notify_nobody() {
        let like = EventBody::LikeCreated {
            user_id: Id(1),
            post_id: Id(9),
            post_author: Id(1),
        };
        assert!(changes_of(&event(like)).is_empty());
        // User `by` reposts post 9 of user 1's.
        let repost = |by: u64| EventBody::PostCreated {
            post_id: Id(51),
            author_id: Id(by),
            text: String::new(),
            reply_to: None,
            created_at_ms: 5,
            reply_to_author: None,
            mentions: vec![],
            repost_of: Some(Id(9)),
            repost_of_author: Some(Id(1)),
        };
        assert!(changes_of(&event(repost(1))).is_empty());
        let c = changes_of(&event(repost(2)));
        assert_eq!(added(&c), [(1, Kind::Repost, 2)]);
        // The repost shows the original, and its undoing (deleting the repost) removes it.
        match &c[0] {
            Change::Add(n) => assert_eq!((n.post, n.subject), (Some(Id(9)), Id(51))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn types_are_known_names_separated_by_commas() {
        assert_eq!(
            Kind::parse_list("like,reply,like").unwrap(),
            [Kind::Like, Kind::Reply]
        );
        for bad in ["", "likes", "like,", "like, reply", "LIKE"] {
            assert!(Kind::parse_list(bad).is_err(), "{bad:?}");
        }
    }
}
