//! UserGraphService's logic: follow, block and mute rules, relationships, and the graph as
//! other services see it.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::events::{Event, EventBody, Topic};
use chirp_core::model::{FollowCounts, Relationship, User};
use chirp_core::page::{Page, PageRequest};
use chirp_core::peers::{Directory, GraphPage, Hidden, HomeContext, SocialGraph, UserEdges};
use chirp_core::time::now_ms;
use chirp_core::{ApiError, ApiResult, Id, IdGenerator};
use tokio::sync::Notify;

use crate::adapters::redis::RedisGraphCache;
use crate::ports::{BlockEvents, Edge, FollowStore, Followed};

/// The most followees a home timeline is built from.
pub const MAX_FOLLOWING_READ: usize = 10_000;

/// Users read per page when every edge of a user is read (an export).
const EDGES_PAGE: usize = 1000;

/// The most users one relationships request may ask about.
pub const MAX_RELATIONSHIPS: usize = 100;

pub struct GraphService {
    pub store: Arc<dyn FollowStore>,
    /// The store's hot reads kept in Redis (deployed): `store` reads through it, and a
    /// consumer group of its own takes the graph's events to keep it right.
    pub cache: Option<Arc<RedisGraphCache>>,
    pub directory: Arc<dyn Directory>,
    pub ids: Arc<IdGenerator>,
    pub outbox_wake: Arc<Notify>,
}

#[derive(Clone, Copy)]
pub enum Side {
    Followers,
    Following,
}

impl GraphService {
    pub async fn follow(&self, caller: Id, target: Id) -> ApiResult<()> {
        if caller == target {
            return Err(ApiError::Unprocessable("you cannot follow yourself".into()));
        }
        self.must_exist(target).await?;
        let key = self.ids.next_id()?;
        let event = self.event(EventBody::FollowCreated {
            follower: caller,
            followee: target,
        })?;
        match self.store.follow(caller, target, key.get(), &event).await? {
            Followed::Now { .. } => self.outbox_wake.notify_one(),
            Followed::Already => {}
            Followed::Blocked => {
                return Err(ApiError::Forbidden(
                    "a block stands between you and this user".into(),
                ))
            }
        }
        Ok(())
    }

    /// `caller` blocks `target`: the follows between them end, both ways.
    pub async fn block(&self, caller: Id, target: Id) -> ApiResult<()> {
        if caller == target {
            return Err(ApiError::Unprocessable("you cannot block yourself".into()));
        }
        self.must_exist(target).await?;
        let key = self.ids.next_id()?;
        let events = BlockEvents {
            block: self.event(EventBody::BlockCreated {
                blocker: caller,
                blocked: target,
            })?,
            unfollow: self.event(EventBody::FollowDeleted {
                follower: caller,
                followee: target,
            })?,
            unfollowed: self.event(EventBody::FollowDeleted {
                follower: target,
                followee: caller,
            })?,
        };
        if self.store.block(caller, target, key.get(), &events).await? {
            self.outbox_wake.notify_one();
        }
        Ok(())
    }

    pub async fn mute(&self, caller: Id, target: Id) -> ApiResult<()> {
        if caller == target {
            return Err(ApiError::Unprocessable("you cannot mute yourself".into()));
        }
        self.must_exist(target).await?;
        let key = self.ids.next_id()?;
        let event = self.event(EventBody::MuteCreated {
            muter: caller,
            muted: target,
        })?;
        if self.store.mute(caller, target, key.get(), &event).await? {
            self.outbox_wake.notify_one();
        }
        Ok(())
    }

    /// Ends `caller`'s block or mute of `target`.
    pub async fn undo(&self, edge: Edge, caller: Id, target: Id) -> ApiResult<()> {
        if caller == target {
            return Err(ApiError::Unprocessable(match edge {
                Edge::Block => "you cannot unblock yourself".into(),
                Edge::Mute => "you cannot unmute yourself".into(),
            }));
        }
        self.must_exist(target).await?;
        let event = self.event(match edge {
            Edge::Block => EventBody::BlockDeleted {
                blocker: caller,
                blocked: target,
            },
            Edge::Mute => EventBody::MuteDeleted {
                muter: caller,
                muted: target,
            },
        })?;
        if self.store.remove_edge(edge, caller, target, &event).await? {
            self.outbox_wake.notify_one();
        }
        Ok(())
    }

    /// Whom `caller` blocks or mutes, most recent first.
    pub async fn edges(&self, edge: Edge, caller: Id, req: PageRequest) -> ApiResult<Page<User>> {
        let page = self.store.edges(edge, caller, req).await?;
        let users = self.directory.users(&page.users).await?;
        Ok(Page::from_keys(users, &page.keys, &req, page.more))
    }

    /// What lies between `caller` and each of `ids` (1 to 100, in the order asked).
    pub async fn relationships(&self, caller: Id, ids: &[Id]) -> ApiResult<Vec<Relationship>> {
        if ids.is_empty() || ids.len() > MAX_RELATIONSHIPS {
            return Err(ApiError::BadRequest(format!(
                "ids must name 1 to {MAX_RELATIONSHIPS} users"
            )));
        }
        Ok(self.store.relationships(caller, ids).await?)
    }

