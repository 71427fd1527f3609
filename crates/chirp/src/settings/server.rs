//! The bounds on the HTTP connections a process serves.

use std::time::Duration;

use chirp_core::http::serve::ServeOptions;

#[derive(Debug, Clone, clap::Args)]
pub struct ServerSettings {
    /// Seconds a client has to send a whole request head, from its first byte (and a new
    /// connection, from its accept).
    #[arg(
        long,
        env = "CHIRP_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub header_read_timeout_secs: u64,

    /// Seconds a keep-alive connection may wait for its next request (more than the
    /// gateway's own 60 s, so that the gateway is the one that closes it).
    #[arg(
        long,
        env = "CHIRP_IDLE_TIMEOUT_SECS",
        default_value_t = 75,
        global = true
    )]
    pub idle_timeout_secs: u64,

    /// Connections served at once, per listener; past it a connection is answered 503 and
    /// closed. At most three quarters of the open-files limit (`ulimit -n`) is used.
    #[arg(
        long,
        env = "CHIRP_MAX_CONNECTIONS",
        default_value_t = 10_000,
        global = true
    )]
    pub max_connections: usize,

    /// Seconds a request's body may take to arrive once its head has; then 408.
    #[arg(
        long,
        env = "CHIRP_BODY_READ_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub body_read_timeout_secs: u64,

    /// Seconds requests in flight may take to finish after a stop; then the connections
    /// still open are closed. Within the shutdown timeout, which also covers the
    /// background workers and the stores.
    #[arg(
        long,
        env = "CHIRP_DRAIN_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub drain_timeout_secs: u64,
}

impl ServerSettings {
    /// The options of every listener, the drain no longer than `shutdown`.
    pub fn serve_options(&self, shutdown: Duration) -> ServeOptions {
        ServeOptions {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_connections: self.max_connections.max(1),
            body_read_timeout: Duration::from_secs(self.body_read_timeout_secs.max(1)),
            drain_timeout: Duration::from_secs(self.drain_timeout_secs).min(shutdown),
            stream_paths: &[],
        }
        .within_open_files_limit()
    }
}
