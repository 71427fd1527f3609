//! What services ask of each other. Each trait is served by one service; in `chirp all`
//! the implementation is that service itself, in process, and in the deployed shape it is
//! an HTTP client of that service. Callers cannot tell the difference.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::id::Id;
use crate::model::{FollowCounts, Post, User, UserData};
use crate::page::PageRequest;

/// Hydrated users and posts. Served by ReadService.
#[async_trait]
pub trait Directory: Send + Sync {
    /// The users that exist among `ids`, in the order asked.
    async fn users(&self, ids: &[Id]) -> Result<Vec<User>, ApiError>;
    /// The posts that exist (not deleted) among `ids`, in the order asked.
    async fn posts(&self, ids: &[Id]) -> Result<Vec<Post>, ApiError>;
    /// The posts among `ids` that `viewer` may see (existing, and not by someone who
    /// blocks `viewer` or whom `viewer` blocks), in the order asked, with `viewer`'s own
    /// state.
    async fn posts_seen_by(&self, ids: &[Id], viewer: Id) -> Result<Vec<Post>, ApiError>;
    /// Whether a user exists; cheaper than hydrating one.
    async fn user_exists(&self, id: Id) -> Result<bool, ApiError>;
    /// Everything held about `user` besides the account: [`UserData`].
    async fn user_data(&self, user: Id) -> Result<UserData, ApiError>;
    /// The newest `limit` posts of `user`'s home timeline, as `GET
    /// /api/v1/timelines/home` gives them (a live stream's replay).
    async fn home(&self, user: Id, limit: usize) -> Result<Vec<Post>, ApiError>;
}

/// Who follows whom. Served by UserGraphService.
#[async_trait]
pub trait SocialGraph: Send + Sync {
    /// One batch of `user`'s followers, in follow order (newest first) below `page.before`,
    /// with the key to continue from.
    async fn followers(&self, user: Id, page: PageRequest) -> Result<GraphPage, ApiError>;
    /// Everyone `user` follows (bounded by the graph's own limits).
    async fn all_followees(&self, user: Id) -> Result<Vec<Id>, ApiError>;
    async fn counts(&self, users: &[Id]) -> Result<HashMap<Id, FollowCounts>, ApiError>;
    /// The accounts `user` follows that have more than `threshold` followers.
    async fn followees_above(&self, user: Id, threshold: u64) -> Result<Vec<Id>, ApiError>;
    /// Whether each `(follower, followee)` pair is a follow, in the order asked.
    async fn follows(&self, pairs: &[(Id, Id)]) -> Result<Vec<bool>, ApiError>;
    /// Every edge of `user`'s, newest first: [`UserEdges`].
    async fn edges_of(&self, user: Id) -> Result<UserEdges, ApiError>;
    /// Whose posts `user` does not see: [`Hidden`].
    async fn hidden_from(&self, user: Id) -> Result<Hidden, ApiError>;
    /// What a home read needs of the graph, in one call: [`HomeContext`].
    async fn home_context(&self, user: Id, threshold: u64) -> Result<HomeContext, ApiError>;
}

/// What a home read needs of the graph: whose posts the reader does not see, and the
/// accounts above the hybrid-fanout threshold whose posts are merged in at read (those
/// the reader follows, and the reader when above it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeContext {
    pub hidden: Hidden,
    pub celebrities: Vec<Id>,
}

/// A user's edges in the graph: whom they follow, who follows them, whom they block and
/// mute; each list newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEdges {
    pub following: Vec<Id>,
    pub followers: Vec<Id>,
    pub blocks: Vec<Id>,
    pub mutes: Vec<Id>,
}

/// Whose posts a user does not see, and where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hidden {
    /// Those the user blocks and those who block the user: hidden everywhere (home,
    /// search, threads' answers to them are refused).
    pub blocked: Vec<Id>,
    /// Those the user mutes: hidden from the home timeline (and notifications).
    pub muted: Vec<Id>,
}

impl Hidden {
    pub fn is_empty(&self) -> bool {
        self.blocked.is_empty() && self.muted.is_empty()
    }
}

