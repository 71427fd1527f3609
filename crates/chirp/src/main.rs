//! `chirp`: one binary, a subcommand per service, and `chirp all` (the default).

use anyhow::Context;
use chirp::config::{Cli, Command, LogFormat};
use chirp::Application;
use clap::Parser;
use std::time::Duration;

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
    if let Some(internal) = app.internal_addr() {
        tracing::info!(service = role.name(), "internal API on http://{internal}");
    }
    if let Some(mastodon) = app.mastodon_addr() {
        tracing::info!(service = role.name(), "Mastodon API on http://{mastodon}");
    }

    let stop = CancellationToken::new();
    let signal_stop = stop.clone();
    let deadline = Duration::from_secs(cli.settings.shutdown_timeout_secs);
    tokio::spawn(async move {
        chirp_core::http::serve::shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        signal_stop.cancel();
        exit_after(deadline);
    });
    let ran = app.run_until_stopped(stop).await;
    tracing::info!("stopped");
    chirp::traces::shutdown(provider).await;
    ran
}

/// Ends the process `deadline` after a stop began, whatever is still running then: a
/// dependency that is down can hold a store's close (a Kafka consumer leaving its group,
/// an exporter flushing spans) for much longer than anyone waits for a stop.
fn exit_after(deadline: Duration) {
    let watchdog = std::thread::Builder::new()
        .name("shutdown-deadline".into())
        .spawn(move || {
            std::thread::sleep(deadline);
            tracing::error!("the graceful stop did not finish within {deadline:?}; exiting");
            std::process::exit(1);
        });
    if let Err(e) = watchdog {
        tracing::warn!(error = %e, "no shutdown deadline: its thread did not start");
    }
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
