//! Access tokens: compact JWS with EdDSA (Ed25519), `kid` in the header. AuthService
//! signs; every service verifies locally with the public keys (JWKS), so no request
//! needs AuthService. Verification accepts exactly one algorithm, `EdDSA`, and only keys
//! it knows by `kid`: `alg: none`, HMAC, other keys, tampering and expiry are refused.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::Id;

pub const ISSUER: &str = "chirp";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user id, as a string.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// The refresh session the token was issued in.
    pub sid: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token's claims are invalid")]
    Claims,
}

/// The RFC 7638 thumbprint of an Ed25519 public key; used as its `kid`.
pub fn key_id(key: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Signs claims with `key`.
pub fn sign(key: &SigningKey, claims: &Claims) -> String {
    let header = Header {
        alg: "EdDSA".into(),
        typ: Some("JWT".into()),
        kid: Some(key_id(&key.verifying_key())),
    };
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{h}.{p}");
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

/// A JSON Web Key Set of Ed25519 public keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
}

impl Jwk {
    pub fn from_key(key: &VerifyingKey) -> Self {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(key.as_bytes()),
            kid: key_id(key),
            use_: "sig".into(),
            alg: "EdDSA".into(),
        }
    }

    pub fn to_key(&self) -> Option<VerifyingKey> {
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(&self.x).ok()?;
        let bytes: [u8; 32] = raw.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }
}

/// Verifies access tokens against a set of public keys, which can be replaced at run time
/// (a deployed service refreshes them from the JWKS).
///
/// A client sends the same access token with every request for its lifetime, and an
/// Ed25519 verification costs tens of microseconds, so tokens that verified are
/// remembered (the exact token text, its user and claims): a token seen again is checked
/// for expiry only. Replacing the keys forgets them all, so a withdrawn key's tokens are
/// refused at once.
#[derive(Debug, Clone, Default)]
pub struct TokenVerifier {
    keys: Arc<RwLock<HashMap<String, VerifyingKey>>>,
    verified: Arc<RwLock<Verified>>,
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

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, TokenError> {
    let raw = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
