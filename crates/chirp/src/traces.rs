//! Traces out of the process: the OpenTelemetry tracer behind the services' `tracing`
//! spans. Spans get trace and span ids whether or not they are exported (so log lines can
//! be joined across services); they are exported only when an OTLP endpoint is configured, by OTLP over
//! HTTP (protobuf) to `{endpoint}/v1/traces`, in batches, from a thread of the SDK's own.
//!
//! The standard variables apply: `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` add to
//! the resource, `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` choose the sampler
//! (parent-based, always on, by default).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry::KeyValue;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

/// The OTLP exporter's HTTP client: the process's own reqwest, driven on the process's
/// tokio runtime (the SDK's export thread has no runtime of its own).
#[derive(Debug, Clone)]
struct OtlpClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait]
impl HttpClient for OtlpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let call = async move {
            let request = reqwest::Request::try_from(request.map(reqwest::Body::from))?;
            let res = http.execute(request).await?;
            let mut out = Response::builder().status(res.status());
            if let Some(headers) = out.headers_mut() {
                *headers = res.headers().clone();
            }
            let body = res.bytes().await?;
            Ok::<_, HttpError>(out.body(body)?)
        };
        self.runtime.spawn(call).await?
    }
}

/// The tracer provider of a process that runs `service`: exporting to `endpoint` (an
/// OTLP/HTTP base URL such as `http://127.0.0.1:4318`) when given, else keeping spans
/// only long enough to give log lines and peers their ids. Call from within the runtime.
pub fn provider(service: &str, endpoint: Option<&str>) -> anyhow::Result<SdkTracerProvider> {
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .with_attribute(KeyValue::new("service.namespace", "chirp"))
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = endpoint.filter(|e| !e.trim().is_empty()) {
        let client = OtlpClient {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(10))
                .build()?,
            runtime: tokio::runtime::Handle::try_current()?,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// Sends what is still buffered and stops the exporter (blocking: runs off the runtime's
/// workers, which the export itself needs).
pub async fn shutdown(provider: SdkTracerProvider) {
    let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    if let Ok(Err(e)) = done {
        eprintln!("traces: shutting the exporter down failed: {e}");
    }
}
