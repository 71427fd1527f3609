//! The public objects of API.md, as they travel on the wire and between services.

use serde::{Deserialize, Serialize};

use crate::id::Id;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Id,
    pub handle: String,
    pub display_name: String,
    pub created_at: String,
    pub followers_count: u64,
    pub following_count: u64,
    pub posts_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub id: Id,
    pub author: Author,
    pub text: String,
    pub created_at: String,
    pub edited_at: Option<String>,
    pub reply_to: Option<Id>,
}

/// How many follow a user and how many the user follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowCounts {
    pub followers: u64,
    pub following: u64,
}
