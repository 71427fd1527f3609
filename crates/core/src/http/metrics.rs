//! Prometheus metrics: one registry per process, served on `/metrics`. HTTP requests are
//! counted and timed per service, route template, method and status; each service adds
//! its own signals as labelled series of families that the process shares (so that
//! `chirp all`, which runs every service, shows each family once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

pub use prometheus_client::metrics::counter::Counter as CounterMetric;
pub use prometheus_client::metrics::gauge::Gauge as GaugeMetric;
pub use prometheus_client::metrics::histogram::Histogram as HistogramMetric;

pub type Labels = Vec<(&'static str, String)>;

/// Latency buckets in seconds, from 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Lag buckets in seconds (an event's creation to its effect), from 5 ms to 30 s.
pub const LAG_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn lag_histogram() -> Histogram {
    Histogram::new(LAG_BUCKETS)
}

/// Which buckets a histogram family has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buckets {
    /// [`LATENCY_BUCKETS`]: calls and requests.
    Latency,
    /// [`LAG_BUCKETS`]: pipelines.
    Lag,
}

type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// A gauge of seconds and other fractions.
pub type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// The labelled families registered so far, by name.
#[derive(Default)]
struct Families {
    counters: HashMap<&'static str, Family<Labels, Counter>>,
    gauges: HashMap<&'static str, Family<Labels, Gauge>>,
    float_gauges: HashMap<&'static str, Family<Labels, FloatGauge>>,
    histograms: HashMap<&'static str, HistogramFamily>,
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

/// The process's metrics registry and the HTTP metrics every service records.
#[derive(Clone)]
pub struct Telemetry {
    registry: Arc<Mutex<Registry>>,
    families: Arc<Mutex<Families>>,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    /// The series of `requests` and `latency` made so far, by route: a request finds its
    /// own here without making its labels.
    http_series: Arc<RwLock<HashMap<String, RouteSeries>>>,
}

/// The HTTP series of one route template.
#[derive(Default)]
struct RouteSeries {
    latency: Vec<(&'static str, Method, Histogram)>,
    requests: Vec<(&'static str, Method, u16, Counter)>,
}

impl RouteSeries {
    fn find(&self, service: &str, method: &Method, status: u16) -> Option<(&Counter, &Histogram)> {
        let latency = self
            .latency
            .iter()
            .find(|(s, m, _)| *s == service && m == method)?;
        let requests = self
            .requests
            .iter()
            .find(|(s, m, st, _)| *s == service && m == method && *st == status)?;
        Some((&requests.3, &latency.2))
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("chirp");
        let requests = Family::<Labels, Counter>::default();
        let latency =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "http_requests",
            "HTTP requests answered, by service, route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by service, route and method",
            latency.clone(),
        );
        Telemetry {
            registry: Arc::new(Mutex::new(registry)),
            families: Arc::new(Mutex::new(Families::default())),
            requests,
            latency,
            http_series: Arc::default(),
        }
    }

    /// Registers a metric of a service's own.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        if let Ok(mut r) = self.registry.lock() {
            r.register(name, help, metric);
        }
    }

