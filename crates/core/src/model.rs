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
