//! Distributed traces. Services make `tracing` spans; the process's subscriber bridges them
//! to OpenTelemetry (see the `chirp` binary). What crosses a process boundary is the W3C
//! trace context, a `traceparent` value: in an HTTP header between services, and with
//! each event from the outbox through the event log to its consumers (a Kafka header, or
//! the event's own `traceparent` field where the log stores the event whole).
//!
//! Without an OpenTelemetry layer in the subscriber (tests, tools) every function here
//! does nothing: no span has a trace context, so nothing is sent and nothing adopted.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";

/// Writes the propagator's fields into HTTP headers.
struct HeaderWriter<'a>(&'a mut HeaderMap);

impl Injector for HeaderWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Reads the propagator's fields from HTTP headers.
struct HeaderReader<'a>(&'a HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// A `traceparent` on its own (trace state is not carried).
#[derive(Default)]
struct Traceparent(Option<String>);

impl Injector for Traceparent {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

impl Extractor for Traceparent {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0.as_deref()).flatten()
    }
    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

fn context_of(span: &Span) -> Option<opentelemetry::Context> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    cx.span().span_context().is_valid().then_some(cx)
}

/// The `traceparent` of `span`, if it belongs to a trace.
pub fn traceparent(span: &Span) -> Option<String> {
    let cx = context_of(span)?;
    let mut out = Traceparent::default();
    TraceContextPropagator::new().inject_context(&cx, &mut out);
    out.0
}

/// The `traceparent` of the current span: what an event made now carries.
pub fn current() -> Option<String> {
    traceparent(&Span::current())
}

/// Puts the trace context of `span` into outgoing HTTP headers.
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if let Some(cx) = context_of(span) {
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderWriter(headers));
    }
}

/// Makes `span` a child of the trace context in incoming HTTP headers, if there is one.
pub fn adopt_headers(span: &Span, headers: &HeaderMap) {
    if span.is_disabled() || !headers.contains_key(TRACEPARENT) {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderReader(headers));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// Makes `span` a child of `traceparent`, if it is a valid one.
pub fn adopt(span: &Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent else {
        return;
    };
    if span.is_disabled() {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&Traceparent(Some(tp.to_owned())));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The span of one event's handling by a consumer group, in the trace of the request that
/// made the event. Enter it (or instrument the work with it) while handling the event.
pub fn consume_span(group: &'static str, event: &crate::events::Event) -> Span {
    event_span(event, "process", Some(group))
}

/// The span of one event's publication to the log, in the trace of the request that made
/// it; its context is what the log passes on to consumers.
pub fn publish_span(event: &crate::events::Event) -> Span {
    event_span(event, "publish", None)
}

/// A messaging span (OpenTelemetry's conventions) for `event`: `publish` (a producer
/// span) or `process` (a consumer span, of `group`).
fn event_span(
    event: &crate::events::Event,
    operation: &'static str,
    group: Option<&'static str>,
) -> Span {
    let topic = event.topic().map_or("unknown", crate::events::Topic::name);
    let span = tracing::info_span!(
        "event",
        otel.name = format!("{topic} {operation}"),
        otel.kind = if group.is_some() { "consumer" } else { "producer" },
        messaging.system = "chirp",
        messaging.operation.type = if group.is_some() { "process" } else { "send" },
        messaging.destination.name = topic,
        messaging.consumer.group.name = group,
        messaging.message.id = %event.id,
    );
    adopt(&span, event.trace.as_deref());
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_opentelemetry_layer_nothing_is_sent_or_adopted() {
        let span = tracing::info_span!("request");
        assert_eq!(traceparent(&span), None);
        let mut headers = HeaderMap::new();
        inject(&span, &mut headers);
        assert!(headers.is_empty());
        // Adopting is harmless without a layer.
        adopt(&span, Some(PARENT));
        assert_eq!(traceparent(&span), None);
    }

    /// Runs `f` under a subscriber with an OpenTelemetry layer (spans made, none exported).
    fn with_layer(f: impl FnOnce()) {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, f);
    }

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_span_joins_the_trace_it_is_given_and_passes_it_on() {
        with_layer(|| {
            let span = tracing::info_span!("request");
            let mut incoming = HeaderMap::new();
            incoming.insert(TRACEPARENT, HeaderValue::from_static(PARENT));
            adopt_headers(&span, &incoming);
            let mine = traceparent(&span).expect("a span in a trace");
            let parts: Vec<&str> = mine.split('-').collect();
            assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "{mine}");
            assert_ne!(parts[2], "00f067aa0ba902b7", "a span of its own: {mine}");

            // A child, entered, is what the current span is; its headers carry the trace.
            let _in = span.enter();
            let child = tracing::info_span!("call");
            let mut outgoing = HeaderMap::new();
            inject(&child, &mut outgoing);
            let sent = outgoing[TRACEPARENT].to_str().unwrap().to_owned();
            assert!(sent.contains("4bf92f3577b34da6a3ce929d0e0e4736"), "{sent}");
            assert_eq!(current().as_deref(), Some(mine.as_str()));
        });
    }

    #[test]
    fn an_event_span_continues_the_events_trace() {
        with_layer(|| {
            let event = crate::events::Event {
                id: crate::Id(1),
                version: 1,
                occurred_at_ms: 0,
                body: crate::events::EventBody::FollowDeleted {
                    follower: crate::Id(1),
                    followee: crate::Id(2),
                },
                trace: Some(PARENT.into()),
            };
            let publish = traceparent(&publish_span(&event)).unwrap();
            assert!(publish.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
            let consumed = crate::events::Event {
                trace: Some(publish.clone()),
                ..event
            };
            let process = traceparent(&consume_span("g", &consumed)).unwrap();
            assert!(process.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
            assert_ne!(process, publish);
            // Without a trace, an event's handling starts one of its own.
            let lone = consume_span(
                "g",
                &crate::events::Event {
                    trace: None,
                    ..consumed
                },
            );
            let lone = traceparent(&lone).unwrap();
            assert!(!lone.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
        });
    }

    #[test]
    fn a_traceparent_is_read_back_from_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(PARENT));
        let cx = TraceContextPropagator::new().extract(&HeaderReader(&headers));
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let cx = TraceContextPropagator::new().extract(&Traceparent(Some("garbage".into())));
        assert!(!cx.span().span_context().is_valid());
    }
}
