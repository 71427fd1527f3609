//! Live streams served without hyper's connection. A connection held open by a live
//! stream (Server-Sent Events) sends an event now and then and reads nothing, yet hyper's
//! HTTP/1 connection keeps a read and a write buffer (8 KiB each) and its state for as
//! long as it is open: about 21 KB a connection, four times what a stream itself needs.
//! So a connection whose first request is a stream's is served here instead: its head is
//! looked at without being read ([`peek`]); if it is a plain `GET` of a stream path, it
//! goes through the same router (the same layers, logs, metrics and answers), and the
//! answer is written here, its body in chunks as it comes, holding nothing between
//! events. Then the connection is closed (`connection: close`): a stream's end is
//! its connection's. Anything else (another path, a head split over two reads, one with a
//! body, HTTP/1.0) is left untouched in the socket for hyper.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri};
use axum::Router;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tower::Service;

use super::BodyReadTimeout;

/// The most of a first request's head looked at (more goes to hyper).
const HEAD_PEEKED: usize = 8 * 1024;

/// Headers a stream's request may have (more goes to hyper, which answers for them).
const MAX_HEADERS: usize = 64;

/// The largest answer with a length (a problem document) collected before it is written.
const MAX_WHOLE_ANSWER: usize = 64 * 1024;

/// What a connection's first bytes are.
pub(super) enum Peeked {
    /// A stream's request, whole: `head_len` bytes of the socket.
    Stream {
        request: Box<Request<Body>>,
        head_len: usize,
    },
    /// Anything else, for hyper.
    Other,
    /// The client closed the connection, or sent nothing within the time for a head.
    Gone,
}

/// Looks at the first request head on `tcp` without reading it: a stream's request if it
/// is a whole `GET` of one of `paths`, in HTTP/1.1, without a body.
pub(super) async fn peek(tcp: &TcpStream, paths: &[&str], within: Duration) -> Peeked {
    let mut buf = vec![0u8; HEAD_PEEKED];
    let n = match tokio::time::timeout(within, tcp.peek(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => n,
        _ => return Peeked::Gone,
    };
    match stream_request(&buf[..n], paths) {
        Some((request, head_len)) => Peeked::Stream {
            request: Box::new(request),
            head_len,
        },
        None => Peeked::Other,
    }
}

/// The request in `bytes` if they begin with a whole head of a stream's request.
fn stream_request(bytes: &[u8], paths: &[&str]) -> Option<(Request<Body>, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        _ => return None,
    };
    if parsed.method != Some("GET") || parsed.version != Some(1) {
        return None;
    }
    let target = parsed.path?;
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if !paths.contains(&path) {
        return None;
    }
    let mut map = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(h.value).ok()?;
        map.append(name, value);
    }
    // A body, or a request to become something else, is hyper's to handle.
    let lengths = map.get_all(header::CONTENT_LENGTH);
    let has_body = map.contains_key(header::TRANSFER_ENCODING)
        || lengths.iter().count() > 1
        || lengths.iter().any(|v| v.as_bytes() != b"0");
    if has_body || map.contains_key(header::UPGRADE) || map.contains_key(header::EXPECT) {
        return None;
    }
    let uri: Uri = target.parse().ok()?;
    let mut request = Request::new(Body::empty());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri;
    *request.headers_mut() = map;
    Some((request, head_len))
}

/// Serves a stream's request whose head is the first `head_len` bytes of `tcp`: through
/// `app`, its answer written here, then the connection closed. `close_now` ends it at
/// once (the drain deadline of a stop).
pub(super) async fn serve(
    mut tcp: TcpStream,
    remote: SocketAddr,
    request: Box<Request<Body>>,
    head_len: usize,
    app: Router,
    body_deadline: BodyReadTimeout,
    close_now: CancellationToken,
) {
    // Everything done once, before the stream's long wait, is boxed: a task holds room
    // for the largest state of its future for as long as it lives.
    let opened = tokio::select! {
        opened = Box::pin(open(&mut tcp, remote, request, head_len, app, body_deadline)) => opened,
        _ = close_now.cancelled() => return,
    };
    let ended = match opened {
        Ok(None) => Ok(()),
        Ok(Some(body)) => tokio::select! {
            ended = pump(&mut tcp, body) => ended,
            _ = close_now.cancelled() => Ok(()),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, client = %remote, "stream connection ended");
    }
}

/// Reads the request's head out of the socket, asks `app` for the answer and writes its
/// head (or all of it, when it has a length): the body still to be written, if any.
async fn open(
    tcp: &mut TcpStream,
    remote: SocketAddr,
    request: Box<Request<Body>>,
    head_len: usize,
    app: Router,
    body_deadline: BodyReadTimeout,
) -> io::Result<Option<Body>> {
    match respond(tcp, remote, request, head_len, app, body_deadline).await {
        Some(response) => write_head(tcp, response).await,
        None => Ok(None),
    }
}

