//! Logs: one JSON object per line in the Elastic Common Schema (`--log-format json`), or
//! human-readable text. The JSON lines carry `@timestamp`, `log.level`, `message`,
//! `service.name`, `log.logger`, `trace.id` and `span.id` inside a traced span, and the
//! event's own fields under their ECS names (`http.request.method`, `url.path`,
//! `http.response.status_code`, `event.duration`, `user.id`, `error.message` with its
//! cause chain).

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt;
use tracing::dispatcher::WeakDispatch;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats each event as one ECS JSON line.
pub struct EcsFormat {
    service: String,
    /// The subscriber this format is part of, once it is built: the trace ids of a span
    /// are kept by its OpenTelemetry layer, and only the subscriber can look them up.
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl EcsFormat {
    pub fn new(service: impl Into<String>) -> Self {
        EcsFormat {
            service: service.into(),
            dispatch: Arc::default(),
        }
    }

    /// Where to put the subscriber once it is built, for `trace.id` and `span.id`.
    pub fn dispatch_slot(&self) -> Arc<OnceLock<WeakDispatch>> {
        self.dispatch.clone()
    }

    /// The trace and span ids of the span an event happened in.
    fn trace_ids<S>(
        &self,
        span: Option<tracing_subscriber::registry::SpanRef<'_, S>>,
    ) -> Option<(String, String)>
    where
        S: for<'a> LookupSpan<'a>,
    {
        let span = span?;
        let dispatch = self.dispatch.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
        let ids = cx.span().span_context().clone();
        ids.is_valid()
            .then(|| (ids.trace_id().to_string(), ids.span_id().to_string()))
    }
}

/// The event's fields, by name; `message` is the formatted message.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // An error with its whole cause chain, outermost first.
        let mut chain = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        let name = if field.name() == "error" {
            "error.message"
        } else {
            field.name()
        };
        self.0.insert(name.to_owned(), Value::String(chain));
    }
}

impl<S, N> FormatEvent<S, N> for EcsFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = Map::new();
        let now = time::OffsetDateTime::now_utc();
        line.insert(
            "@timestamp".into(),
            Value::String(
                now.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            ),
        );
        line.insert(
            "log.level".into(),
            Value::String(meta.level().as_str().to_ascii_lowercase()),
        );
        let message = fields
            .0
            .remove("message")
            .unwrap_or(Value::String(String::new()));
        line.insert("message".into(), message);
        line.insert("service.name".into(), Value::String(self.service.clone()));
        line.insert("log.logger".into(), Value::String(meta.target().to_owned()));
        if let Some((trace, span)) = self.trace_ids(ctx.lookup_current()) {
            line.insert("trace.id".into(), Value::String(trace));
            line.insert("span.id".into(), Value::String(span));
        }
        for (k, v) in fields.0 {
            line.entry(k).or_insert(v);
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}
