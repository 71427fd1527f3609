//! UserGraphService's logic: follow rules, and the graph as other services see it.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::events::{Event, EventBody};
use chirp_core::model::{FollowCounts, User};
use chirp_core::page::{Page, PageRequest};
use chirp_core::peers::{Directory, GraphPage, SocialGraph};
use chirp_core::time::now_ms;
use chirp_core::{ApiError, ApiResult, Id, IdGenerator};
use tokio::sync::Notify;

use crate::ports::FollowStore;

/// The most followees a home timeline is built from.
pub const MAX_FOLLOWING_READ: usize = 10_000;

pub struct GraphService {
    pub store: Arc<dyn FollowStore>,
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
        if self.store.follow(caller, target, key.get(), &event).await? {
            self.outbox_wake.notify_one();
        }
        Ok(())
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
}
