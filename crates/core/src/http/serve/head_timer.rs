//! The timing of a connection's request heads: a socket that counts what it reads, and
//! hyper's timer for one connection, which tells a client that has begun a request head
//! (bounded by the header-read timeout) from one that is idle between requests (bounded
//! by the idle timeout).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What a connection has read so far, for its timer to tell a client that has begun a
/// request head from one that is idle.
#[derive(Default)]
pub(super) struct Activity {
    bytes_read: AtomicU64,
    heads_awaited: AtomicU64,
}

/// A socket that counts the bytes read from it.
pub(super) struct CountedReads {
    pub(super) inner: TcpStream,
    pub(super) activity: Arc<Activity>,
}

impl AsyncRead for CountedReads {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut me.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            me.activity
                .bytes_read
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        read
    }
}

impl AsyncWrite for CountedReads {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// hyper's timer for one connection. hyper asks it for one deadline only: when it starts
/// to wait for a request head, which it does as soon as the previous answer is written,
/// so its header-read timeout would also be the idle timeout. This timer tells the two
/// apart: the wait is idle (and bounded by `idle`) until the first byte of a head
/// arrives, and from then on bounded by `header`. A connection's first wait is bounded by
/// `header` from the start.
pub(super) struct HeadTimer {
    pub(super) activity: Arc<Activity>,
    /// The bound on the connection's first head (what is left of `header` after its
    /// first bytes were looked at, see `streams.rs`).
    pub(super) first_head: Duration,
    pub(super) header: Duration,
    pub(super) idle: Duration,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Plain(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, _deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let first = self.activity.heads_awaited.fetch_add(1, Ordering::Relaxed) == 0;
        let bound = if first { self.first_head } else { self.idle };
        Box::pin(HeadWait {
            activity: self.activity.clone(),
            read_before: self.activity.bytes_read.load(Ordering::Relaxed),
            header: self.header,
            head_begun: first,
            sleep: Box::pin(tokio::time::sleep(bound)),
        })
    }
}

/// A plain sleep, for anything else hyper might time.
struct Plain(Pin<Box<tokio::time::Sleep>>);

impl Future for Plain {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for Plain {}

/// One wait for a request head (see [`HeadTimer`]). hyper polls it whenever the
/// connection wakes without a whole head, so a read that begins a head is seen at once.
struct HeadWait {
    activity: Arc<Activity>,
    read_before: u64,
    header: Duration,
    head_begun: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadWait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.head_begun && self.activity.bytes_read.load(Ordering::Relaxed) != self.read_before
        {
            self.head_begun = true;
            let deadline = tokio::time::Instant::now() + self.header;
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadWait {}
