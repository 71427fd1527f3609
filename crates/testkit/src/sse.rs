//! A reader of Server-Sent Events (`GET /api/v1/streaming`) as a browser's EventSource
//! reads them: blocks of `event:`, `id:` and `data:` lines, comment lines (the
//! keep-alives) told apart, for the API suite, the stack tests and the benchmark.

use reqwest::Response;
use serde_json::Value;
use tokio::time::Instant;

/// One event of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub id: String,
    pub data: Value,
}

/// What comes next on a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum SseItem {
    Event(SseEvent),
    /// A block of comment lines only: a keep-alive.
    Comment,
}

/// Why a stream gives nothing more.
#[derive(Debug)]
pub enum SseEnd {
    /// The server ended the answer.
    Ended,
    /// The connection broke (or a chunk was not a stream's).
    Broke(String),
}

/// An open stream, read item by item.
pub struct SseStream {
    res: Response,
    /// Bytes received and not yet read as a block (a character may be split across two
    /// chunks: blocks are decoded whole).
    buffer: Vec<u8>,
}

impl SseStream {
    /// The stream of an answer (its status and headers are the caller's to check).
    pub fn new(res: Response) -> SseStream {
        SseStream {
            res,
            buffer: Vec::new(),
        }
    }

    /// The next item, or `Ok(None)` if none is complete by `deadline`.
    pub async fn next_item(&mut self, deadline: Instant) -> Result<Option<SseItem>, SseEnd> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(block)
                    .map_err(|e| SseEnd::Broke(format!("a block that is not UTF-8: {e}")))?;
                return parse(&block).map(Some);
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.extend_from_slice(&bytes),
                Ok(Ok(None)) => return Err(SseEnd::Ended),
                Ok(Err(e)) => return Err(SseEnd::Broke(e.to_string())),
                Err(_) => return Ok(None),
            }
        }
    }

    /// The next event by `deadline`, passing over comments.
    pub async fn next_event(&mut self, deadline: Instant) -> Result<Option<SseEvent>, SseEnd> {
        loop {
            match self.next_item(deadline).await? {
                Some(SseItem::Event(e)) => return Ok(Some(e)),
                Some(SseItem::Comment) => continue,
                None => return Ok(None),
            }
        }
    }
}

/// One block (without its blank line): an event, or a comment; an event's data must be
/// JSON, as every Chirp stream's is.
fn parse(block: &str) -> Result<SseItem, SseEnd> {
    let mut e = SseEvent {
        event: "message".into(),
        id: String::new(),
        data: Value::Null,
    };
    let mut data: Vec<&str> = Vec::new();
    let mut fields = false;
    for line in block.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        fields = true;
        if let Some(v) = line.strip_prefix("event:") {
            e.event = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("id:") {
            e.id = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    if !fields {
        return Ok(SseItem::Comment);
    }
    // Several `data:` lines are one value, joined by newlines.
    e.data = serde_json::from_str(&data.join("\n")).map_err(|err| {
        SseEnd::Broke(format!(
            "an event whose data is not JSON ({err}): {block:?}"
        ))
    })?;
    Ok(SseItem::Event(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_events_or_comments() {
        let SseItem::Event(e) = parse("event: post\nid: 42\ndata: {\"id\":\"42\"}\n\n").unwrap()
        else {
            panic!("not an event")
        };
        assert_eq!(
            (e.event.as_str(), e.id.as_str(), e.data["id"].as_str()),
            ("post", "42", Some("42"))
        );
        assert_eq!(parse(":\n\n").unwrap(), SseItem::Comment);
        assert_eq!(parse(": keep-alive\n\n").unwrap(), SseItem::Comment);
        let SseItem::Event(e) = parse("data: {\"a\":\ndata: 1}\n\n").unwrap() else {
            panic!("not an event")
        };
        assert_eq!(e.data["a"], 1);
        assert!(matches!(
            parse("event: post\ndata: not json\n\n"),
            Err(SseEnd::Broke(_))
        ));
    }
}
