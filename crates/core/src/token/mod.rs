//! Access tokens: compact JWS with EdDSA (Ed25519), `kid` in the header. AuthService
//! signs; every service verifies locally with the public keys (JWKS), so no request
//! needs AuthService. Verification accepts exactly one algorithm, `EdDSA`, and only keys
//! it knows by `kid`: `alg: none`, HMAC, other keys, tampering and expiry are refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod revoked;
mod verifier;
pub use revoked::{MemoryRevocations, RedisRevocations, Revocations};
pub use verifier::{KeySource, TokenVerifier, REFETCH_AT_MOST_EVERY};

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
pub(crate) struct Header {
    pub(crate) alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    pub(crate) kid: Option<String>,
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

/// A JSON Web Key Set of Ed25519 public keys: those that verify access tokens (RFC 7517).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// An Ed25519 public key (RFC 8037): `kty` OKP, `crv` Ed25519, `alg` EdDSA.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    #[schema(rename = "use")]
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

pub(crate) fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, TokenError> {
    let raw = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed)
}
