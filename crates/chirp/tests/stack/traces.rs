//! One post, one trace: the stack sends its traces by OTLP to a real collector (rotel,
//! which prints every span it receives), and the spans of one `POST /api/v1/posts` made
//! through NGINX, from WriteService, FanoutService, TimelineService and SearchService,
//! share the trace id the client sent, each joined to its parent.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::stack::*;

/// A span as the collector printed it.
#[derive(Debug, Default, Clone)]
struct Span {
    service: String,
    trace: String,
    parent: String,
    id: String,
    name: String,
    kind: String,
}

/// The spans in rotel's detailed debug output: each `ResourceSpans` block names its
/// service among the resource attributes, then lists its spans field by field.
fn spans_in(log: &str) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    let mut service = String::new();
    let mut in_resource = false;
    for raw in log.lines() {
        let line = strip_ansi(raw);
        let line = line.trim();
        if line.starts_with("ResourceSpans #") {
            service.clear();
            in_resource = false;
        } else if line.starts_with("Resource attributes") {
            in_resource = true;
        } else if line.starts_with("ScopeSpans #") {
            in_resource = false;
        } else if in_resource {
            if let Some(v) = line.strip_prefix("-> service.name: Str(") {
                service = v.trim_end_matches(')').to_owned();
            }
        } else if line.starts_with("Span #") {
            spans.push(Span {
                service: service.clone(),
                ..Span::default()
            });
        } else if let (Some(span), Some((key, value))) = (spans.last_mut(), line.split_once(':')) {
            let value = value.trim().to_owned();
            match key.trim() {
                "Trace ID" => span.trace = value,
                "Parent ID" => span.parent = value,
                "ID" => span.id = value,
                "Name" => span.name = value,
                "Kind" => span.kind = value,
                _ => {}
            }
        }
    }
    spans
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_collector_output_is_read_span_by_span() {
    let log = "\u{1b}[2mINFO\u{1b}[0m Starting Rotel.\n\
        ResourceSpans #0\nResource attributes:\n     -> service.name: Str(write)\n\
        ScopeSpans #0\nSpan #0\n    Trace ID       : aa\n    Parent ID      : \n\
        \x20   ID             : 01\n    Name           : POST /api/v1/posts\n\
        \x20   Kind           : SPAN_KIND_SERVER\nAttributes:\n     -> url.path: Str(/x)\n\
        Events:\nSpanEvent #0\n     -> Name: request\n\
        ResourceSpans #1\nResource attributes:\n     -> service.name: Str(fanout)\n\
        ScopeSpans #0\nSpan #0\n    Trace ID       : aa\n    Parent ID      : 01\n\
        \x20   ID             : 02\n    Name           : chirp.posts process\n";
    let spans = spans_in(log);
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert_eq!(
        (spans[0].service.as_str(), spans[0].name.as_str()),
        ("write", "POST /api/v1/posts")
    );
    assert_eq!(spans[0].parent, "");
    assert_eq!(spans[0].kind, "SPAN_KIND_SERVER");
    assert_eq!(
        (
            spans[1].service.as_str(),
            spans[1].parent.as_str(),
            spans[1].id.as_str()
        ),
        ("fanout", "01", "02")
    );
}

fn hex(bytes: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.gen::<u8>()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_is_one_trace_across_write_fanout_timeline_and_search() {
    let _turn = TURN.lock().await;
    let stack = Stack::up_with(
        "traces",
        &[("CHIRP_STACK_TRACES", "1"), ("CHIRP_LOG_FORMAT", "json")],
    )
    .await;
    let (authors, _followers) = population(&stack, 1, 1).await;

    // The client starts the trace; everything the post causes continues it.
    let (trace, client_span) = (hex(16), hex(8));
    let res = stack
        .api
        .http
        .post(stack.api.url("/api/v1/posts"))
        .bearer_auth(&authors[0].access)
        .header("traceparent", format!("00-{trace}-{client_span}-01"))
        .json(&json!({"text": "follow this post #traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // Spans leave each process in batches (every 5 s by default).
    let wanted: BTreeSet<&str> = ["write", "fanout", "timeline", "search"].into();
    let started = Instant::now();
    let spans = loop {
        let log = std::fs::read_to_string(stack.file("otlp.log")).unwrap_or_default();
        let spans: Vec<Span> = spans_in(&log)
            .into_iter()
            .filter(|s| s.trace == trace)
            .collect();
        let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
        if wanted.is_subset(&services) {
            break spans;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "spans of trace {trace} came only from {services:?}; all spans: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    for s in &spans {
        eprintln!(
            "{:>9} {:<20} {} <- {}  {}",
            s.service, s.kind, s.id, s.parent, s.name
        );
    }

    // Each service's part, as it should be named and kinded.
    let has = |service: &str, kind: &str, name: &str| {
        spans
            .iter()
            .any(|s| s.service == service && s.kind == kind && s.name == name)
    };
    assert!(
        has("write", "SPAN_KIND_SERVER", "POST /api/v1/posts"),
        "{spans:#?}"
    );
    assert!(
        has("write", "SPAN_KIND_PRODUCER", "chirp.posts publish"),
        "{spans:#?}"
    );
    assert!(
        has("fanout", "SPAN_KIND_CONSUMER", "chirp.posts process"),
        "{spans:#?}"
    );
    assert!(
        has(
            "timeline",
            "SPAN_KIND_SERVER",
            "POST /internal/v1/timelines/deliveries"
        ),
        "{spans:#?}"
    );
    assert!(
        has("search", "SPAN_KIND_CONSUMER", "chirp.posts process"),
        "{spans:#?}"
    );

    // One tree: every span's parent is the client's span or another span of the trace.
    let ids: HashMap<&str, &Span> = spans.iter().map(|s| (s.id.as_str(), s)).collect();
    for s in &spans {
        assert!(
            s.parent == client_span || ids.contains_key(s.parent.as_str()),
            "{} of {} hangs from {:?}, which is not in the trace: {spans:#?}",
            s.name,
            s.service,
            s.parent
        );
    }
    let server = spans
        .iter()
        .find(|s| s.service == "write" && s.kind == "SPAN_KIND_SERVER")
        .unwrap();
    assert_eq!(
        server.parent, client_span,
        "the write span continues the client's"
    );

    // The write service's log line of the request names the same trace and span.
    let log = std::fs::read_to_string(stack.file("write.log")).unwrap();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["url.path"] == "/api/v1/posts" && l["http.response.status_code"] == 201)
        .expect("a log line for the post");
    assert_eq!(line["trace.id"], trace.as_str(), "{line}");
    assert_eq!(line["span.id"], server.id.as_str(), "{line}");
}
