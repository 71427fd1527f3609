//! The limits on attempts: logins, signups and writes, each per account or user and per
//! client address. A limit reads `<attempts>/<window>` (`10/15m`, `300/1h`) or `off`.

use chirp_core::limits::Limit;

#[derive(Debug, Clone, clap::Args)]
pub struct LimitSettings {
    /// Logins tried on one account (failed, or being checked) per window; past it, 429
    /// until the oldest attempt leaves the window. A success clears the count.
    #[arg(
        long,
        env = "CHIRP_LOGIN_LIMIT_PER_ACCOUNT",
        default_value = "10/15m",
        global = true
    )]
    pub login_limit_per_account: Limit,

    /// Logins tried from one client address (an IPv6 /64) per window; a success takes its
    /// own attempt back.
    #[arg(
        long,
        env = "CHIRP_LOGIN_LIMIT_PER_ADDRESS",
        default_value = "100/15m",
        global = true
    )]
    pub login_limit_per_address: Limit,

    /// Signups from one client address (an IPv6 /64) per window.
    #[arg(
        long,
        env = "CHIRP_SIGNUP_LIMIT_PER_ADDRESS",
        default_value = "5/30m",
        global = true
    )]
    pub signup_limit_per_address: Limit,

    /// API requests from one client address (an IPv6 /64) per window, of every kind.
    /// Under the gateway's own limit (NGINX: 100 a second, 200 at once), which stops a
    /// flood before it reaches a service.
    #[arg(
        long,
        env = "CHIRP_REQUEST_LIMIT_PER_ADDRESS",
        default_value = "6000/5m",
        global = true
    )]
    pub request_limit_per_address: Limit,

    /// Writes (posts and their edits and deletions, follows and unfollows) per user per
    /// window.
    #[arg(
        long,
        env = "CHIRP_WRITE_LIMIT_PER_USER",
        default_value = "300/1h",
        global = true
    )]
    pub write_limit_per_user: Limit,

    /// Writes from one client address (an IPv6 /64) per window, whoever makes them.
    #[arg(
        long,
        env = "CHIRP_WRITE_LIMIT_PER_ADDRESS",
        default_value = "1500/1h",
        global = true
    )]
    pub write_limit_per_address: Limit,
}

impl LimitSettings {
    /// Every limit off: for a benchmark's load, which comes from one address and far
    /// faster than any person writes.
    pub fn off() -> Self {
        LimitSettings {
            login_limit_per_account: Limit::OFF,
            login_limit_per_address: Limit::OFF,
            signup_limit_per_address: Limit::OFF,
            request_limit_per_address: Limit::OFF,
            write_limit_per_user: Limit::OFF,
            write_limit_per_address: Limit::OFF,
        }
    }
}
