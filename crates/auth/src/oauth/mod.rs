//! OAuth 2 for the Mastodon API: client applications, authorization codes (with PKCE),
//! and the long-lived, revocable tokens Mastodon clients hold. AuthService keeps them
//! (hashed: a store never sees a secret, a code or a token) and trades a valid token for
//! a short-lived access token of its user, with which the facade calls the services.
//! Storage is behind [`OAuthStore`]; this module decides.

pub mod routes;
mod scopes;

use std::net::IpAddr;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chirp_core::model::User;
use chirp_core::store::StoreResult;
use chirp_core::time::now_ms;
use chirp_core::token::{sign, Claims, ISSUER};
use chirp_core::{ApiError, Id};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use scopes::{Scopes, UnknownScope};

use crate::service::AuthService;

/// The redirect URI of clients that show the code to the user instead of receiving it.
pub const OUT_OF_BAND: &str = "urn:ietf:wg:oauth:2.0:oob";

/// How long an authorization code may wait to be traded for a token.
const CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// The longest name, website and redirect URI list an app may register.
const MAX_NAME: usize = 200;
const MAX_URI: usize = 2000;
const MAX_REDIRECTS: usize = 10;

/// A client application, as stored.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub id: Id,
    pub client_id: String,
    pub secret_hash: [u8; 32],
    pub name: String,
    pub website: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: Scopes,
    pub created_at_ms: i64,
}

/// An authorization code, as stored: only its hash.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub hash: [u8; 32],
    pub app: Id,
    pub user: Id,
    pub redirect_uri: String,
    pub scopes: Scopes,
    /// The PKCE challenge (S256), when the client sent one.
    pub challenge: Option<String>,
    pub expires_at_ms: i64,
}

/// A token, as stored: the hashes of its access and refresh tokens.
#[derive(Debug, Clone)]
pub struct OAuthToken {
    pub id: Id,
    pub access_hash: [u8; 32],
    pub refresh_hash: Option<[u8; 32]>,
    pub app: Id,
    /// `None` for an app's own token (client credentials).
    pub user: Option<Id>,
    pub scopes: Scopes,
    pub created_at_ms: i64,
}

/// Apps, codes and tokens. Deployed: PostgreSQL. Embedded: SQLite.
#[async_trait]
pub trait OAuthStore: Send + Sync {
    async fn create_app(&self, app: &OAuthApp) -> StoreResult<()>;
    async fn app(&self, client_id: &str) -> StoreResult<Option<OAuthApp>>;
    async fn app_by_id(&self, id: Id) -> StoreResult<Option<OAuthApp>>;
    async fn save_code(&self, code: &AuthCode) -> StoreResult<()>;
    /// Removes and returns the code with this hash: a code is used once.
    async fn take_code(&self, hash: &[u8; 32]) -> StoreResult<Option<AuthCode>>;
    async fn save_token(&self, token: &OAuthToken) -> StoreResult<()>;
    async fn token(&self, access_hash: &[u8; 32]) -> StoreResult<Option<OAuthToken>>;
    /// Replaces the token of `app` whose refresh token hashes to `refresh_hash` with
    /// `next`, which takes the old one's user and scopes, atomically; the old one, or
    /// `None` (and nothing saved) when there was none.
    async fn refresh(
        &self,
        app: Id,
        refresh_hash: &[u8; 32],
        next: &OAuthToken,
    ) -> StoreResult<Option<OAuthToken>>;
    /// Removes the token of `app` whose access or refresh token hashes to `hash`.
    async fn revoke(&self, app: Id, hash: &[u8; 32]) -> StoreResult<()>;
    /// Removes every token of `user` (the account was deleted).
    async fn revoke_user(&self, user: Id) -> StoreResult<()>;
}

/// What went wrong, in OAuth 2's words (RFC 6749 section 5.2).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("client authentication failed")]
    InvalidClient,
    #[error("{0}")]
    InvalidGrant(String),
    #[error("the grant type is not supported")]
    UnsupportedGrantType,
    #[error("{0}")]
    InvalidScope(String),
    /// Anything that is not the client's fault, or a refusal AuthService states in its
    /// own terms (a wrong password: 401; too many attempts: 429; a store down: 503).
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl OAuthError {
    /// The `error` code of the answer.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::Api(_) => "server_error",
        }
    }
}

