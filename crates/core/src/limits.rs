//! Sliding-window limits: at most `limit` attempts per key within `window`, each attempt
//! counted atomically before the work it allows, so that attempts sent at once cannot all
//! pass a check that counts them only afterwards. Logins (per account and per address),
//! signups (per address) and writes (per user and per address) are limited this way.
//! Embedded: process memory ([`MemoryLimiter`]). Deployed: Redis, one script per attempt
//! (`deployed::redis_limiter`), so that every process of a service shares the count.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::ApiError;
use crate::store::StoreResult;

/// A limit: so many attempts within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub attempts: u32,
    pub window: Duration,
}

impl Limit {
    pub fn new(attempts: u32, window: Duration) -> Self {
        Limit { attempts, window }
    }

    /// Whether the limit limits anything (0 attempts means off).
    pub fn is_on(&self) -> bool {
        self.attempts > 0
    }

    /// No limit.
    pub const OFF: Limit = Limit {
        attempts: 0,
        window: Duration::from_secs(1),
    };

    fn window_ms(&self) -> i64 {
        self.window.as_millis() as i64
    }
}

/// `<attempts>/<window>`, the window in seconds, minutes, hours or days (`10/15m`,
/// `300/1h`, `5/30s`); or `off`.
impl std::str::FromStr for Limit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Limit::OFF);
        }
        let bad =
            || format!("`{s}` is not a limit: write <attempts>/<window> (10/15m, 300/1h) or off");
        let (attempts, window) = s.split_once('/').ok_or_else(bad)?;
        let attempts: u32 = attempts.trim().parse().map_err(|_| bad())?;
        let window = window.trim();
        let unit_at = window.len().checked_sub(1).ok_or_else(bad)?;
        let (n, unit) = window.split_at(unit_at);
        let n: u64 = n.parse().map_err(|_| bad())?;
        let secs = match unit {
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86_400,
            _ => return Err(bad()),
        };
        if attempts == 0 || secs == 0 {
            return Err(bad());
        }
        Ok(Limit::new(attempts, Duration::from_secs(secs)))
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.is_on() {
            return f.write_str("off");
        }
        write!(f, "{}/{}s", self.attempts, self.window.as_secs())
    }
}

/// What became of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Counted, as the `count`th within the window; `id` names it, to forgive it.
    Counted {
        id: String,
        count: u32,
        /// When the oldest attempt counted leaves the window (Unix ms).
        resets_at_ms: i64,
    },
    /// Not counted: the window is full until `retry_at_ms` (Unix ms).
    Refused { retry_at_ms: i64 },
}

#[async_trait]
pub trait Limiter: Send + Sync {
    /// Counts an attempt on `key` at `now_ms` if fewer than `limit.attempts` were counted
    /// within the window before it, atomically.
    async fn attempt(&self, key: &str, now_ms: i64, limit: Limit) -> StoreResult<Attempt>;
    /// Forgets one counted attempt (it turned out not to count: a login that succeeded,
    /// against its address).
    async fn forgive(&self, key: &str, id: &str) -> StoreResult<()>;
    /// Forgets every attempt on `key`.
    async fn clear(&self, key: &str) -> StoreResult<()>;
}

/// Counts an attempt on `key` under `limit`: the attempt's id (to forgive it), `None` when
/// the limit is off, or the 429 that refuses it, saying `detail` and when to try again.
pub async fn count_attempt(
    limiter: &dyn Limiter,
    key: &str,
    limit: Limit,
    now_ms: i64,
    detail: &str,
) -> Result<Option<String>, ApiError> {
    if !limit.is_on() {
        return Ok(None);
    }
    match limiter.attempt(key, now_ms, limit).await? {
        Attempt::Counted { id, .. } => Ok(Some(id)),
        Attempt::Refused { retry_at_ms } => Err(too_many(detail, retry_at_ms - now_ms)),
    }
}

/// The 429 for an attempt refused until `wait_ms` from now (`Retry-After` in whole
/// seconds, rounded up, at least one).
pub fn too_many(detail: &str, wait_ms: i64) -> ApiError {
    let secs = (wait_ms.max(1) as u64).div_ceil(1000);
    ApiError::TooManyRequests {
        detail: detail.to_owned(),
        retry_after: Duration::from_secs(secs),
    }
}

/// The part of a client address a limit is kept for: the whole IPv4 address, and the /64
/// of an IPv6 one (what one subscriber is given: counting each of its addresses apart
/// would let one client spread over 2^64 of them).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Attempts in process memory: the embedded default (they need not survive a restart).
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    attempts: Mutex<HashMap<String, VecDeque<(i64, u64)>>>,
    next: std::sync::atomic::AtomicU64,
}

/// Keys kept at most before those whose attempts have all aged out are dropped.
const KEYS_KEPT: usize = 100_000;

#[async_trait]
impl Limiter for MemoryLimiter {
    async fn attempt(&self, key: &str, now_ms: i64, limit: Limit) -> StoreResult<Attempt> {
        let since = now_ms - limit.window_ms();
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > KEYS_KEPT {
            map.retain(|_, v| v.back().is_some_and(|(t, _)| *t > since));
        }
        let times = map.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|(t, _)| *t <= since) {
            times.pop_front();
        }
        let oldest = times.front().map_or(now_ms, |(t, _)| *t);
        if times.len() >= limit.attempts as usize {
            return Ok(Attempt::Refused {
                retry_at_ms: oldest + limit.window_ms(),
            });
        }
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        times.push_back((now_ms, n));
        Ok(Attempt::Counted {
            id: n.to_string(),
            count: times.len() as u32,
            resets_at_ms: oldest + limit.window_ms(),
        })
    }

    async fn forgive(&self, key: &str, id: &str) -> StoreResult<()> {
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(times), Ok(n)) = (map.get_mut(key), id.parse::<u64>()) {
            times.retain(|(_, m)| *m != n);
        }
        Ok(())
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_attempts_per_window() {
        let parse = |s: &str| s.parse::<Limit>();
        assert_eq!(
            parse("10/15m"),
            Ok(Limit::new(10, Duration::from_secs(900)))
        );
        assert_eq!(
            parse("300/1h"),
            Ok(Limit::new(300, Duration::from_secs(3600)))
        );
        assert_eq!(parse(" 5/30s "), Ok(Limit::new(5, Duration::from_secs(30))));
        assert_eq!(
            parse("2/1d"),
            Ok(Limit::new(2, Duration::from_secs(86_400)))
        );
        assert!(!parse("off").unwrap().is_on());
        for bad in [
            "", "10", "10/", "10/15", "0/1m", "10/0m", "x/1m", "10/1w", "-1/1m",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(
            Limit::new(10, Duration::from_secs(900)).to_string(),
            "10/900s"
        );
    }

    #[test]
    fn ipv6_addresses_are_limited_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        assert_eq!(address_key("203.0.113.7".parse().unwrap()), "203.0.113.7");
        assert_eq!(
            address_key("::ffff:203.0.113.7".parse().unwrap()),
            "203.0.113.7"
        );
    }
}
