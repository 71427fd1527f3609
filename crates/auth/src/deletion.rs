//! Deleting an account (`DELETE /api/v1/auth/me`), what the GDPR's right to erasure asks.
//!
//! The password is checked as at a login (and counted against the same limit, so that a
//! stolen access token cannot be used to guess it). Then, in this order:
//!
//! 1. the account's access tokens stop counting in every service (the revocations every
//!    verifier asks), so nothing done with them lands after the deletion;
//! 2. the profile goes, with `user.deleted` in the same transaction: the point after which
//!    the deletion happens, whatever fails next, since every other service forgets the
//!    user when it takes that event (posts, reposts, likes, follows both ways, blocks,
//!    mutes, the index), and a refresh of any of its sessions finds no user;
//! 3. the identity goes, and with it the handle and e-mail, free for a new signup at once.
//!
//! A failure before 2 changes nothing that a new sign-in does not undo (1 refuses only the
//! tokens issued until then). An identity that outlives its profile (3 failed) is removed
//! by the next login to it, which is refused.

use chirp_core::events::{Event, EventBody};
use chirp_core::limits::count_attempt;
use chirp_core::time::now_ms;
use chirp_core::{ApiError, ApiResult, Id};

use crate::login::{account_key, TOO_MANY};
use crate::service::AuthService;

/// How long past its lifetime a revocation is kept (clocks of the services differ).
const REVOCATION_SLACK_MS: i64 = 60_000;

impl AuthService {
    /// Deletes `caller`'s account if `password` is theirs: 401 if not.
    pub async fn delete_account(&self, caller: Id, password: &str) -> ApiResult<()> {
        let (user, identity) = match self.account(caller).await {
            Err(ApiError::NotFound(_)) => {
                return Err(ApiError::Unauthorized(
                    "the account no longer exists".into(),
                ))
            }
            other => other?,
        };
        let account = account_key(&user.handle, Some(caller));
        let limit = self.config.login_per_account;
        count_attempt(&*self.limiter, &account, limit, now_ms(), TOO_MANY).await?;
        let right = self
            .passwords
            .verify(password.to_owned(), Some(identity.password_hash))
            .await?;
        if !right {
            return Err(ApiError::Unauthorized("wrong password".into()));
        }
        self.limiter.clear(&account).await?;

        // The Mastodon apps' tokens first: none of them is traded for a new access token
        // once the ones already issued are revoked.
        if let Some(oauth) = &self.oauth {
            oauth.revoke_user(caller).await?;
        }
        let now = now_ms();
        let lifetime = self.config.access_ttl.as_millis() as i64;
        self.verifier
            .revoke(caller, now / 1000, lifetime + REVOCATION_SLACK_MS)
            .await?;
        let event = Event {
            id: self.ids.next_id()?,
            // Nothing of the user is left after it: the last version there will be.
            version: i64::MAX as u64,
            occurred_at_ms: now,
            trace: chirp_core::traces::current(),
            body: EventBody::UserDeleted { user_id: caller },
        };
        if self.profiles.delete(caller, &event).await? {
            self.outbox_wake.notify_one();
        }
        self.forget_identity(caller).await;
        tracing::info!(user = %caller, "account deleted");
        Ok(())
    }

    /// Removes the identity of a deleted account; a failure is logged, and the identity
    /// removed at its next login (see [`AuthService::login`]).
    pub(crate) async fn forget_identity(&self, id: Id) {
        if let Err(e) = self.identities.remove(id).await {
            tracing::error!(user = %id, error = format!("{e:#}"), "the identity of a deleted account remains until its next login");
        }
    }
}
