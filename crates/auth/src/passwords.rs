//! Password hashing with argon2id. Hashing is slow on purpose, so it runs on the blocking
//! pool, never on the request threads; and each hash takes 19 MiB, so only as many run at
//! once as there are cores, and only so many more wait: past that, a signup or login is
//! refused at once (503, `Retry-After`), instead of memory growing with the requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chirp_core::ApiError;

/// The cost of a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashCost {
    /// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    Standard,
    /// For tests only: 8 KiB, 1 pass. Never in production.
    InsecureFast,
}

#[derive(Clone)]
pub struct PasswordHashing {
    params: Params,
    /// A hash of a random password, verified when the account does not exist so that an
    /// unknown login takes as long as a wrong password.
    decoy: String,
    /// One permit per hash running.
    running: Arc<tokio::sync::Semaphore>,
    /// Hashes running or waiting, and how many may be.
    admitted: Arc<AtomicUsize>,
    capacity: usize,
}

/// Hashes that may wait per one that runs: with a hash of 19 MiB taking tens of
/// milliseconds, a full queue is a wait of a few hundred milliseconds.
const WAITING_PER_RUNNING: usize = 8;

/// Why a hash could not be made or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes at once: try again after a moment.
    #[error("too many passwords are being checked at once; try again in a moment")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => ApiError::Busy {
                detail: e.to_string(),
                retry_after: Duration::from_secs(1),
            },
            HashError::Failed(e) => ApiError::internal(e),
        }
    }
}

/// A place among the hashes running or waiting, given back when dropped.
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHashing {
    pub fn new(cost: HashCost) -> anyhow::Result<Self> {
        let params = match cost {
            HashCost::Standard => Params::new(19 * 1024, 2, 1, None),
            HashCost::InsecureFast => Params::new(8, 1, 1, None),
        }
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut me = PasswordHashing {
            params,
            decoy: String::new(),
            running: Arc::new(tokio::sync::Semaphore::new(cores)),
            admitted: Arc::default(),
            capacity: cores * (1 + WAITING_PER_RUNNING),
        };
        me.decoy = me.hash_now("decoy password that nobody has")?;
        Ok(me)
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_now(&self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    }

    /// A place to run a hash, waiting for one; `Busy` when too many run or wait already.
    fn admit(&self) -> Result<Admitted, HashError> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admitted = Admitted(self.admitted.clone());
        if before >= self.capacity {
            return Err(HashError::Busy);
        }
        Ok(admitted)
    }

    /// Runs `work` on the blocking pool once a place and a core are free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Self) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashError> {
        let _place = self.admit()?;
        let _running = self.running.acquire().await.map_err(anyhow::Error::from)?;
        let me = self.clone();
        let done = tokio::task::spawn_blocking(move || work(&me));
        Ok(done.await.map_err(anyhow::Error::from)??)
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |me| me.hash_now(&password)).await
    }

    /// Whether `password` matches `hash`; with `None`, checks the decoy and says no.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, HashError> {
        self.run(move |me| {
            let known = hash.is_some();
            let stored = hash.unwrap_or_else(|| me.decoy.clone());
            let parsed = PasswordHash::new(&stored)
                .map_err(|e| anyhow::anyhow!("stored hash is unreadable: {e}"))?;
            let ok = me
                .argon()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(known && ok)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = PasswordHashing::new(HashCost::InsecureFast).unwrap();
        let stored = h.hash("correct horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(h
            .verify("correct horse".into(), Some(stored.clone()))
            .await
            .unwrap());
        assert!(!h.verify("wrong horse".into(), Some(stored)).await.unwrap());
        assert!(!h
            .verify("decoy password that nobody has".into(), None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn past_its_queue_a_hash_is_refused_at_once() {
        let h = PasswordHashing::new(HashCost::Standard).unwrap();
        let all = (0..h.capacity + 20).map(|i| h.verify(format!("guess {i}"), None));
        let outcomes = futures::future::join_all(all).await;
        let busy = outcomes
            .iter()
            .filter(|o| matches!(o, Err(HashError::Busy)))
            .count();
        assert!(busy >= 20, "{busy} refused");
        assert_eq!(
            h.admitted.load(Ordering::Acquire),
            0,
            "every place given back"
        );
    }
}