impl From<chirp_core::store::StoreError> for OAuthError {
    fn from(e: chirp_core::store::StoreError) -> Self {
        OAuthError::Api(e.into())
    }
}

impl From<UnknownScope> for OAuthError {
    fn from(e: UnknownScope) -> Self {
        OAuthError::InvalidScope(e.to_string())
    }
}

pub type OAuthResult<T> = Result<T, OAuthError>;

/// A new app's registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewApp {
    pub client_name: String,
    /// One or more absolute URIs, or [`OUT_OF_BAND`].
    pub redirect_uris: Vec<String>,
    /// Space-separated; empty is `read`.
    #[serde(default)]
    pub scopes: String,
    #[serde(default)]
    pub website: Option<String>,
}

/// An app as its owner and the sign-in page see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppView {
    pub id: Id,
    pub name: String,
    pub website: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: String,
    pub client_id: String,
    /// Only in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<&OAuthApp> for AppView {
    fn from(app: &OAuthApp) -> Self {
        AppView {
            id: app.id,
            name: app.name.clone(),
            website: app.website.clone(),
            redirect_uris: app.redirect_uris.clone(),
            scopes: app.scopes.to_string(),
            client_id: app.client_id.clone(),
            client_secret: None,
        }
    }
}

/// A user's consent on the sign-in page: who signs in, for which app, with what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Authorization {
    pub client_id: String,
    pub redirect_uri: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub code_challenge: Option<String>,
    #[serde(default)]
    pub code_challenge_method: Option<String>,
    /// Handle or email.
    pub login: String,
    pub password: String,
    /// The browser's address, for the login limits.
    #[serde(default)]
    pub client: Option<IpAddr>,
}

/// A request to the token endpoint, in RFC 6749's names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenRequest {
    #[serde(default)]
    pub grant_type: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub redirect_uri: Option<String>,
    #[serde(default)]
    pub code_verifier: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// The token endpoint's answer, in Mastodon's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenGrant {
    pub access_token: String,
    pub token_type: String,
    pub scope: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// What a token is: its app, its user (none for an app's own token), its scopes, and an
/// access token of its user for the services' APIs (short-lived; asked for again each
/// time, so that a revoked token stops working at once).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Introspection {
    pub token_id: Id,
    pub app: AppView,
    pub user: Option<User>,
    pub scopes: String,
    pub access_token: Option<String>,
}

/// Who may revoke which token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revocation {
    pub client_id: String,
    pub client_secret: String,
    pub token: String,
}

/// A token for a user an app has just signed up (`POST /api/v1/accounts`): the app's own
/// token (client credentials, with `write:accounts`) and, as proof of the signup, the
/// refresh token it answered with (spent here: that session ends).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserGrant {
    pub app_token: String,
    pub refresh_token: String,
}

fn random_secret() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `uri` may be registered as a redirect: the out-of-band URN, or an absolute URI
/// with a scheme (apps use custom schemes such as `tusky://oauth`), without a fragment.
fn valid_redirect(uri: &str) -> bool {
    if uri == OUT_OF_BAND {
        return true;
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    // Schemes that run or read something where the browser is, not an app's address.
    let harmful = ["javascript", "data", "vbscript", "file", "blob", "about"]
        .iter()
        .any(|h| scheme.eq_ignore_ascii_case(h));
    scheme_ok
        && !harmful
        && !rest.is_empty()
        && !uri.contains('#')
        && uri.len() <= MAX_URI
        // Printable ASCII: what a `Location` header can carry.
        && uri.bytes().all(|b| b.is_ascii_graphic())
}

/// The S256 challenge of a PKCE verifier (RFC 7636 section 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn invalid_grant(detail: &str) -> OAuthError {
    OAuthError::InvalidGrant(detail.to_owned())
}

impl AuthService {
    fn oauth(&self) -> Result<&dyn OAuthStore, ApiError> {
        self.oauth
            .as_deref()
            .ok_or_else(|| ApiError::NotFound("OAuth is not served here".into()))
    }

