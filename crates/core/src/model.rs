//! The public objects of API.md, as they travel on the wire and between services.

use serde::{Deserialize, Serialize};

use crate::id::Id;

/// A user, as everyone may see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: Id,
    /// 3 to 30 of `A-Z a-z 0-9 _`, unique ignoring case.
    #[schema(pattern = "^[A-Za-z0-9_]{3,30}$", example = "alice")]
    pub handle: String,
    /// 1 to 50 characters.
    #[schema(min_length = 1, max_length = 50, example = "Alice")]
    pub display_name: String,
    /// 0 to 160 characters; `""` until set.
    #[schema(max_length = 160)]
    pub bio: String,
    /// When the account was made (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Eventual (within 5 s of a follow).
    pub followers_count: u64,
    pub following_count: u64,
    pub posts_count: u64,
}

/// The author of a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Author {
    pub id: Id,
    pub handle: String,
    pub display_name: String,
}

/// The columns a post is read with, from [`POST_FROM`], in the order the stores' decoders
/// take them (`deployed::postgres::post_from_row`, `embedded::sqlite::post_from_row`).
pub const POST_COLUMNS: &str = "p.id, p.author_id, p.text, p.reply_to, p.created_at, p.edited_at, \
     u.handle, u.display_name, p.mentions, COALESCE(s.replies, 0), COALESCE(s.likes, 0), \
     COALESCE(s.reposts, 0), p.repost_of";

/// How many columns [`POST_COLUMNS`] names: a query's own columns follow them.
pub const POST_COLUMN_COUNT: usize = 13;

/// The tables a post is read from: WriteService's posts and their counts, and AuthService's
/// public profiles.
pub const POST_FROM: &str = "posts p JOIN profiles u ON u.id = p.author_id \
     LEFT JOIN post_stats s ON s.post_id = p.id";

/// A user a post mentions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mention {
    pub id: Id,
    pub handle: String,
}

/// A user named in a list: their id and handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserRef {
    pub id: Id,
    pub handle: String,
}

/// What Chirp holds about a user besides the account itself (its profile and e-mail):
/// their posts, what they liked, and their place in the graph. Every list newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserData {
    /// Every live post of theirs (with its counts).
    pub posts: Vec<Post>,
    /// The posts they liked that are still there.
    pub likes: Vec<Id>,
    pub following: Vec<UserRef>,
    pub followers: Vec<UserRef>,
    pub blocks: Vec<UserRef>,
    pub mutes: Vec<UserRef>,
}

/// What the caller has done to a post.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Viewer {
    pub liked: bool,
    pub reposted: bool,
}

// Written out by hand (`Post::write`), so that a shared post can be written with one
// caller's `viewer` state without being copied: see `Shown`.
/// A post.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct Post {
    pub id: Id,
    pub author: Author,
    /// 1 to 280 characters; `""` for a repost.
    #[schema(max_length = 280)]
    pub text: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the text was last edited; null if never.
    #[schema(format = DateTime)]
    pub edited_at: Option<String>,
    /// The post this one replies to, if any.
    pub reply_to: Option<Id>,
    /// For a repost, the reposted post.
    #[schema(no_recursion)]
    pub repost_of: Option<Box<Post>>,
    /// The `@handle`s of the text that named a user when the post was written or last
    /// edited, in order of first appearance.
    pub mentions: Vec<Mention>,
    /// The `#tag`s of the text, lower-cased, in order of first appearance.
    pub tags: Vec<String>,
    /// Eventual, like every count.
    pub reply_count: u64,
    pub like_count: u64,
    pub repost_count: u64,
    /// The caller's own like and repost: present when the request carries a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewer: Option<Viewer>,
}

impl Post {
    /// What a store reads of a repost's original: its id alone, until the reader puts the
    /// whole post in its place ([`Post::original_id`] tells it which).
    pub fn placeholder(id: Id) -> Post {
        Post {
            id,
            author: Author {
                id: Id(0),
                handle: String::new(),
                display_name: String::new(),
            },
            text: String::new(),
            created_at: String::new(),
            edited_at: None,
            reply_to: None,
            repost_of: None,
            mentions: Vec::new(),
            tags: Vec::new(),
            reply_count: 0,
            like_count: 0,
            repost_count: 0,
            viewer: None,
        }
    }

    /// For a repost, the id of the post it reposts.
    pub fn original_id(&self) -> Option<Id> {
        self.repost_of.as_ref().map(|o| o.id)
    }

    /// The post whose counts and viewer state a reader means: the original, for a repost.
    pub fn target_id(&self) -> Id {
        self.original_id().unwrap_or(self.id)
    }

    /// Writes the post, with `caller`'s state in place of its own `viewer` (on the post
    /// and, for a repost, on its original) when there is one.
    fn write<S: serde::Serializer>(
        &self,
        caller: Option<Viewer>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let viewer = caller.or(self.viewer);
        let mut s = serializer.serialize_struct("Post", 13)?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("author", &self.author)?;
        s.serialize_field("text", &self.text)?;
        s.serialize_field("created_at", &self.created_at)?;
        s.serialize_field("edited_at", &self.edited_at)?;
        s.serialize_field("reply_to", &self.reply_to)?;
        s.serialize_field(
            "repost_of",
            &self
                .repost_of
                .as_deref()
                .map(|original| WithState(original, caller)),
        )?;
        s.serialize_field("mentions", &self.mentions)?;
        s.serialize_field("tags", &self.tags)?;
        s.serialize_field("reply_count", &self.reply_count)?;
        s.serialize_field("like_count", &self.like_count)?;
        s.serialize_field("repost_count", &self.repost_count)?;
        match viewer {
            Some(v) => s.serialize_field("viewer", &v)?,
            None => s.skip_field("viewer")?,
        }
        s.end()
    }