/// Takes the request's head out of the socket (it was only looked at) and asks `app`
/// for the answer; `None` if the head could not be read.
async fn respond(
    tcp: &mut TcpStream,
    remote: SocketAddr,
    request: Box<Request<Body>>,
    head_len: usize,
    mut app: Router,
    body_deadline: BodyReadTimeout,
) -> Option<Response<Body>> {
    let mut head = vec![0u8; head_len];
    tcp.read_exact(&mut head).await.ok()?;
    let mut request = *request;
    request.extensions_mut().insert(ConnectInfo(remote));
    request.extensions_mut().insert(body_deadline);
    match app.call(request).await {
        Ok(response) => Some(response),
        Err(never) => match never {},
    }
}

/// Writes `body` on `tcp` in chunks as they come, until it ends or the client goes.
async fn pump(tcp: &mut TcpStream, body: Body) -> io::Result<()> {
    let mut data = body.into_data_stream();
    let (read, mut write) = tcp.split();
    loop {
        let next = tokio::select! {
            next = data.next() => next,
            gone = client_gone(&read) => {
                if gone {
                    return Ok(());
                }
                // Woken without anything to read.
                continue;
            }
        };
        match next {
            Some(Ok(bytes)) if bytes.is_empty() => {}
            Some(Ok(bytes)) => {
                let mut chunk = Vec::with_capacity(bytes.len() + 12);
                chunk.extend_from_slice(format!("{:x}\r\n", bytes.len()).as_bytes());
                chunk.extend_from_slice(&bytes);
                chunk.extend_from_slice(b"\r\n");
                write.write_all(&chunk).await?;
            }
            // The body failed: the client sees the connection end without the last chunk.
            Some(Err(e)) => return Err(io::Error::other(e)),
            None => {
                // The last chunk, if the client has room for it (a client too slow for the
                // stream has none, and is not waited for; one with room for part of it
                // sees the same abrupt end).
                let _ = write.try_write(b"0\r\n\r\n");
                return Ok(());
            }
        }
    }
}

/// Writes the answer's head, and the whole answer when its body has a length: the body
/// still to be written in chunks, if any.
async fn write_head(tcp: &mut TcpStream, response: Response<Body>) -> io::Result<Option<Body>> {
    let (parts, body) = response.into_parts();
    let (whole, body) = match axum::body::HttpBody::size_hint(&body).exact() {
        Some(_) => {
            let whole = axum::body::to_bytes(body, MAX_WHOLE_ANSWER)
                .await
                .map_err(io::Error::other)?;
            (Some(whole), None)
        }
        None => (None, Some(body)),
    };
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(
        parts
            .status
            .canonical_reason()
            .unwrap_or("Unknown")
            .as_bytes(),
    );
    head.extend_from_slice(b"\r\n");
    for (name, value) in parts.headers.iter() {
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
        {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"date: ");
    head.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
    head.extend_from_slice(b"\r\nconnection: close\r\n");
    match whole {
        Some(bytes) => {
            head.extend_from_slice(format!("content-length: {}\r\n\r\n", bytes.len()).as_bytes());
            head.extend_from_slice(&bytes);
            tcp.write_all(&head).await?;
            tcp.shutdown().await?;
        }
        None => {
            head.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            tcp.write_all(&head).await?;
        }
    }
    Ok(body)
}

/// Waits until the client sends something: true if it closed the connection (or it
/// failed) or sent bytes, which a stream's client has no reason to (a request after the
/// stream's, on a connection the answer said would close): a client that sends is not
/// read from for ever.
async fn client_gone(read: &tokio::net::tcp::ReadHalf<'_>) -> bool {
    if read.readable().await.is_err() {
        return true;
    }
    let mut scrap = [0u8; 64];
    !matches!(read.try_read(&mut scrap), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATHS: &[&str] = &["/api/v1/streaming"];

    #[test]
    fn a_whole_get_of_a_stream_path_is_a_stream_request() {
        let head = b"GET /api/v1/streaming?stream=home&access_token=t HTTP/1.1\r\n\
                     host: x\r\nlast-event-id: 12\r\n\r\nGET /next";
        let (request, len) = stream_request(head, PATHS).expect("a stream request");
        assert_eq!(len, head.len() - b"GET /next".len());
        assert_eq!(request.uri().query(), Some("stream=home&access_token=t"));
        assert_eq!(request.headers()["last-event-id"], "12");
    }

    #[test]
    fn anything_else_is_left_for_hyper() {
        let others: &[&[u8]] = &[
            b"GET /api/v1/posts HTTP/1.1\r\nhost: x\r\n\r\n",
            b"POST /api/v1/streaming HTTP/1.1\r\nhost: x\r\n\r\n",
            b"GET /api/v1/streaming HTTP/1.0\r\nhost: x\r\n\r\n",
            b"GET /api/v1/streaming?stream=home HTTP/1.1\r\nhost: x\r\n",
            b"GET /api/v1/streaming HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc",
            b"GET /api/v1/streaming HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
            b"GET /api/v1/streaming HTTP/1.1\r\ncontent-length: 0\r\ncontent-length: 3\r\n\r\n",
            b"GET /api/v1/streaming HTTP/1.1\r\nupgrade: websocket\r\n\r\n",
            b"GET /api/v1/streaming/x HTTP/1.1\r\nhost: x\r\n\r\n",
            b"not http at all\r\n\r\n",
        ];
        for other in others {
            assert!(
                stream_request(other, PATHS).is_none(),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }
}
