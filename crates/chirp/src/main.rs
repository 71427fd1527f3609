//! `chirp`: one binary, a subcommand per service, and `chirp all` (the default).

use anyhow::Context;
use chirp::config::{Cli, Command, LogFormat};
use chirp::Application;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let role = cli.command.unwrap_or(Command::All);
    init_logging(cli.settings.log_format, role);

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
    app.run_until_stopped(stop).await?;
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(format: LogFormat, role: Command) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tantivy=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder
            .event_format(chirp::logging::EcsFormat::new(role.name()))
            .init(),
        LogFormat::Text => builder.init(),
    }
    tracing::debug!(service = role.name(), "logging initialised");
}
