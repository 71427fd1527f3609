//! The load's HTTP/1.1 client: plain keep-alive connections to one address, each request
//! written and its answer read by the task that sends it. A general client (reqwest, and
//! hyper under it) parses a URL, runs each connection in a task of its own and wakes it
//! for every request; on a two-core machine that the measured server shares, what the
//! load costs is taken from the server, so the load's own requests take the short way.
//! (The population and the metrics pages, which are not load, use reqwest.)

use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where requests go: `http://host:port` and a path prefix.
pub struct Wire {
    /// `host:port`, connected to and sent as `Host`.
    authority: String,
    /// What the base URL's path adds before each request's path.
    prefix: String,
    idle: Mutex<Vec<TcpStream>>,
    timeout: Duration,
}

/// A whole answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why an answer could not be read off a connection.
enum Failure {
    /// The connection was closed (or failed) before any of the answer came: on a
    /// connection kept from before, the server may have let it go while idle.
    Unused(std::io::Error),
    Other(anyhow::Error),
}

impl Wire {
    /// For the base URL `base` (`http://host:port`, perhaps with a path).
    pub fn new(base: &str, timeout: Duration) -> anyhow::Result<Wire> {
        let rest = base
            .strip_prefix("http://")
            .with_context(|| format!("{base}: only http:// targets can be measured"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        anyhow::ensure!(!authority.is_empty(), "{base}: no host");
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Wire {
            authority,
            prefix: path.trim_end_matches('/').to_owned(),
            idle: Mutex::new(Vec::new()),
            timeout,
        })
    }

    /// Sends `method path` (with a bearer `authorization` value and a JSON `body`, when
    /// given) and reads the whole answer, within the timeout.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&[u8]>,
        body: Option<&[u8]>,
    ) -> anyhow::Result<Answer> {
        let request = self.request(method, path, authorization, body);
        tokio::time::timeout(self.timeout, self.exchange(&request))
            .await
            .with_context(|| format!("no answer to {method} {path} in {:?}", self.timeout))?
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&[u8]>,
        body: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut r = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
        for part in [
            method,
            " ",
            &self.prefix,
            path,
            " HTTP/1.1\r\nHost: ",
            &self.authority,
        ] {
            r.extend_from_slice(part.as_bytes());
        }
        if let Some(a) = authorization {
            r.extend_from_slice(b"\r\nAuthorization: ");
            r.extend_from_slice(a);
        }
        if let Some(b) = body {
            r.extend_from_slice(b"\r\nContent-Type: application/json\r\nContent-Length: ");
            r.extend_from_slice(b.len().to_string().as_bytes());
            r.extend_from_slice(b"\r\n\r\n");
            r.extend_from_slice(b);
        } else {
            r.extend_from_slice(b"\r\n\r\n");
        }
        r
    }

    async fn exchange(&self, request: &[u8]) -> anyhow::Result<Answer> {
        let kept = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if let Some(mut conn) = kept {
            match exchange_on(&mut conn, request).await {
                Ok((answer, reusable)) => {
                    self.put_back(conn, reusable);
                    return Ok(answer);
                }
                // Closed while idle: once more, on a new connection.
                Err(Failure::Unused(_)) => {}
                Err(Failure::Other(e)) => return Err(e),
            }
        }
        let mut conn = self.connect().await?;
        match exchange_on(&mut conn, request).await {
            Ok((answer, reusable)) => {
                self.put_back(conn, reusable);
                Ok(answer)
            }
            Err(Failure::Unused(e)) => Err(anyhow::Error::new(e).context("the connection closed")),
            Err(Failure::Other(e)) => Err(e),
        }
    }

