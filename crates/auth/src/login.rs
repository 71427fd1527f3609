//! Login, and the limits that keep passwords from being guessed. Every attempt is counted
//! before its password is checked, atomically (so that attempts sent at once cannot all
//! pass a count taken before any of them failed), against the account and against the
//! client address; a success clears the account's count and takes its own attempt back
//! from the address's. The account is the identity once it is found, whichever of its
//! handle or email was typed, and otherwise the login string (lower-cased, hashed to a
//! key of fixed length), so that unknown accounts cost a guesser the same.

use std::net::IpAddr;

use chirp_core::limits::{address_key, count_attempt};
use chirp_core::model::User;
use chirp_core::time::now_ms;
use chirp_core::{ApiError, ApiResult};
use sha2::{Digest, Sha256};

use crate::service::{AuthService, Tokens};

/// Longer than any email (254) or handle (30): such a login is nobody's, and is not looked
/// up.
const LONGEST_LOGIN: usize = 254;

pub(crate) const TOO_MANY: &str = "too many failed logins; try again later";

/// The limiter key of the account a login names.
pub(crate) fn account_key(login: &str, found: Option<chirp_core::Id>) -> String {
    match found {
        Some(id) => format!("login:user:{id}"),
        None => {
            let digest = Sha256::digest(login.to_lowercase().as_bytes());
            let short: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("login:name:{short}")
        }
    }
}

impl AuthService {
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> ApiResult<Tokens> {
        let user = self.check_password(login, password, client).await?;
        self.open_session(user).await
    }

    /// The user whose login (handle or email) and password these are, under the limits
    /// above; counted in the login metrics. A session is the caller's to open.
    pub async fn check_password(
        &self,
        login: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> ApiResult<User> {
        let outcome = self.try_login(login, password, client).await;
        match &outcome {
            Ok(_) => self.logins.success.inc(),
            Err(ApiError::Unauthorized(_)) => self.logins.failure.inc(),
            Err(ApiError::TooManyRequests { .. }) => self.logins.throttled.inc(),
            Err(_) => 0,
        };
        outcome
    }

    async fn try_login(
        &self,
        login: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> ApiResult<User> {
        let now = now_ms();
        let limiter = &*self.limiter;
        let address = client.map(|ip| format!("login:address:{}", address_key(ip)));
        let mut address_attempt = None;
        if let Some(key) = &address {
            let limit = self.config.login_per_address;
            address_attempt = count_attempt(limiter, key, limit, now, TOO_MANY).await?;
        }
        let found = match login.len() <= LONGEST_LOGIN {
            true => self.identities.find_by_login(login).await?,
            false => None,
        };
        let account = account_key(login, found.as_ref().map(|i| i.id));
        let limit = self.config.login_per_account;
        count_attempt(limiter, &account, limit, now, TOO_MANY).await?;
        // Verify even when there is no such account, so both cases take as long.
        let known_hash = found.as_ref().map(|i| i.password_hash.clone());
        let ok = self
            .passwords
            .verify(password.to_owned(), known_hash)
            .await?;
        let identity = match (ok, found) {
            (true, Some(identity)) => identity,
            _ => return Err(ApiError::Unauthorized("wrong login or password".into())),
        };
        limiter.clear(&account).await?;
        if let (Some(key), Some(attempt)) = (&address, &address_attempt) {
            limiter.forgive(key, attempt).await?;
        }
        let user = match self.user(identity.id).await {
            // An identity whose profile is gone: its account was deleted and the
            // identity could not be removed then.
            Err(ApiError::NotFound(_)) => {
                self.forget_identity(identity.id).await;
                return Err(ApiError::Unauthorized("wrong login or password".into()));
            }
            other => other?,
        };
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_logins_are_keyed_by_a_bounded_hash_ignoring_case() {
        let long = "x".repeat(65_536);
        let key = account_key(&long, None);
        assert!(key.len() < 64, "{key}");
        assert_eq!(account_key("Victim1", None), account_key("victim1", None));
        assert_ne!(account_key("victim1", None), account_key("victim2", None));
        let id = chirp_core::Id(42);
        assert_eq!(
            account_key("victim1", Some(id)),
            account_key("v@x.org", Some(id))
        );
    }
}