/// Whether a reply by `author` to a post of `replied` reaches `reader`'s home timeline
/// whatever the graph says: the author's own, a reply to one's own post (which reaches
/// every follower), and a reply to the reader. Otherwise it reaches the reader only if
/// the reader follows `replied` (API.md: a reply reaches the followers who also follow
/// the author replied to).
pub fn reply_reaches_without_a_follow(reader: Id, author: Id, replied: Id) -> bool {
    reader == author || replied == author || reader == replied
}

/// Those of `others` whom `user` follows: one call to the graph.
pub async fn followed_among(
    graph: &dyn SocialGraph,
    user: Id,
    mut others: Vec<Id>,
) -> Result<std::collections::HashSet<Id>, ApiError> {
    others.sort_unstable();
    others.dedup();
    let pairs: Vec<(Id, Id)> = others.iter().map(|o| (user, *o)).collect();
    let follows = graph.follows(&pairs).await?;
    Ok(others
        .into_iter()
        .zip(follows)
        .filter_map(|(o, f)| f.then_some(o))
        .collect())
}

/// A page of user ids from the graph, each with the key it is ordered by.
#[derive(Debug, Clone, Default)]
pub struct GraphPage {
    pub users: Vec<Id>,
    pub keys: Vec<u64>,
    pub more: bool,
}

/// One entry of a home timeline: the post and who wrote it (so that an unfollow can take
/// an author's posts out without asking the posts store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimelineEntry {
    pub post: Id,
    pub author: Id,
}

/// Home timelines. Served by TimelineService.
#[async_trait]
pub trait Timelines: Send + Sync {
    /// Post ids of `user`'s home timeline, newest first; rebuilds a cold one first.
    async fn page(&self, user: Id, page: PageRequest) -> Result<Vec<Id>, ApiError>;
    /// Adds `entry` to each of `users`' timelines; an entry already there changes nothing.
    async fn deliver(&self, users: &[Id], entry: TimelineEntry) -> Result<(), ApiError>;
    /// Adds each user's entries to that user's timeline: what [`deliver`](Self::deliver)
    /// does, for many posts at once (a batch of events), in as few calls as it can.
    async fn deliver_each(&self, timelines: &[(Id, Vec<TimelineEntry>)]) -> Result<(), ApiError>;
    /// Takes `post` out of each of `users`' timelines.
    async fn retract(&self, users: &[Id], post: Id) -> Result<(), ApiError>;
    /// `follower` now follows `followee`: bring the followee's recent posts in.
    async fn backfill(&self, follower: Id, followee: Id) -> Result<(), ApiError>;
    /// `follower` stopped following `followee`: take the followee's posts out.
    async fn purge(&self, follower: Id, followee: Id) -> Result<(), ApiError>;
}

/// A [`Directory`] bound after construction, for the one cycle in the wiring
/// (UserGraphService hydrates users through ReadService, which counts follows through
/// UserGraphService). It holds the directory weakly, so the cycle does not leak.
#[derive(Default)]
pub struct LateDirectory {
    inner: std::sync::OnceLock<std::sync::Weak<dyn Directory>>,
}

impl LateDirectory {
    pub fn bind(&self, directory: &std::sync::Arc<dyn Directory>) {
        let _ = self.inner.set(std::sync::Arc::downgrade(directory));
    }

    fn get(&self) -> Result<std::sync::Arc<dyn Directory>, ApiError> {
        self.inner
            .get()
            .and_then(std::sync::Weak::upgrade)
            .ok_or_else(|| ApiError::unavailable("ReadService", anyhow::anyhow!("not bound")))
    }
}

#[async_trait]
impl Directory for LateDirectory {
    async fn users(&self, ids: &[Id]) -> Result<Vec<User>, ApiError> {
        self.get()?.users(ids).await
    }

    async fn posts(&self, ids: &[Id]) -> Result<Vec<Post>, ApiError> {
        self.get()?.posts(ids).await
    }

    async fn posts_seen_by(&self, ids: &[Id], viewer: Id) -> Result<Vec<Post>, ApiError> {
        self.get()?.posts_seen_by(ids, viewer).await
    }

    async fn user_data(&self, user: Id) -> Result<UserData, ApiError> {
        self.get()?.user_data(user).await
    }

    async fn user_exists(&self, id: Id) -> Result<bool, ApiError> {
        self.get()?.user_exists(id).await
    }

    async fn home(&self, user: Id, limit: usize) -> Result<Vec<Post>, ApiError> {
        self.get()?.home(user, limit).await
    }
}
