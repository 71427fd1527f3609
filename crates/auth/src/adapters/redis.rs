//! Refresh sessions and login throttles in Redis: the deployed adapters.
//!
//! A session is `sess:{S}` (user, revoked) and one hash per token, `sess:{S}:t:<sha256>`
//! (used, expires), all tagged `{S}` so that a rotation is one script on one slot. Keys
//! expire with the last token of their session. A throttle is a sorted set of failure
//! times, `throttle:{<key>}`, trimmed to its window and expiring with it.

use async_trait::async_trait;
use chirp_core::deployed::redis::Redis;
use chirp_core::store::{StoreError, StoreResult};
use chirp_core::Id;
use rand::RngCore;
use redis::Script;

use crate::ports::{LoginThrottle, Rotation, SessionStore, TokenRef};

const START: &str = r"
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'revoked', '0')
redis.call('HSET', KEYS[2], 'used', '0', 'expires', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[2], ARGV[2])
return 1
";

const ROTATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 'invalid' end
if redis.call('HGET', KEYS[1], 'revoked') == '1' then return 'invalid' end
local t = redis.call('HMGET', KEYS[2], 'used', 'expires')
if not t[2] then return 'invalid' end
if t[1] == '1' then return 'reused' end
if tonumber(t[2]) <= tonumber(ARGV[1]) then return 'invalid' end
redis.call('HSET', KEYS[2], 'used', '1')
redis.call('HSET', KEYS[3], 'used', '0', 'expires', ARGV[2])
redis.call('PEXPIREAT', KEYS[3], ARGV[2])
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 'rotated:' .. redis.call('HGET', KEYS[1], 'user')
";

const REVOKE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'revoked', '1') end
return 1
";

pub struct RedisSessions {
    redis: Redis,
    start: Script,
    rotate: Script,
    revoke: Script,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl RedisSessions {
    pub fn new(redis: Redis) -> Self {
        RedisSessions {
            redis,
            start: Script::new(START),
            rotate: Script::new(ROTATE),
            revoke: Script::new(REVOKE),
        }
    }

    fn session_key(&self, session: Id) -> String {
        self.redis.key("sess", session, "")
    }

    fn token_key(&self, t: &TokenRef) -> String {
        self.redis
            .key("sess", t.session, &format!(":t:{}", hex(&t.hash)))
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn start(&self, user: Id, token: &TokenRef, expires_at_ms: i64) -> StoreResult<()> {
        let mut c = self.redis.conn().await?;
        let _: i64 = self
            .start
            .key(self.session_key(token.session))
            .key(self.token_key(token))
            .arg(user.get())
            .arg(expires_at_ms)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    async fn rotate(
        &self,
        old: &TokenRef,
        new: &TokenRef,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> StoreResult<Rotation> {
        if old.session != new.session {
            return Ok(Rotation::Invalid);
        }
        let mut c = self.redis.conn().await?;
        let outcome: String = self
            .rotate
            .key(self.session_key(old.session))
            .key(self.token_key(old))
            .key(self.token_key(new))
            .arg(now_ms)
            .arg(expires_at_ms)
            .invoke_async(&mut c)
            .await?;
        Ok(match outcome.split_once(':') {
            Some(("rotated", user)) => Rotation::Rotated {
                user: user.parse().map_err(|e| StoreError::new("redis", e))?,
                session: old.session,
            },
            _ if outcome == "reused" => Rotation::Reused {
                session: old.session,
            },
            _ => Rotation::Invalid,
        })
    }

    async fn revoke(&self, session: Id) -> StoreResult<()> {
        let mut c = self.redis.conn().await?;
        let _: i64 = self
            .revoke
            .key(self.session_key(session))
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    async fn knows(&self, token: &TokenRef) -> StoreResult<bool> {
        let mut c = self.redis.conn().await?;
        Ok(redis::cmd("EXISTS")
            .arg(self.token_key(token))
            .query_async(&mut c)
            .await?)
    }
}

pub struct RedisThrottle {
    redis: Redis,
}

impl RedisThrottle {
    pub fn new(redis: Redis) -> Self {
        RedisThrottle { redis }
    }

    fn key(&self, key: &str) -> String {
        // Braces in the throttled key would break the hash tag; they cannot occur in the
        // keys AuthService makes, but strip them anyway.
        let safe: String = key.chars().filter(|c| *c != '{' && *c != '}').collect();
        self.redis.key("throttle", safe, "")
    }
}

#[async_trait]
impl LoginThrottle for RedisThrottle {
    async fn failures(&self, key: &str, since_ms: i64) -> StoreResult<(u32, Option<i64>)> {
        let mut c = self.redis.conn().await?;
        let k = self.key(key);
        let count: u32 = redis::cmd("ZCOUNT")
            .arg(&k)
            .arg(since_ms)
            .arg("+inf")
            .query_async(&mut c)
            .await?;
        let oldest: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
            .arg(&k)
            .arg(since_ms)
            .arg("+inf")
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            .arg(1)
            .query_async(&mut c)
            .await?;
        Ok((count, oldest.first().map(|(_, at)| *at as i64)))
    }

    async fn record_failure(&self, key: &str, at_ms: i64, window_ms: i64) -> StoreResult<()> {
        let mut c = self.redis.conn().await?;
        let k = self.key(key);
        let nonce = rand::rngs::OsRng.next_u64();
        let _: () = redis::pipe()
            .atomic()
            .cmd("ZADD")
            .arg(&k)
            .arg(at_ms)
            .arg(format!("{at_ms}-{nonce:016x}"))
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&k)
            .arg("-inf")
            .arg(format!("({}", at_ms - window_ms))
            .ignore()
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(window_ms)
            .ignore()
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        let mut c = self.redis.conn().await?;
        let _: () = redis::cmd("DEL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?;
        Ok(())
    }
}
