//! Accounts whose access tokens stopped counting before they expire: a deleted account's
//! tokens are refused by every service from the moment its deletion is answered, not when
//! they run out. What is kept is when (a token issued then or before no longer counts, so
//! that a deletion that fails after it leaves the account usable after a new sign-in), for
//! as long as a token issued before could live; then it is forgotten.
//! Deployed: Redis, which every process's routes ask; embedded: process memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use async_trait::async_trait;

use crate::deployed::redis::Redis;
use crate::id::Id;
use crate::store::StoreResult;
use crate::time::now_ms;
use crate::timed::Timed;

#[async_trait]
pub trait Revocations: Send + Sync {
    /// For `for_ms` from now, no access token of `user` issued at `at_s` (Unix seconds)
    /// or before counts.
    async fn revoke(&self, user: Id, at_s: i64, for_ms: i64) -> StoreResult<()>;
    /// When `user`'s tokens stopped counting, if they did: tokens issued then or before
    /// are refused.
    async fn revoked_at(&self, user: Id) -> StoreResult<Option<i64>>;
}

/// In the memory of the one process (`chirp all`) whose every service asks it.
#[derive(Default)]
pub struct MemoryRevocations {
    /// The user: when (Unix s), and until when it is kept (Unix ms).
    until: RwLock<HashMap<Id, (i64, i64)>>,
    /// Whether any was ever revoked: until then, a check takes no lock.
    any: AtomicBool,
}

#[async_trait]
impl Revocations for MemoryRevocations {
    async fn revoke(&self, user: Id, at_s: i64, for_ms: i64) -> StoreResult<()> {
        let now = now_ms();
        let mut until = self.until.write().unwrap_or_else(|p| p.into_inner());
        until.retain(|_, (_, t)| *t > now);
        until.insert(user, (at_s, now + for_ms));
        self.any.store(true, Ordering::Release);
        Ok(())
    }

    async fn revoked_at(&self, user: Id) -> StoreResult<Option<i64>> {
        if !self.any.load(Ordering::Acquire) {
            return Ok(None);
        }
        let until = self.until.read().unwrap_or_else(|p| p.into_inner());
        let now = now_ms();
        Ok(until
            .get(&user)
            .filter(|(_, t)| *t > now)
            .map(|(at, _)| *at))
    }
}

/// One key per revoked user, expiring with the last token it could have.
pub struct RedisRevocations {
    redis: Redis,
}

impl RedisRevocations {
    pub fn new(redis: Redis) -> Self {
        RedisRevocations { redis }
    }
}

#[async_trait]
impl Revocations for RedisRevocations {
    async fn revoke(&self, user: Id, at_s: i64, for_ms: i64) -> StoreResult<()> {
        let mut c = self.redis.conn().await?;
        let _: () = redis::cmd("SET")
            .arg(self.redis.key("revoked", user, ""))
            .arg(at_s)
            .arg("PX")
            .arg(for_ms.max(1))
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    async fn revoked_at(&self, user: Id) -> StoreResult<Option<i64>> {
        let mut c = self.redis.conn().await?;
        let at: Option<i64> = redis::cmd("GET")
            .arg(self.redis.key("revoked", user, ""))
            .query_async(&mut c)
            .await?;
        Ok(at)
    }
}

#[async_trait]
impl Revocations for Timed<dyn Revocations> {
    async fn revoke(&self, user: Id, at_s: i64, for_ms: i64) -> StoreResult<()> {
        self.time("revoke", self.inner().revoke(user, at_s, for_ms))
            .await
    }
    async fn revoked_at(&self, user: Id) -> StoreResult<Option<i64>> {
        self.time("revoked_at", self.inner().revoked_at(user)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_revocation_holds_for_its_time_and_only_for_its_user() {
        let r = MemoryRevocations::default();
        assert_eq!(r.revoked_at(Id(1)).await.unwrap(), None);
        r.revoke(Id(1), 500, 60_000).await.unwrap();
        r.revoke(Id(2), 500, -1).await.unwrap();
        assert_eq!(r.revoked_at(Id(1)).await.unwrap(), Some(500));
        assert_eq!(r.revoked_at(Id(2)).await.unwrap(), None, "expired");
        assert_eq!(r.revoked_at(Id(3)).await.unwrap(), None);
    }
}
