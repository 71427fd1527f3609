//! Verifying access tokens: against the keys a verifier knows, which a verifier fed from
//! AuthService's JWKS fetches again as soon as it meets a token signed by a key it does
//! not know (a key added to AuthService's set), at most once every few seconds.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

use super::revoked::Revocations;
use super::{decode_json, key_id, Claims, Header, Jwk, Jwks, TokenError, ISSUER};
use crate::id::Id;
use crate::store::StoreResult;

/// Where a verifier's keys come from when it needs them again: AuthService's JWKS.
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn fetch(&self) -> anyhow::Result<Jwks>;
}

/// How often at most an unknown key makes a verifier fetch the keys.
pub const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(5);

/// Verifies access tokens against a set of public keys, which can be replaced at run time
/// (a deployed service refreshes them from the JWKS).
///
/// A client sends the same access token with every request for its lifetime, and an
/// Ed25519 verification costs tens of microseconds, so tokens that verified are
/// remembered (the exact token text, its user and claims): a token seen again is checked
/// for expiry only. Replacing the keys forgets them all, so a withdrawn key's tokens are
/// refused at once.
#[derive(Clone, Default)]
pub struct TokenVerifier {
    keys: Arc<RwLock<HashMap<String, VerifyingKey>>>,
    verified: Arc<RwLock<Verified>>,
    /// Where to fetch the keys again, for a verifier fed from AuthService.
    source: Option<Arc<Refetch>>,
    /// The accounts whose tokens no longer count (deleted ones).
    revocations: Option<Arc<dyn Revocations>>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("keys", &self.keys)
            .field("fed", &self.source.is_some())
            .finish_non_exhaustive()
    }
}

/// A key source, when an unknown key last made the verifier ask it (one such fetch at a
/// time), and how often at most that may happen. The scheduled refreshes do not count:
/// a key rolled in just after one is fetched for its first token all the same.
struct Refetch {
    source: Arc<dyn KeySource>,
    last_for_unknown: tokio::sync::Mutex<Option<Instant>>,
    at_most_every: Duration,
}

/// Tokens that verified, by their exact text, with their user and claims.
type Verified = HashMap<Box<str>, (Id, Claims)>;

/// Tokens remembered at most; past it, the expired ones are dropped, and an eighth of the
/// rest if that frees less.
const VERIFIED_CAPACITY: usize = 1 << 16;

/// Makes room in a full memory of verified tokens: drops those expired at `now`, then, if
/// more than seven eighths of `capacity` remain, any others (in the map's order) down to
/// that. The tokens in use stay remembered, mostly, instead of all being verified again at
/// once.
fn make_room(verified: &mut Verified, capacity: usize, now: i64) {
    verified.retain(|_, (_, claims)| claims.exp > now);
    let keep = capacity - capacity / 8;
    let over = verified.len().saturating_sub(keep);
    crate::embedded::cache::evict_any(verified, over);
}

