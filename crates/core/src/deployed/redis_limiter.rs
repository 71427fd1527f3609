//! Sliding-window limits in Redis: a sorted set of attempt times per key, trimmed to its
//! window, counted and added to by one script, so that every process of a service counts
//! the same attempts and two attempts at once cannot both take the last place.

use async_trait::async_trait;
use redis::Script;

use super::redis::Redis;
use crate::limits::{Attempt, Limit, Limiter};
use crate::store::StoreResult;

/// KEYS[1]: the key. ARGV: now (ms), window (ms), limit, the attempt's member.
/// Returns {counted (0|1), when the oldest attempt leaves the window, attempts counted}.
const ATTEMPT: &str = r"
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local first = now
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then first = tonumber(oldest[2]) end
if n >= tonumber(ARGV[3]) then return {0, first + window, n} end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, first + window, n + 1}
";

pub struct RedisLimiter {
    redis: Redis,
    attempt: Script,
}

impl RedisLimiter {
    pub fn new(redis: Redis) -> Self {
        RedisLimiter {
            redis,
            attempt: Script::new(ATTEMPT),
        }
    }

    fn key(&self, key: &str) -> String {
        // A brace in the limited key would break the hash tag.
        let safe: String = key.chars().filter(|c| *c != '{' && *c != '}').collect();
        self.redis.key("limit", safe, "")
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn attempt(&self, key: &str, now_ms: i64, limit: Limit) -> StoreResult<Attempt> {
        let mut c = self.redis.conn().await?;
        let id = format!("{now_ms}-{:016x}", rand::random::<u64>());
        let (counted, resets_at_ms, count): (i64, i64, u32) = self
            .attempt
            .key(self.key(key))
            .arg(now_ms)
            .arg(limit.window.as_millis() as i64)
            .arg(limit.attempts)
            .arg(&id)
            .invoke_async(&mut c)
            .await?;
        Ok(if counted == 1 {
            Attempt::Counted {
                id,
                count,
                resets_at_ms,
            }
        } else {
            Attempt::Refused {
                retry_at_ms: resets_at_ms,
            }
        })
    }

    async fn forgive(&self, key: &str, id: &str) -> StoreResult<()> {
        let mut c = self.redis.conn().await?;
        let _: i64 = redis::cmd("ZREM")
            .arg(self.key(key))
            .arg(id)
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        let mut c = self.redis.conn().await?;
        let _: i64 = redis::cmd("DEL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?;
        Ok(())
    }
}
