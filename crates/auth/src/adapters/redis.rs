//! Refresh sessions in Redis: the deployed adapter.
//!
//! A session is `sess:{S}` (user, revoked) and one hash per token, `sess:{S}:t:<sha256>`
//! (used, expires), all tagged `{S}` so that a rotation is one script on one slot. Keys
//! expire with the last token of their session.

use async_trait::async_trait;
use chirp_core::deployed::redis::Redis;
use chirp_core::store::{StoreError, StoreResult};
use chirp_core::Id;
use redis::Script;

use crate::ports::{Rotation, SessionStore, TokenRef};

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