impl TokenVerifier {
    pub fn with_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        let v = TokenVerifier::default();
        v.replace_keys(keys);
        v
    }

    /// A verifier with no keys yet, which fetches them from `source`, and again when a
    /// token names a key it does not know, at most once every `at_most_every`
    /// ([`REFETCH_AT_MOST_EVERY`] in a service).
    pub fn fed_by(source: Arc<dyn KeySource>, at_most_every: Duration) -> Self {
        TokenVerifier {
            source: Some(Arc::new(Refetch {
                source,
                last_for_unknown: tokio::sync::Mutex::new(None),
                at_most_every,
            })),
            ..TokenVerifier::default()
        }
    }

    /// Fetches the keys from the source now (the scheduled refresh); nothing without one.
    pub async fn fetch_keys(&self) -> anyhow::Result<()> {
        if let Some(r) = &self.source {
            let jwks = r.source.fetch().await?;
            self.replace_keys(jwks.keys.iter().filter_map(|k| k.to_key()));
        }
        Ok(())
    }

    /// Fetches the keys for a token of an unknown key, unless an unknown key made the
    /// verifier fetch them less than the interval ago; whether they were fetched.
    async fn fetch_for_unknown_key(&self, r: &Refetch) -> anyhow::Result<bool> {
        let mut last = r.last_for_unknown.lock().await;
        if last.is_some_and(|at| at.elapsed() < r.at_most_every) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        self.fetch_keys().await?;
        Ok(true)
    }

    /// The verifier, refusing the tokens `revocations` names (see
    /// [`is_revoked`](Self::is_revoked)).
    pub fn revoking(mut self, revocations: Arc<dyn Revocations>) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// Whether a token of `user` issued at `claims.iat` stopped counting before it
    /// expires (its account was deleted): asked after a token verifies, on every
    /// request, since a revocation holds at once.
    pub async fn is_revoked(&self, user: Id, claims: &Claims) -> StoreResult<bool> {
        match &self.revocations {
            Some(r) => Ok(r.revoked_at(user).await?.is_some_and(|at| claims.iat <= at)),
            None => Ok(false),
        }
    }

    /// Records that `user`'s tokens issued at `at_s` (Unix seconds) or before stop
    /// counting, for `for_ms`: as long as such a token could live.
    pub async fn revoke(&self, user: Id, at_s: i64, for_ms: i64) -> StoreResult<()> {
        match &self.revocations {
            Some(r) => r.revoke(user, at_s, for_ms).await,
            None => Ok(()),
        }
    }

    /// [`verify`](Self::verify), fetching the keys first when the token names one this
    /// verifier does not know (at most once every so often; see [`TokenVerifier::fed_by`]).
    pub async fn verify_fetching(&self, token: &str, now: i64) -> Result<(Id, Claims), TokenError> {
        match (self.verify(token, now), &self.source) {
            // Another request may have fetched them while this one waited its turn: verify
            // again whether or not this one fetched.
            (Err(TokenError::UnknownKey), Some(r)) => match self.fetch_for_unknown_key(r).await {
                Ok(_) => self.verify(token, now),
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "fetching the token keys failed");
                    Err(TokenError::UnknownKey)
                }
            },
            (other, _) => other,
        }
    }

    pub fn replace_keys(&self, keys: impl IntoIterator<Item = VerifyingKey>) {
        let map: HashMap<String, VerifyingKey> =
            keys.into_iter().map(|k| (key_id(&k), k)).collect();
        let mut guard = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if *guard != map {
            *guard = map;
            self.verified
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        }
    }

    /// Whether any key is known (a verifier fed from AuthService has none until the first
    /// answer).
    pub fn has_keys(&self) -> bool {
        self.keys.read().is_ok_and(|g| !g.is_empty())
    }

    pub fn jwks(&self) -> Jwks {
        let keys = match self.keys.read() {
            Ok(g) => g.values().map(Jwk::from_key).collect(),
            Err(_) => Vec::new(),
        };
        Jwks { keys }
    }

    /// Checks signature, algorithm, key, issuer and expiry at `now` (Unix seconds), and
    /// returns the user id.
    pub fn verify(&self, token: &str, now: i64) -> Result<(Id, Claims), TokenError> {
        let seen = self
            .verified
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned();
        let (user, claims) = match seen {
            Some(known) => known,
            None => {
                let fresh = self.check(token)?;
                let mut verified = self.verified.write().unwrap_or_else(|p| p.into_inner());
                if verified.len() >= VERIFIED_CAPACITY {
                    make_room(&mut verified, VERIFIED_CAPACITY, now);
                }
                verified.insert(token.into(), fresh.clone());
                fresh
            }
        };
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok((user, claims))
    }

    /// Everything [`verify`](Self::verify) checks but the expiry.
    fn check(&self, token: &str) -> Result<(Id, Claims), TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = decode_json(h)?;
        if header.alg != "EdDSA" {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self
            .keys
            .read()
            .ok()
            .and_then(|g| g.get(&kid).copied())
            .ok_or(TokenError::UnknownKey)?;
        let sig_bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed)?;
        let sig = Signature::from_slice(&sig_bytes).map_err(|_| TokenError::Signature)?;
        let signing_input = &token[..h.len() + 1 + p.len()];
        key.verify(signing_input.as_bytes(), &sig)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = decode_json(p)?;
        if claims.iss != ISSUER {
            return Err(TokenError::Claims);
        }
        let user = claims.sub.parse().map_err(|_| TokenError::Claims)?;
        Ok((user, claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::sign;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            sub: "42".into(),
            iat: 0,
            exp,
            sid: "s".into(),
        }
    }

    #[test]
    fn a_full_memory_of_tokens_drops_the_expired_then_an_eighth() {
        let entry = |exp| (Id(42), claims(exp));
        // Half expired at 100: dropping them is room enough.
        let mut v: Verified = (0..80)
            .map(|i| {
                (
                    i.to_string().into(),
                    entry(if i % 2 == 0 { 50 } else { 500 }),
                )
            })
            .collect();
        make_room(&mut v, 80, 100);
        assert_eq!(v.len(), 40);
        assert!(v.values().all(|(_, c)| c.exp == 500));
        // None expired: an eighth goes.
        let mut v: Verified = (0..80)
            .map(|i| (i.to_string().into(), entry(500)))
            .collect();
        make_room(&mut v, 80, 100);
        assert_eq!(v.len(), 70);
    }

    #[test]
    fn a_signed_token_verifies() {
        let k = key(1);
        let v = TokenVerifier::with_keys([k.verifying_key()]);
        let (user, c) = v.verify(&sign(&k, &claims(100)), 50).unwrap();
        assert_eq!(user, Id(42));
        assert_eq!(c.sid, "s");
    }

    #[test]
    fn expired_foreign_and_tampered_tokens_fail() {
        let k = key(1);
        let v = TokenVerifier::with_keys([k.verifying_key()]);
        let t = sign(&k, &claims(100));
        assert_eq!(v.verify(&t, 100), Err(TokenError::Expired));
        assert_eq!(
            v.verify(&sign(&key(2), &claims(100)), 50),
            Err(TokenError::UnknownKey)
        );
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Claims {
                sub: "43".into(),
                ..claims(100)
            })
            .unwrap(),
        );
        assert_eq!(v.verify(&parts.join("."), 50), Err(TokenError::Signature));
        assert_eq!(v.verify("abc", 50), Err(TokenError::Malformed));
    }

    #[test]
    fn a_remembered_token_still_expires_and_dies_with_its_key() {
        let (k, other) = (key(1), key(2));
        let v = TokenVerifier::with_keys([k.verifying_key(), other.verifying_key()]);
        let t = sign(&k, &claims(100));
        assert!(v.verify(&t, 50).is_ok());
        assert!(v.verify(&t, 99).is_ok());
        assert_eq!(v.verify(&t, 100), Err(TokenError::Expired));
        // The same keys again: still known. The signing key withdrawn: refused at once.
        v.replace_keys([other.verifying_key(), k.verifying_key()]);
        assert!(v.verify(&t, 50).is_ok());
        v.replace_keys([other.verifying_key()]);
        assert_eq!(v.verify(&t, 50), Err(TokenError::UnknownKey));
        // One character off a remembered token is a different token, checked in full.
        let t = sign(&other, &claims(100));
        assert!(v.verify(&t, 50).is_ok());
        let mut forged = t.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(v.verify(&forged, 50), Err(TokenError::Signature));
    }

    #[test]
    fn other_algorithms_are_refused() {
        let k = key(1);
        let v = TokenVerifier::with_keys([k.verifying_key()]);
        let t = sign(&k, &claims(100));
        let payload = t.split('.').nth(1).unwrap();
        for alg in ["none", "HS256", "RS256"] {
            let h = URL_SAFE_NO_PAD.encode(
                format!(
                    r#"{{"alg":"{alg}","kid":"{}"}}"#,
                    key_id(&k.verifying_key())
                )
                .as_bytes(),
            );
            assert_eq!(
                v.verify(&format!("{h}.{payload}."), 50),
                Err(TokenError::Algorithm)
            );
        }
    }

    #[test]
    fn jwks_round_trips_the_public_key() {
        let k = key(3);
        let v = TokenVerifier::with_keys([k.verifying_key()]);
        let jwks = v.jwks();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].to_key(), Some(k.verifying_key()));
        assert_eq!(jwks.keys[0].kid, key_id(&k.verifying_key()));
    }

    /// A key source that serves a key set of its own and counts its fetches.
    struct CountingSource {
        keys: std::sync::Mutex<Vec<VerifyingKey>>,
        fetches: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl KeySource for CountingSource {
        async fn fetch(&self) -> anyhow::Result<Jwks> {
            self.fetches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let keys = self
                .keys
                .lock()
                .unwrap()
                .iter()
                .map(Jwk::from_key)
                .collect();
            Ok(Jwks { keys })
        }
    }

    fn counting(keys: &[&SigningKey]) -> Arc<CountingSource> {
        Arc::new(CountingSource {
            keys: std::sync::Mutex::new(keys.iter().map(|k| k.verifying_key()).collect()),
            fetches: Default::default(),
        })
    }

    #[tokio::test]
    async fn a_key_added_since_the_last_fetch_is_fetched_for_its_first_token() {
        let (old, new) = (key(1), key(2));
        let source = counting(&[&old]);
        let v = TokenVerifier::fed_by(source.clone(), Duration::from_millis(20));
        let fetches = || source.fetches.load(std::sync::atomic::Ordering::SeqCst);
        assert!(v
            .verify_fetching(&sign(&old, &claims(100)), 50)
            .await
            .is_ok());
        assert_eq!(fetches(), 1);
        // AuthService adds a key and signs with it: the first token of it is accepted.
        source.keys.lock().unwrap().push(new.verifying_key());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(v
            .verify_fetching(&sign(&new, &claims(100)), 50)
            .await
            .is_ok());
        assert_eq!(fetches(), 2);
        // Both keys known now: neither fetches.
        assert!(v
            .verify_fetching(&sign(&old, &claims(100)), 50)
            .await
            .is_ok());
        assert_eq!(fetches(), 2);
    }

    #[tokio::test]
    async fn tokens_of_unknown_keys_fetch_the_keys_at_most_once_per_interval() {
        let (old, stranger) = (key(1), key(3));
        let source = counting(&[&old]);
        let v = TokenVerifier::fed_by(source.clone(), Duration::from_secs(60));
        let fetches = || source.fetches.load(std::sync::atomic::Ordering::SeqCst);
        for _ in 0..20 {
            assert_eq!(
                v.verify_fetching(&sign(&stranger, &claims(100)), 50).await,
                Err(TokenError::UnknownKey)
            );
        }
        assert_eq!(fetches(), 1);
        assert!(v
            .verify_fetching(&sign(&old, &claims(100)), 50)
            .await
            .is_ok());
    }
}