    /// The counter of family `name` with `labels`, the family registered on first use.
    pub fn counter_with(
        &self,
        name: &'static str,
        help: &str,
        pairs: &[(&'static str, &str)],
    ) -> Counter {
        self.counter_family(name, help)
            .get_or_create(&labels(pairs))
            .clone()
    }

    /// Family `name` of counters, registered on first use.
    pub fn counter_family(&self, name: &'static str, help: &str) -> Family<Labels, Counter> {
        self.family(name, help, |f| &mut f.counters, Family::default)
    }

    /// The gauge of family `name` with `labels`, the family registered on first use.
    pub fn gauge_with(
        &self,
        name: &'static str,
        help: &str,
        pairs: &[(&'static str, &str)],
    ) -> Gauge {
        self.family(name, help, |f| &mut f.gauges, Family::default)
            .get_or_create(&labels(pairs))
            .clone()
    }

    /// Drops the gauge of family `name` with `labels`: a series no longer measured stops
    /// being exported (instead of repeating its last value).
    pub fn remove_gauge(&self, name: &'static str, pairs: &[(&'static str, &str)]) {
        let families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(family) = families.gauges.get(name) {
            family.remove(&labels(pairs));
        }
    }

    /// The floating-point gauge of family `name` with `labels`, registered on first use.
    pub fn float_gauge_with(
        &self,
        name: &'static str,
        help: &str,
        pairs: &[(&'static str, &str)],
    ) -> FloatGauge {
        self.family(name, help, |f| &mut f.float_gauges, Family::default)
            .get_or_create(&labels(pairs))
            .clone()
    }

    /// The histogram of family `name` with `labels`, the family registered on first use.
    pub fn histogram_with(
        &self,
        name: &'static str,
        help: &str,
        buckets: Buckets,
        pairs: &[(&'static str, &str)],
    ) -> Histogram {
        let make = || {
            HistogramFamily::new_with_constructor(match buckets {
                Buckets::Latency => latency_histogram,
                Buckets::Lag => lag_histogram,
            })
        };
        self.family(name, help, |f| &mut f.histograms, make)
            .get_or_create(&labels(pairs))
            .clone()
    }

    /// The family `name` of one kind (`pick`), made and registered on first use.
    fn family<F: Metric + Clone>(
        &self,
        name: &'static str,
        help: &str,
        pick: impl FnOnce(&mut Families) -> &mut HashMap<&'static str, F>,
        make: impl FnOnce() -> F,
    ) -> F {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let kind = pick(&mut families);
        if let Some(family) = kind.get(name) {
            return family.clone();
        }
        let family = make();
        self.register(name, help, family.clone());
        kind.insert(name, family.clone());
        family
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }

    /// Counts and times one request answered by `service` on `route` (a template).
    pub fn observe(
        &self,
        service: &'static str,
        route: &str,
        method: &Method,
        status: u16,
        secs: f64,
    ) {
        {
            let series = self.http_series.read().unwrap_or_else(|p| p.into_inner());
            if let Some((requests, latency)) = series
                .get(route)
                .and_then(|r| r.find(service, method, status))
            {
                requests.inc();
                latency.observe(secs);
                return;
            }
        }
        // The first request of its kind: make its series, then keep them.
        let requests = self
            .requests
            .get_or_create(&vec![
                ("service", service.to_owned()),
                ("route", route.to_owned()),
                ("method", method.as_str().to_owned()),
                ("status", status.to_string()),
            ])
            .clone();
        let latency = self
            .latency
            .get_or_create(&vec![
                ("service", service.to_owned()),
                ("route", route.to_owned()),
                ("method", method.as_str().to_owned()),
            ])
            .clone();
        requests.inc();
        latency.observe(secs);
        let mut series = self.http_series.write().unwrap_or_else(|p| p.into_inner());
        let r = series.entry(route.to_owned()).or_default();
        if r.find(service, method, status).is_none() {
            if !r
                .latency
                .iter()
                .any(|(s, m, _)| *s == service && m == method)
            {
                r.latency.push((service, method.clone(), latency));
            }
            r.requests.push((service, method.clone(), status, requests));
        }
    }
}

/// What the metrics middleware of one service needs.
#[derive(Clone)]
pub struct RouteMetrics {
    pub service: &'static str,
    pub telemetry: Telemetry,
}

pub async fn track(State(m): State<RouteMetrics>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    // Name the request's span (made before routing) by its route and service.
    let span = tracing::Span::current();
    if !span.is_disabled() {
        span.record("otel.name", format!("{method} {route}"));
        span.record("http.route", route);
        span.record("chirp.service", m.service);
    }
    let res = next.run(req).await;
    m.telemetry.observe(
        m.service,
        route,
        &method,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(page: &'a str, series: &str) -> Option<&'a str> {
        page.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn each_request_counts_in_its_own_series_once_they_are_kept() {
        let t = Telemetry::new();
        for _ in 0..3 {
            t.observe("read", "/api/v1/posts/{id}", &Method::GET, 200, 0.002);
        }
        t.observe("read", "/api/v1/posts/{id}", &Method::GET, 404, 0.0001);
        t.observe("write", "/api/v1/posts/{id}", &Method::GET, 200, 0.3);
        t.observe("read", "/api/v1/posts/{id}", &Method::DELETE, 200, 0.3);
        t.observe("read", "/api/v1/users/{id}", &Method::GET, 200, 0.3);
        let page = t.render();
        let requests = |service: &str, route: &str, method: &str, status: u16| {
            sample(
                &page,
                &format!(
                    r#"chirp_http_requests_total{{service="{service}",route="{route}",method="{method}",status="{status}"}}"#
                ),
            )
            .map(str::to_owned)
        };
        let post = "/api/v1/posts/{id}";
        assert_eq!(requests("read", post, "GET", 200).as_deref(), Some("3"));
        assert_eq!(requests("read", post, "GET", 404).as_deref(), Some("1"));
        assert_eq!(requests("write", post, "GET", 200).as_deref(), Some("1"));
        assert_eq!(requests("read", post, "DELETE", 200).as_deref(), Some("1"));
        assert_eq!(
            requests("read", "/api/v1/users/{id}", "GET", 200).as_deref(),
            Some("1")
        );
        // The four GETs of ReadService's post route, 200s and the 404, in one histogram.
        let count = sample(
            &page,
            r#"chirp_http_request_duration_seconds_count{service="read",route="/api/v1/posts/{id}",method="GET"}"#,
        );
        assert_eq!(count, Some("4"));
        let fast = sample(
            &page,
            r#"chirp_http_request_duration_seconds_bucket{le="0.0005",service="read",route="/api/v1/posts/{id}",method="GET"}"#,
        );
        assert_eq!(fast, Some("1"));
    }
}
