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

/// A post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