    /// Opens connections, up to `n` at most kept idle, so that a load's first requests
    /// do not each open one: a burst of connections at once would overflow the server's
    /// queue of connections to accept, and a connection refused that way is tried again
    /// only a second later.
    pub async fn warm(&self, n: usize) -> anyhow::Result<()> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).len();
            if idle >= n {
                return Ok(());
            }
            let batch = (n - idle).min(32);
            let opened = futures::future::join_all((0..batch).map(|_| self.connect())).await;
            for conn in opened {
                self.put_back(conn?, true);
            }
        }
    }

    async fn connect(&self) -> anyhow::Result<TcpStream> {
        let conn = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        conn.set_nodelay(true)?;
        Ok(conn)
    }

    fn put_back(&self, conn: TcpStream, reusable: bool) {
        if reusable {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}

/// Writes `request` on `conn` and reads its answer; whether the connection can carry
/// another.
async fn exchange_on(conn: &mut TcpStream, request: &[u8]) -> Result<(Answer, bool), Failure> {
    if let Err(e) = conn.write_all(request).await {
        return Err(Failure::Unused(e));
    }
    let mut buf = Vec::with_capacity(4096);
    // The head.
    let (status, framing, close, head_len) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                let status = res.code.unwrap_or(0);
                let (framing, close) = framing_of(status, res.headers, res.version == Some(0))
                    .map_err(Failure::Other)?;
                break (status, framing, close, n);
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(Failure::Other(anyhow::anyhow!("a malformed answer: {e}"))),
        }
        match read_more(conn, &mut buf).await {
            Ok(0) if buf.is_empty() => {
                return Err(Failure::Unused(std::io::ErrorKind::UnexpectedEof.into()))
            }
            Ok(0) => {
                return Err(Failure::Other(anyhow::anyhow!(
                    "the answer's head was cut off"
                )))
            }
            Ok(_) => {}
            Err(e) if buf.is_empty() => return Err(Failure::Unused(e)),
            Err(e) => return Err(Failure::Other(e.into())),
        }
    };
    buf.drain(..head_len);
    let (body, reusable) = match framing {
        Framing::Length(n) => {
            while buf.len() < n {
                let got = read_more(conn, &mut buf)
                    .await
                    .map_err(|e| Failure::Other(e.into()))?;
                if got == 0 {
                    return Err(Failure::Other(anyhow::anyhow!(
                        "the answer's body was cut off"
                    )));
                }
            }
            let reusable = !close && buf.len() == n;
            buf.truncate(n);
            (buf, reusable)
        }
        Framing::Chunked => {
            let body = read_chunked(conn, buf).await.map_err(Failure::Other)?;
            (body, !close)
        }
        Framing::UntilClose => {
            loop {
                let got = read_more(conn, &mut buf)
                    .await
                    .map_err(|e| Failure::Other(e.into()))?;
                if got == 0 {
                    break;
                }
            }
            (buf, false)
        }
    };
    Ok((Answer { status, body }, reusable))
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// How the body is delimited, and whether the server closes the connection after it. An
/// answer of status 1xx, 204 or 304 has no body, whatever its headers say (RFC 9112,
/// 6.3): a 204 without a Content-Length ends with its head.
fn framing_of(
    status: u16,
    headers: &[httparse::Header<'_>],
    http10: bool,
) -> anyhow::Result<(Framing, bool)> {
    let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
    let mut framing = Framing::UntilClose;
    let mut close = http10;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .context("a Content-Length that is not a number")?;
            if !matches!(framing, Framing::Chunked) {
                framing = Framing::Length(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if h.value.eq_ignore_ascii_case(b"chunked") {
                framing = Framing::Chunked;
            } else {
                bail!("an answer with an unsupported transfer encoding");
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h.value.eq_ignore_ascii_case(b"close");
        }
    }
    if bodiless {
        framing = Framing::Length(0);
    }
    Ok((framing, close))
}

async fn read_more(conn: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(buf.capacity().max(4096));
    }
    conn.read_buf(buf).await
}

/// The body of a chunked answer whose first bytes are `buf`.
async fn read_chunked(conn: &mut TcpStream, mut buf: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let (start, size) = loop {
            match httparse::parse_chunk_size(&buf) {
                Ok(httparse::Status::Complete((start, size))) => break (start, size as usize),
                Ok(httparse::Status::Partial) => {}
                Err(_) => bail!("a malformed chunk size"),
            }
            if read_more(conn, &mut buf).await? == 0 {
                bail!("the chunked body was cut off");
            }
        };
        // The chunk and the CRLF after it (after the last, empty one: the CRLF that ends
        // the body, trailers not supported).
        while buf.len() < start + size + 2 {
            if read_more(conn, &mut buf).await? == 0 {
                bail!("the chunked body was cut off");
            }
        }
        body.extend_from_slice(&buf[start..start + size]);
        buf.drain(..start + size + 2);
        if size == 0 {
            return Ok(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server on a loopback port that reads one request per answer and sends the
    /// answers given, in order, closing the connection after those marked so; the
    /// requests it read, and how many connections it accepted, come back at the end.
    async fn server(
        answers: Vec<(&'static str, bool)>,
    ) -> (String, tokio::task::JoinHandle<(Vec<String>, usize)>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/base", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut requests = Vec::new();
            let mut accepted = 0;
            let mut answers = answers.into_iter().peekable();
            while answers.peek().is_some() {
                let (mut s, _) = listener.accept().await.unwrap();
                accepted += 1;
                for (answer, close) in answers.by_ref() {
                    let mut buf = Vec::new();
                    // A whole request: its head, and a body of its Content-Length.
                    loop {
                        let mut chunk = [0u8; 4096];
                        let n = s.read(&mut chunk).await.unwrap();
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text
                                .lines()
                                .find_map(|l| l.strip_prefix("Content-Length: "))
                                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                            if buf.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    requests.push(String::from_utf8(buf).unwrap());
                    s.write_all(answer.as_bytes()).await.unwrap();
                    if close {
                        break;
                    }
                }
            }
            (requests, accepted)
        });
        (base, task)
    }

    #[tokio::test]
    async fn requests_and_answers_of_each_framing_on_kept_connections() {
        let (base, done) = server(vec![
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false),
            (
                "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                false,
            ),
            ("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", false),
            ("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\nbusy", true),
            ("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false),
            // What Chirp's 204s are: no Content-Length; the next answer on the same
            // connection.
            ("HTTP/1.1 204 No Content\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false),
        ])
        .await;
        let wire = Wire::new(&base, Duration::from_secs(5)).unwrap();
        let a = wire
            .send("GET", "/x?limit=10", Some(b"Bearer t"), None)
            .await
            .unwrap();
        assert_eq!((a.status, a.text().as_str()), (200, "hello"));
        let a = wire
            .send("POST", "/posts", None, Some(br#"{"text":"hi"}"#))
            .await
            .unwrap();
        assert_eq!((a.status, a.text().as_str()), (201, "abcde"));
        let a = wire.send("GET", "/missing", None, None).await.unwrap();
        assert_eq!((a.status, a.body.len()), (404, 0));
        // Read to the end of the connection, which is then not kept.
        let a = wire.send("GET", "/busy", None, None).await.unwrap();
        assert_eq!((a.status, a.text().as_str()), (503, "busy"));
        let a = wire.send("DELETE", "/posts/1", None, None).await.unwrap();
        assert_eq!(a.status, 204);
        let a = wire
            .send("POST", "/posts/1/like", None, None)
            .await
            .unwrap();
        assert_eq!((a.status, a.body.len()), (204, 0));
        let a = wire.send("GET", "/after", None, None).await.unwrap();
        assert_eq!((a.status, a.text().as_str()), (200, "ok"));

        let (requests, accepted) = done.await.unwrap();
        assert_eq!(
            accepted, 2,
            "one connection until the server closed it, then one more"
        );
        let host = base.trim_start_matches("http://").trim_end_matches("/base");
        assert_eq!(
            requests[0],
            format!(
                "GET /base/x?limit=10 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer t\r\n\r\n"
            )
        );
        assert_eq!(
            requests[1],
            format!(
                "POST /base/posts HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: 13\r\n\r\n{{\"text\":\"hi\"}}"
            )
        );
        assert!(requests[4].starts_with("DELETE /base/posts/1 HTTP/1.1\r\n"));
    }

    #[tokio::test]
    async fn a_kept_connection_the_server_closed_is_replaced_once() {
        // The server answers once and closes without saying so; the next request finds
        // the kept connection closed and is sent again on a new one.
        let (base, done) = server(vec![
            ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", true),
            ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb", false),
        ])
        .await;
        let wire = Wire::new(&base, Duration::from_secs(5)).unwrap();
        assert_eq!(
            wire.send("GET", "/1", None, None).await.unwrap().text(),
            "a"
        );
        assert_eq!(
            wire.send("GET", "/2", None, None).await.unwrap().text(),
            "b"
        );
        let (requests, accepted) = done.await.unwrap();
        assert_eq!((requests.len(), accepted), (2, 2));
    }

    #[tokio::test]
    async fn warming_opens_connections_up_to_the_number_kept() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let wire = Wire::new(
            &format!("http://{}", listener.local_addr().unwrap()),
            Duration::from_secs(5),
        )
        .unwrap();
        let idle = |w: &Wire| w.idle.lock().unwrap().len();
        wire.warm(40).await.unwrap();
        assert_eq!(idle(&wire), 40);
        wire.warm(10).await.unwrap();
        assert_eq!(idle(&wire), 40);
        let mut accepted = 0;
        while let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(200), listener.accept()).await
        {
            accepted += 1;
        }
        assert_eq!(accepted, 40);
    }

    #[tokio::test]
    async fn a_cut_answer_and_a_missing_server_are_errors() {
        let (base, done) = server(vec![(
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            true,
        )])
        .await;
        let wire = Wire::new(&base, Duration::from_secs(5)).unwrap();
        let e = wire.send("GET", "/", None, None).await.unwrap_err();
        assert!(format!("{e:#}").contains("cut off"), "{e:#}");
        done.await.unwrap();

        let nobody = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = nobody.local_addr().unwrap();
        drop(nobody);
        let wire = Wire::new(&format!("http://{addr}"), Duration::from_secs(5)).unwrap();
        assert!(wire.send("GET", "/", None, None).await.is_err());
        assert!(Wire::new("https://example.test", Duration::from_secs(1)).is_err());
    }
}