    pub async fn unfollow(&self, caller: Id, target: Id) -> ApiResult<()> {
        if caller == target {
            return Err(ApiError::Unprocessable(
                "you cannot unfollow yourself".into(),
            ));
        }
        self.must_exist(target).await?;
        let event = self.event(EventBody::FollowDeleted {
            follower: caller,
            followee: target,
        })?;
        if self.store.unfollow(caller, target, &event).await? {
            self.outbox_wake.notify_one();
        }
        Ok(())
    }

    pub async fn list(&self, user: Id, side: Side, req: PageRequest) -> ApiResult<Page<User>> {
        self.must_exist(user).await?;
        let page = match side {
            Side::Followers => self.store.followers(user, req).await,
            Side::Following => self.store.following(user, req).await,
        }?;
        let users = self.directory.users(&page.users).await?;
        Ok(Page::from_keys(users, &page.keys, &req, page.more))
    }

    async fn must_exist(&self, user: Id) -> ApiResult<()> {
        if self.directory.user_exists(user).await? {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("no user {user}")))
        }
    }

    fn event(&self, body: EventBody) -> ApiResult<Event> {
        Ok(Event {
            id: self.ids.next_id()?,
            // A follow is a pair that exists or not; the newest event about it wins.
            version: 1,
            occurred_at_ms: now_ms(),
            trace: chirp_core::traces::current(),
            body,
        })
    }
}

#[async_trait]
impl SocialGraph for GraphService {
    async fn followers(&self, user: Id, page: PageRequest) -> ApiResult<GraphPage> {
        Ok(self.store.followers(user, page).await?)
    }

    async fn all_followees(&self, user: Id) -> ApiResult<Vec<Id>> {
        Ok(self.store.all_following(user, MAX_FOLLOWING_READ).await?)
    }

    async fn counts(&self, users: &[Id]) -> ApiResult<HashMap<Id, FollowCounts>> {
        Ok(self.store.counts(users).await?)
    }

    async fn followees_above(&self, user: Id, threshold: u64) -> ApiResult<Vec<Id>> {
        Ok(self.store.following_above(user, threshold).await?)
    }

    async fn edges_of(&self, user: Id) -> ApiResult<UserEdges> {
        /// Every user of one list, a page at a time.
        async fn all<F, Fut>(mut page: F) -> ApiResult<Vec<Id>>
        where
            F: FnMut(PageRequest) -> Fut,
            Fut: std::future::Future<Output = chirp_core::store::StoreResult<GraphPage>>,
        {
            let mut users = Vec::new();
            let mut req = PageRequest::first(EDGES_PAGE);
            loop {
                let p = page(req).await?;
                users.extend(p.users);
                match p.keys.last() {
                    Some(last) if p.more => req.before = Some(*last),
                    _ => return Ok(users),
                }
            }
        }
        // From the record, not the cache: a deleted account's edges are each ended from
        // this list, and an entry the cache has not been told of yet would leave one.
        let s = self.cache.as_ref().map_or(&self.store, |c| c.record());
        Ok(UserEdges {
            following: all(|r| s.following(user, r)).await?,
            followers: all(|r| s.followers(user, r)).await?,
            blocks: all(|r| s.edges(Edge::Block, user, r)).await?,
            mutes: all(|r| s.edges(Edge::Mute, user, r)).await?,
        })
    }

    async fn follows(&self, pairs: &[(Id, Id)]) -> ApiResult<Vec<bool>> {
        Ok(self.store.follows_each(pairs).await?)
    }

    async fn hidden_from(&self, user: Id) -> ApiResult<Hidden> {
        Ok(self.store.hidden_from(user).await?)
    }

    async fn home_context(&self, user: Id, threshold: u64) -> ApiResult<HomeContext> {
        Ok(self.store.home_context(user, threshold).await?)
    }
}

/// UserGraphService's consumer group: it forgets the edges of a deleted account. (With
/// the cache in Redis, the cache has a group of its own on `chirp.graph`:
/// [`crate::adapters::redis::GROUP`].)
pub const GROUP: &str = "chirp-graph";
pub const TOPICS: &[Topic] = &[Topic::Users];

impl GraphService {
    /// A deleted account's follows end both ways, each with its `follow.deleted` and its
    /// counts (as an unfollow would: timelines are purged from them); its blocks and mutes,
    /// and others' of it, go. Idempotent: a follow already ended is passed over.
    async fn forget_user(&self, user: Id) -> ApiResult<()> {
        let edges = self.edges_of(user).await?;
        let follows = edges.following.iter().map(|f| (user, *f));
        let followed = edges.followers.iter().map(|f| (*f, user));
        let mut ended = 0usize;
        for (follower, followee) in follows.chain(followed) {
            let event = self.event(EventBody::FollowDeleted { follower, followee })?;
            if self.store.unfollow(follower, followee, &event).await? {
                ended += 1;
                if ended.is_multiple_of(256) {
                    self.outbox_wake.notify_one();
                }
            }
        }
        self.outbox_wake.notify_one();
        self.store.forget_edges_of(user).await?;
        tracing::info!(user = %user, follows = ended, "a deleted account's edges are gone");
        Ok(())
    }
}

#[async_trait]
impl chirp_core::events::EventHandler for GraphService {
    async fn handle(&self, events: &[Event]) -> anyhow::Result<()> {
        for e in events {
            if let EventBody::UserDeleted { user_id } = &e.body {
                self.forget_user(*user_id).await.map_err(|err| {
                    anyhow::anyhow!("forgetting the edges of user {user_id}: {err:#}")
                })?;
            }
        }
        Ok(())
    }
}