    /// Registers an app; its view with its secret (shown this once).
    pub async fn create_app(&self, new: NewApp) -> Result<AppView, ApiError> {
        let invalid = |d: &str| ApiError::Unprocessable(d.to_owned());
        let name = new.client_name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(invalid("client_name must be 1 to 200 characters"));
        }
        if new.redirect_uris.is_empty() || new.redirect_uris.len() > MAX_REDIRECTS {
            return Err(invalid("redirect_uris must name 1 to 10 URIs"));
        }
        if let Some(bad) = new.redirect_uris.iter().find(|u| !valid_redirect(u)) {
            return Err(ApiError::Unprocessable(format!(
                "redirect_uris: `{bad}` is not an absolute URI"
            )));
        }
        let website = new
            .website
            .filter(|w| !w.trim().is_empty())
            .map(|w| w.trim().to_owned());
        if website.as_ref().is_some_and(|w| {
            w.len() > MAX_URI || !(w.starts_with("https://") || w.starts_with("http://"))
        }) {
            return Err(invalid("website must be an http(s) URL"));
        }
        let scopes = Scopes::parse_or(&new.scopes, "read")
            .map_err(|e| ApiError::Unprocessable(format!("scopes: {e}")))?;
        let secret = random_secret();
        let app = OAuthApp {
            id: self.ids.next_id()?,
            client_id: random_secret(),
            secret_hash: hash(&secret),
            name: name.to_owned(),
            website,
            redirect_uris: new.redirect_uris,
            scopes,
            created_at_ms: now_ms(),
        };
        self.oauth()?.create_app(&app).await?;
        let mut view = AppView::from(&app);
        view.client_secret = Some(secret);
        Ok(view)
    }

    /// The app with this client id, for the sign-in page.
    pub async fn app(&self, client_id: &str) -> Result<AppView, ApiError> {
        match self.oauth()?.app(client_id).await? {
            Some(app) => Ok(AppView::from(&app)),
            None => Err(ApiError::NotFound("no such app".into())),
        }
    }

    /// Checks an authorization request before any password is asked for: the app exists,
    /// the redirect URI is one of its own, the scopes are within its own.
    async fn authorizable(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> OAuthResult<(OAuthApp, Scopes)> {
        let app = self
            .oauth()?
            .app(client_id)
            .await?
            .ok_or(OAuthError::InvalidClient)?;
        if !app.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Err(OAuthError::InvalidRequest(
                "redirect_uri is not one the app registered".into(),
            ));
        }
        let scopes = Scopes::parse_or(scope, "read")?;
        if !scopes.within(&app.scopes) {
            return Err(OAuthError::InvalidScope(
                "the scopes asked for are not all the app's".into(),
            ));
        }
        Ok((app, scopes))
    }

    /// Signs the user in (with the login limits of `POST /auth/login`) and issues an
    /// authorization code of their consent.
    pub async fn authorize(&self, a: Authorization) -> OAuthResult<String> {
        let (app, scopes) = self
            .authorizable(&a.client_id, &a.redirect_uri, &a.scope)
            .await?;
        let challenge = match (
            a.code_challenge.as_deref(),
            a.code_challenge_method.as_deref(),
        ) {
            (None | Some(""), _) => None,
            (Some(c), None | Some("S256")) if (43..=128).contains(&c.len()) => Some(c.to_owned()),
            (Some(_), None | Some("S256")) => {
                return Err(OAuthError::InvalidRequest(
                    "code_challenge must be 43 to 128 characters".into(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(OAuthError::InvalidRequest(
                    "code_challenge_method must be S256".into(),
                ))
            }
        };
        let user = self.check_password(&a.login, &a.password, a.client).await?;
        let code = random_secret();
        self.oauth()?
            .save_code(&AuthCode {
                hash: hash(&code),
                app: app.id,
                user: user.id,
                redirect_uri: a.redirect_uri,
                scopes,
                challenge,
                expires_at_ms: now_ms() + CODE_TTL_MS,
            })
            .await?;
        Ok(code)
    }

    /// Whether `authorize` would take these, before asking for a password.
    pub async fn check_authorization(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> OAuthResult<AppView> {
        let (app, _) = self.authorizable(client_id, redirect_uri, scope).await?;
        Ok(AppView::from(&app))
    }

    /// The app these credentials name, or `invalid_client`.
    async fn client(&self, id: Option<&str>, secret: Option<&str>) -> OAuthResult<OAuthApp> {
        let app = match id {
            Some(id) => self.oauth()?.app(id).await?,
            None => None,
        };
        match (app, secret) {
            (Some(app), Some(s)) if constant_time_eq(&hash(s), &app.secret_hash) => Ok(app),
            _ => Err(OAuthError::InvalidClient),
        }
    }

    /// The token endpoint: authorization code (with PKCE when the code was asked for
    /// with a challenge), client credentials, refresh token.
    pub async fn token(&self, req: TokenRequest) -> OAuthResult<TokenGrant> {
        match req.grant_type.as_str() {
            "authorization_code" => self.code_grant(req).await,
            "client_credentials" => {
                let app = self
                    .client(req.client_id.as_deref(), req.client_secret.as_deref())
                    .await?;
                let scopes = Scopes::parse_or(req.scope.as_deref().unwrap_or(""), "read")?;
                if !scopes.within(&app.scopes) {
                    return Err(OAuthError::InvalidScope(
                        "the scopes asked for are not all the app's".into(),
                    ));
                }
                self.issue(app.id, None, scopes, false).await
            }
            "refresh_token" => {
                let app = self
                    .client(req.client_id.as_deref(), req.client_secret.as_deref())
                    .await?;
                let presented = req
                    .refresh_token
                    .as_deref()
                    .ok_or_else(|| OAuthError::InvalidRequest("refresh_token is missing".into()))?;
                let (grant, next) = self.new_token(app.id, None, Scopes::default(), true)?;
                let old = self
                    .oauth()?
                    .refresh(app.id, &hash(presented), &next)
                    .await?
                    .ok_or_else(|| invalid_grant("the refresh token is invalid"))?;
                // `next` was saved with the old token's user and scopes.
                Ok(TokenGrant {
                    scope: old.scopes.to_string(),
                    ..grant
                })
            }
            "" => Err(OAuthError::InvalidRequest("grant_type is missing".into())),
            _ => Err(OAuthError::UnsupportedGrantType),
        }
    }

    async fn code_grant(&self, req: TokenRequest) -> OAuthResult<TokenGrant> {
        let code = req
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::InvalidRequest("code is missing".into()))?;
        let client_id = req.client_id.as_deref().ok_or(OAuthError::InvalidClient)?;
        let app = self
            .oauth()?
            .app(client_id)
            .await?
            .ok_or(OAuthError::InvalidClient)?;
        let secret_ok = req
            .client_secret
            .as_deref()
            .is_some_and(|s| constant_time_eq(&hash(s), &app.secret_hash));
        if req.client_secret.is_some() && !secret_ok {
            return Err(OAuthError::InvalidClient);
        }
        let stored = self
            .oauth()?
            .take_code(&hash(code))
            .await?
            .filter(|c| c.app == app.id && c.expires_at_ms > now_ms())
            .ok_or_else(|| invalid_grant("the code is invalid, used or expired"))?;
        if req.redirect_uri.as_deref() != Some(stored.redirect_uri.as_str()) {
            return Err(invalid_grant(
                "redirect_uri is not the one the code was issued to",
            ));
        }
        match (&stored.challenge, req.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier)) => {
                let valid = (43..=128).contains(&verifier.len())
                    && constant_time_eq(pkce_challenge(verifier).as_bytes(), challenge.as_bytes());
                if !valid {
                    return Err(invalid_grant("code_verifier does not match the challenge"));
                }
            }
            (Some(_), None) => return Err(invalid_grant("code_verifier is missing")),
            // Without PKCE, only the app's secret proves who trades the code.
            (None, _) if !secret_ok => return Err(OAuthError::InvalidClient),
            (None, _) => {}
        }
        self.issue(app.id, Some(stored.user), stored.scopes, true)
            .await
    }

    /// A new token (and its refresh token, if `refreshable`), not yet saved.
    fn new_token(
        &self,
        app: Id,
        user: Option<Id>,
        scopes: Scopes,
        refreshable: bool,
    ) -> OAuthResult<(TokenGrant, OAuthToken)> {
        let access = random_secret();
        let refresh = refreshable.then(random_secret);
        let created_at_ms = now_ms();
        let token = OAuthToken {
            id: self.ids.next_id().map_err(ApiError::from)?,
            access_hash: hash(&access),
            refresh_hash: refresh.as_deref().map(hash),
            app,
            user,
            scopes: scopes.clone(),
            created_at_ms,
        };
        let grant = TokenGrant {
            access_token: access,
            token_type: "Bearer".into(),
            scope: scopes.to_string(),
            created_at: created_at_ms / 1000,
            refresh_token: refresh,
        };
        Ok((grant, token))
    }

    async fn issue(
        &self,
        app: Id,
        user: Option<Id>,
        scopes: Scopes,
        refreshable: bool,
    ) -> OAuthResult<TokenGrant> {
        let (grant, token) = self.new_token(app, user, scopes, refreshable)?;
        self.oauth()?.save_token(&token).await?;
        Ok(grant)
    }

    /// A token of the user a signup just made, for the app that signed them up, with the
    /// scopes of the app's own token that did it. Nothing but the signup's own answer
    /// names the user: whoever holds the internal API cannot mint a token for anyone.
    pub async fn grant_user(&self, grant: UserGrant) -> OAuthResult<TokenGrant> {
        let app_token = self
            .oauth()?
            .token(&hash(&grant.app_token))
            .await?
            .filter(|t| t.user.is_none())
            .ok_or(OAuthError::InvalidClient)?;
        if !app_token.scopes.grants("write:accounts") {
            return Err(OAuthError::InvalidScope(
                "signing up needs the write:accounts scope".into(),
            ));
        }
        let spent = || invalid_grant("the signup's refresh token is invalid");
        let old = crate::service::token_ref(&grant.refresh_token).ok_or_else(spent)?;
        let (_, next) = crate::service::new_refresh_token(old.session);
        let now = now_ms();
        let user = match self.sessions.rotate(&old, &next, now, now).await? {
            crate::ports::Rotation::Rotated { user, session } => {
                self.sessions.revoke(session).await?;
                user
            }
            _ => return Err(spent()),
        };
        self.issue(app_token.app, Some(user), app_token.scopes, true)
            .await
    }

    /// Ends a token (RFC 7009): known or not, the answer is the same.
    pub async fn revoke_token(&self, r: Revocation) -> OAuthResult<()> {
        let app = self
            .client(Some(&r.client_id), Some(&r.client_secret))
            .await?;
        self.oauth()?.revoke(app.id, &hash(&r.token)).await?;
        Ok(())
    }

    /// What `access_token` is, or 401 (also for a token whose user is gone: deleting an
    /// account revokes its tokens; a directory that lags behind a new account must not).
    pub async fn introspect(&self, access_token: &str) -> Result<Introspection, ApiError> {
        let invalid = || ApiError::Unauthorized("The access token is invalid".into());
        if access_token.len() > 128 {
            return Err(invalid());
        }
        let store = self.oauth()?;
        let token = store
            .token(&hash(access_token))
            .await?
            .ok_or_else(invalid)?;
        let app = store.app_by_id(token.app).await?.ok_or_else(invalid)?;
        let (user, access_token) = match token.user {
            None => (None, None),
            Some(id) => {
                let user = match self.user(id).await {
                    Err(ApiError::NotFound(_)) => return Err(invalid()),
                    other => other?,
                };
                let now = now_ms() / 1000;
                let claims = Claims {
                    iss: ISSUER.into(),
                    sub: id.to_string(),
                    iat: now,
                    exp: now + self.config.access_ttl.as_secs() as i64,
                    sid: token.id.to_string(),
                };
                (Some(user), Some(sign(self.keys.signing(), &claims)))
            }
        };
        Ok(Introspection {
            token_id: token.id,
            app: AppView::from(&app),
            user,
            scopes: token.scopes.to_string(),
            access_token,
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_absolute_or_out_of_band() {
        assert!(valid_redirect(OUT_OF_BAND));
        assert!(valid_redirect("https://app.example/callback?x=1"));
        assert!(valid_redirect("tusky://oauth"));
        assert!(valid_redirect("http://127.0.0.1:9/cb"));
        assert!(!valid_redirect("/relative"));
        assert!(!valid_redirect("https://app.example/cb#frag"));
        assert!(!valid_redirect("https://app.example/c b"));
        assert!(!valid_redirect("1http://x"));
        assert!(!valid_redirect("nocolon"));
        assert!(!valid_redirect("javascript:alert(1)"));
        assert!(!valid_redirect("JavaScript://x"));
        assert!(!valid_redirect("data:text/html,x"));
        assert!(!valid_redirect("https://ünïcode.example/cb"));
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
