//! `chirp`: one binary, a subcommand per service, and `chirp all` (the default).

use anyhow::Context;
use chirp::config::{Cli, Command, LogFormat};
use chirp::Application;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let role = cli.command.unwrap_or(Command::All);
    let provider = chirp::traces::provider(role.name(), cli.settings.otlp_endpoint.as_deref())
        .context("setting up traces")?;
    init_telemetry(cli.settings.log_format, role, &provider);

    let app = Application::build(role, &cli.settings)
        .await
        .with_context(|| format!("starting chirp {}", role.name()))?;
    let addr = app.local_addr()?;
    tracing::info!(
        service = role.name(),
        data_dir = %cli.settings.data_dir.display(),
        "chirp {} listening on http://{addr}",
        role.name()
    );

    let stop = CancellationToken::new();
    let signal_stop = stop.clone();
    tokio::spawn(async move {
        chirp_core::http::serve::shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        signal_stop.cancel();
    });
    let ran = app.run_until_stopped(stop).await;
    tracing::info!("stopped");
    chirp::traces::shutdown(provider).await;
    ran
}

/// Logs to stdout and spans to OpenTelemetry, both filtered by `RUST_LOG` (default:
/// info, which every span of Chirp's is).
fn init_telemetry(
    format: LogFormat,
    role: Command,
    provider: &opentelemetry_sdk::trace::SdkTracerProvider,
) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tantivy=warn"));
    let mut slot = None;
    let logs = match format {
        LogFormat::Json => {
            let ecs = chirp::logging::EcsFormat::new(role.name());
            slot = Some(ecs.dispatch_slot());
            tracing_subscriber::fmt::layer().event_format(ecs).boxed()
        }
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
    };
    // Context activation off: a span is then built when first needed (a child, a
    // traceparent), after routing has named it, not when first entered.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("chirp"))
        .with_context_activation(false)
        .with_threads(false)
        .with_tracked_inactivity(false);
    // One filter for both: with a filter per layer, a span made right after an event one
    // layer filtered out could be missed by the other (its first request lost its ids).
    tracing_subscriber::registry()
        .with(filter)
        .with(spans)
        .with(logs)
        .init();
    if let Some(slot) = slot {
        tracing::dispatcher::get_default(|d| {
            let _ = slot.set(d.downgrade());
        });
    }
    tracing::debug!(service = role.name(), "logging initialised");
}
