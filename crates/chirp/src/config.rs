//! Configuration: one `clap` parser; every flag also reads an environment variable, and
//! its doc comment is its `--help` text.

use clap::{Parser, Subcommand, ValueEnum};

pub use crate::settings::Settings;

/// Chirp: a short-post social network, as eight services, a web client and a Mastodon API.
///
/// `chirp all` runs every service in one process on embedded defaults (SQLite, tantivy,
/// an in-process event log), keeping its data in the data directory. The other
/// subcommands run one service each.
#[derive(Debug, Parser)]
#[command(name = "chirp", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Every service in one process, serving the whole API on one port (the default).
    All,
    /// AuthService: signup, login, tokens, refresh sessions, JWKS (default port 8081).
    Auth,
    /// WriteService: create, edit and delete posts; relays its outbox (default port 8082).
    Write,
    /// FanoutService: consumes post and graph events into home timelines (default port 8083).
    Fanout,
    /// UserGraphService: follow, unfollow, followers, following (default port 8084).
    Graph,
    /// TimelineService: home timelines and their rebuild (default port 8085).
    Timeline,
    /// ReadService: users, posts, home and user timelines (default port 8086).
    Read,
    /// SearchService: indexes events; post and user search (default port 8087).
    Search,
    /// NotificationService: notifications made from events; read marks and unread
    /// counts (default port 8088).
    Notifications,
    /// The web client: the pages, their assets and the browser sessions, on AuthService's
    /// public API (default port 8089).
    Web,
    /// The Mastodon client API and OAuth 2, a facade over the public API and AuthService's
    /// OAuth apps and tokens, on an origin of its own (default port 8090).
    Mastodon,
}

impl Command {
    /// Whether a process of this role runs `service`.
    pub fn runs(self, service: Command) -> bool {
        self == Command::All || self == service
    }

    /// Whether the role answers public API routes (FanoutService and TimelineService have
    /// none).
    pub fn has_public_api(self) -> bool {
        !matches!(self, Command::Fanout | Command::Timeline)
    }

    /// The services whose `/internal/v1` routes other processes call.
    pub fn has_internal_routes(self) -> bool {
        matches!(
            self,
            Command::Auth | Command::Graph | Command::Timeline | Command::Read
        )
    }

    pub fn default_port(self) -> u16 {
        match self {
            Command::All => 8080,
            Command::Auth => 8081,
            Command::Write => 8082,
            Command::Fanout => 8083,
            Command::Graph => 8084,
            Command::Timeline => 8085,
            Command::Read => 8086,
            Command::Search => 8087,
            Command::Notifications => 8088,
            Command::Web => 8089,
            Command::Mastodon => 8090,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Command::All => "all",
            Command::Auth => "auth",
            Command::Write => "write",
            Command::Fanout => "fanout",
            Command::Graph => "graph",
            Command::Timeline => "timeline",
            Command::Read => "read",
            Command::Search => "search",
            Command::Notifications => "notifications",
            Command::Web => "web",
            Command::Mastodon => "mastodon",
        }
    }
}

/// A worker id given by hand, or one leased at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerId {
    Fixed(u16),
    Auto,
}

impl std::str::FromStr for WorkerId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(WorkerId::Auto);
        }
        match s.parse::<u16>() {
            Ok(n) if n <= chirp_core::id::MAX_WORKER_ID => Ok(WorkerId::Fixed(n)),
            _ => Err(format!(
                "a worker id is `auto` or a number from 0 to {}",
                chirp_core::id::MAX_WORKER_ID
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_are_a_number_or_auto() {
        assert_eq!("auto".parse(), Ok(WorkerId::Auto));
        assert_eq!("1023".parse(), Ok(WorkerId::Fixed(1023)));
        assert!("1024".parse::<WorkerId>().is_err());
        assert!("-1".parse::<WorkerId>().is_err());
    }
}