    /// The mentions as the stores keep them (a JSON array).
    pub fn mentions_json(mentions: &[Mention]) -> String {
        serde_json::to_string(mentions).unwrap_or_else(|_| "[]".into())
    }

    /// The mentions from what the stores keep; an unreadable value is no mentions.
    pub fn mentions_from_json(raw: &str) -> Vec<Mention> {
        if raw == "[]" {
            return Vec::new();
        }
        serde_json::from_str(raw).unwrap_or_default()
    }
}

impl Serialize for Post {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.write(None, serializer)
    }
}

/// A post as one caller sees it: the post, shared with every other reader of it (a
/// store that keeps posts in memory hands out the ones it keeps), and the caller's own
/// `viewer` state, written out together as the post with that state. Hydrating a page
/// for a caller so costs no copy of its posts.
#[derive(Debug, Clone)]
pub struct Shown {
    pub post: std::sync::Arc<Post>,
    pub viewer: Option<Viewer>,
}

impl Shown {
    pub fn new(post: std::sync::Arc<Post>, viewer: Option<Viewer>) -> Self {
        Shown { post, viewer }
    }

    /// The post itself with the caller's state in it (copied only when shared).
    pub fn into_post(self) -> Post {
        let mut post = std::sync::Arc::unwrap_or_clone(self.post);
        if self.viewer.is_some() {
            post.viewer = self.viewer;
            if let Some(original) = &mut post.repost_of {
                original.viewer = self.viewer;
            }
        }
        post
    }
}

impl std::ops::Deref for Shown {
    type Target = Post;
    fn deref(&self) -> &Post {
        &self.post
    }
}

impl Serialize for Shown {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.post.write(self.viewer, serializer)
    }
}

/// A post written with a caller's state (a repost's original, inside the repost).
struct WithState<'a>(&'a Post, Option<Viewer>);

impl Serialize for WithState<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.write(self.1, serializer)
    }
}

/// What lies between the caller and one user, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Relationship {
    /// The user.
    pub id: Id,
    /// The caller follows them.
    pub following: bool,
    /// They follow the caller.
    pub followed_by: bool,
    /// The caller blocks them.
    pub blocking: bool,
    /// They block the caller.
    pub blocked_by: bool,
    /// The caller mutes them.
    pub muting: bool,
}

impl Relationship {
    /// Nothing between the caller and `id`.
    pub fn none(id: Id) -> Self {
        Relationship {
            id,
            following: false,
            followed_by: false,
            blocking: false,
            blocked_by: false,
            muting: false,
        }
    }
}

/// How many follow a user and how many the user follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowCounts {
    pub followers: u64,
    pub following: u64,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_post_columns_are_counted_right() {
        // The commas outside parentheses part the columns.
        let mut depth = 0;
        let mut columns = 1;
        for c in POST_COLUMNS.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => columns += 1,
                _ => {}
            }
        }
        assert_eq!(columns, POST_COLUMN_COUNT);
    }

    fn post(id: u64, repost_of: Option<Post>, viewer: Option<Viewer>) -> Post {
        Post {
            id: Id(id),
            author: Author {
                id: Id(7),
                handle: "alice".into(),
                display_name: "Alice \"A\"".into(),
            },
            text: "hi @bob #Rust".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            edited_at: Some("2026-01-01T00:01:00.000Z".into()),
            reply_to: Some(Id(3)),
            repost_of: repost_of.map(Box::new),
            mentions: vec![Mention {
                id: Id(8),
                handle: "bob".into(),
            }],
            tags: vec!["rust".into()],
            reply_count: 1,
            like_count: 2,
            repost_count: 3,
            viewer,
        }
    }

    #[test]
    fn a_post_written_by_hand_reads_back_whole() {
        // Every field is required but `viewer`: one left out of the writer fails to read.
        let state = Some(Viewer {
            liked: true,
            reposted: false,
        });
        for p in [
            post(1, None, None),
            post(1, None, state),
            post(2, Some(post(1, None, state)), state),
        ] {
            let text = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Post>(&text).unwrap(), p, "{text}");
        }
        let plain = serde_json::to_value(post(1, None, None)).unwrap();
        assert!(plain.get("viewer").is_none(), "{plain}");
    }

    #[test]
    fn a_shown_post_is_written_as_the_post_with_the_callers_state() {
        let state = Some(Viewer {
            liked: false,
            reposted: true,
        });
        for shared in [
            post(1, None, None),
            post(2, Some(post(1, None, None)), None),
        ] {
            let shared = Arc::new(shared);
            for viewer in [None, state] {
                let shown = Shown::new(shared.clone(), viewer);
                let written = serde_json::to_value(&shown).unwrap();
                let whole = shown.clone().into_post();
                assert_eq!(whole.viewer, viewer);
                if let Some(original) = &whole.repost_of {
                    assert_eq!(original.viewer, viewer);
                }
                assert_eq!(written, serde_json::to_value(&whole).unwrap());
            }
            // The shared post itself is left as it was.
            assert_eq!(shared.viewer, None);
        }
    }
}
