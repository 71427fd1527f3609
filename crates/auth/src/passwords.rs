//! Password hashing with argon2id. Hashing is slow on purpose, so it runs on the blocking
//! pool, never on the request threads.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

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
}

impl PasswordHashing {
    pub fn new(cost: HashCost) -> anyhow::Result<Self> {
        let params = match cost {
            HashCost::Standard => Params::new(19 * 1024, 2, 1, None),
            HashCost::InsecureFast => Params::new(8, 1, 1, None),
        }
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let mut me = PasswordHashing {
            params,
            decoy: String::new(),
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

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.hash_now(&password)).await?
    }

    /// Whether `password` matches `hash`; with `None`, checks the decoy and says no.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
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
        .await?
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
}
