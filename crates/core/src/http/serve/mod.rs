//! Serving a router: our own accept loop over hyper's HTTP/1 connections, so that every
//! connection is bounded in time and in number. A client has `header_read_timeout` to send
//! a request head once it has begun one (and a new connection, to begin its first), an
//! idle keep-alive connection is closed after `idle_timeout`, at most `max_connections`
//! are served at once (past that, a connection is answered 503 and closed at once), a body
//! must arrive within `body_read_timeout` (408), and a stop lets requests in flight finish
//! for `drain_timeout`, then closes what is still open.
//! (`axum::serve` gives hyper no timer, which silently turns its header-read timeout off.)

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::error::ApiError;

mod head_timer;
mod streams;

use head_timer::{Activity, CountedReads, HeadTimer};

/// The bounds on every connection of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// From the first byte of a request head (or the accept, for a connection's first
    /// request) to its last.
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request. Longer than the
    /// gateway's own keep-alive towards us (NGINX: 60 s), so that it is always NGINX that
    /// closes an idle upstream connection, never us under a request it is sending.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a request's body may take to arrive once its head has (a request that
    /// reads a body and does not get it in time is answered 408).
    pub body_read_timeout: Duration,
    /// How long requests in flight may take to finish after a stop.
    pub drain_timeout: Duration,
    /// The paths of live streams: a connection whose first request is a `GET` of one is
    /// served without hyper's connection, which costs four times what a stream does
    /// while it waits (see `streams.rs`).
    pub stream_paths: &'static [&'static str],
}

/// The listener's deadline for a request's body, in each request's extensions for the
/// extractors that read a body.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub Duration);

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 10_000,
            body_read_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            stream_paths: &[],
        }
    }
}

impl ServeOptions {
    /// These options with `max_connections` at most three quarters of the process's limit
    /// on open files (the rest is for stores, files and the connections refused past the
    /// cap), so that a flood of connections can never leave the process unable to open
    /// one.
    pub fn within_open_files_limit(mut self) -> Self {
        if let Some(limit) = open_files_limit() {
            let room = (limit as usize).saturating_mul(3) / 4;
            if room < self.max_connections {
                tracing::info!(
                    open_files_limit = limit,
                    max_connections = room,
                    "connections capped below the open-files limit"
                );
                self.max_connections = room.max(1);
            }
        }
        self
    }
}

/// The soft limit on open files (`ulimit -n`), from `/proc/self/limits`.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `app` on `listener` until `stop` is cancelled, then drains (see the module).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    options: ServeOptions,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let connections = TaskTracker::new();
    let close_now = CancellationToken::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to be given back
                // rather than spin.
                tracing::error!(error = %e, "accepting a connection failed");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let conn = Connection {
                    app: app.clone(),
                    options,
                    stop: stop.clone(),
                    close_now: close_now.clone(),
                };
                connections.spawn(async move {
                    conn.serve(tcp, remote).await;
                    drop(slot);
                });
            }
            Err(_) => {
                connections.spawn(refuse(tcp));
            }
        }
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(options.drain_timeout, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            drain_timeout = ?options.drain_timeout,
            "connections still open after the drain deadline; closing them"
        );
        close_now.cancel();
        connections.wait().await;
    }
    Ok(())
}

/// Errors of one connection that does not concern the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Past the cap: a 503 without reading the request, and the connection closed.
async fn refuse(mut tcp: TcpStream) {
    let write = async {
        tcp.write_all(&too_many_connections()).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// The whole answer to a connection past the cap.
fn too_many_connections() -> Vec<u8> {
    let problem = ApiError::Busy {
        detail: "too many connections; try again in a moment".into(),
        retry_after: Duration::from_secs(1),
    };
    let body = serde_json::json!({
        "type": format!("/problems/{}", problem.type_slug()),
        "title": "Service Unavailable",
        "status": 503,
        "detail": problem.to_string(),
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\n\
         content-type: application/problem+json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

struct Connection {
    app: Router,
    options: ServeOptions,
    stop: CancellationToken,
    close_now: CancellationToken,
}

impl Connection {
    async fn serve(self, tcp: TcpStream, remote: SocketAddr) {
        // Answers go out when written: with Nagle's algorithm, an answer written in two
        // parts waits for the client's delayed acknowledgement of the first (40 ms).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY could not be set on a connection");
        }
        let mut first_head = self.options.header_read_timeout;
        if !self.options.stream_paths.is_empty() {
            let started = std::time::Instant::now();
            let peeked = tokio::select! {
                // Boxed: see `streams::serve`.
                peeked = Box::pin(streams::peek(&tcp, self.options.stream_paths, first_head)) => peeked,
                // A connection that has not begun a request closes at a stop.
                _ = self.stop.cancelled() => return,
            };
            match peeked {
                streams::Peeked::Gone => return,
                streams::Peeked::Other => {}
                streams::Peeked::Stream { request, head_len } => {
                    let app = self.app;
                    let close_now = self.close_now;
                    let body_deadline = BodyReadTimeout(self.options.body_read_timeout);
                    streams::serve(
                        tcp,
                        remote,
                        request,
                        head_len,
                        app,
                        body_deadline,
                        close_now,
                    )
                    .await;
                    return;
                }
            }
            // What is left of the time for the first head is hyper's.
            first_head = first_head.saturating_sub(started.elapsed());
        }
        // Boxed: hyper's connection is large, and a future holds room for its largest
        // state, so inline it would make every stream's task as large.
        Box::pin(self.serve_http(tcp, remote, first_head)).await;
    }

    /// Serves the connection with hyper.
    async fn serve_http(self, tcp: TcpStream, remote: SocketAddr, first_head: Duration) {
        let body_deadline = BodyReadTimeout(self.options.body_read_timeout);
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(CountedReads {
            inner: tcp,
            activity: activity.clone(),
        });
        let app = self.app;
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(remote));
            req.extensions_mut().insert(body_deadline);
            // A router is always ready: `call` needs no `poll_ready` first.
            let mut app = app.clone();
            async move { app.call(req).await }
        });
        let timer = HeadTimer {
            activity,
            first_head,
            header: self.options.header_read_timeout,
            idle: self.options.idle_timeout,
        };
        let conn = http1::Builder::new()
            .timer(timer)
            .header_read_timeout(self.options.header_read_timeout)
            .serve_connection(io, service)
            // A WebSocket (the Mastodon API's streaming) takes the connection over.
            .with_upgrades();
        tokio::pin!(conn);
        let ended = tokio::select! {
            ended = conn.as_mut() => ended,
            _ = self.stop.cancelled() => {
                // Idle connections close now; one with a request in flight after its
                // answer, or when the drain deadline closes it.
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    ended = conn.as_mut() => ended,
                    _ = self.close_now.cancelled() => Ok(()),
                }
            }
        };
        if let Err(e) = ended {
            tracing::debug!(error = %e, client = %remote, "connection ended");
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
