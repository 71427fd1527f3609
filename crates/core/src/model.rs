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

/// The columns a post is read with, from `posts p JOIN profiles u ON u.id = p.author_id`
/// (WriteService's table and AuthService's), in the order the stores' decoders take them
/// (`deployed::postgres::post_from_row`, `embedded::sqlite::post_from_row`).
pub const POST_COLUMNS: &str =
    "p.id, p.author_id, p.text, p.reply_to, p.created_at, p.edited_at, u.handle, u.display_name";

/// A post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Post {
    pub id: Id,
    pub author: Author,
    /// 1 to 280 characters.
    #[schema(min_length = 1, max_length = 280)]
    pub text: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the text was last edited; null if never.
    #[schema(format = DateTime)]
    pub edited_at: Option<String>,
    /// The post this one replies to, if any.
    pub reply_to: Option<Id>,
}

/// How many follow a user and how many the user follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowCounts {
    pub followers: u64,
    pub following: u64,
}
