//! Login throttles in process memory: the embedded default (they need not survive a
//! restart).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use chirp_core::store::StoreResult;

use crate::ports::LoginThrottle;

#[derive(Debug, Default)]
pub struct MemoryThrottle {
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

#[async_trait]
impl LoginThrottle for MemoryThrottle {
    async fn failures(&self, key: &str, since_ms: i64) -> StoreResult<(u32, Option<i64>)> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = map.get(key) else {
            return Ok((0, None));
        };
        let recent: Vec<i64> = times.iter().copied().filter(|t| *t >= since_ms).collect();
        Ok((recent.len() as u32, recent.first().copied()))
    }

    async fn record_failure(&self, key: &str, at_ms: i64, window_ms: i64) -> StoreResult<()> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Forget keys whose failures have all aged out, so memory stays bounded.
        if map.len() > 100_000 {
            map.retain(|_, v| v.back().is_some_and(|t| *t >= at_ms - window_ms));
        }
        let times = map.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|t| *t < at_ms - window_ms) {
            times.pop_front();
        }
        times.push_back(at_ms);
        Ok(())
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
        Ok(())
    }
}
