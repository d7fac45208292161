//! The `sigchain-node` binary: parse flags, load settings, open the data directory, serve the API.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use node::config::{Args, Config, LogFormat};
use node::server;

fn main() -> ExitCode {
    let args = Args::parse();
    // The settings come first: they say how to log (a bad one is reported on stderr).
    let result = Config::load_from_process(&args)
        .map_err(anyhow::Error::from)
        .and_then(|config| {
            init_logging(config.node.log_format);
            run(config)
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sigchain-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr at `RUST_LOG` (default `info`), as text or one JSON object a line.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}

fn run(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = server::listen(&config)?;
        // With port 0 the system chose one: the node must know it to recognize itself as a peer.
        let mut config = config;
        if let Some(bound) = server::local_addr(&listener) {
            config.node.port = bound.port();
        }
        let summary = config.summary();
        let node = server::open(config)?;
        tracing::info!("settings:\n{summary}");
        tracing::info!(address = %node.address(), "node wallet address");
        let addr = server::local_addr(&listener)
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(%addr, "listening");
        // One line on stdout, for scripts and tests that start a node on port 0.
        println!("sigchain node listening on http://{addr}");
        server::serve(node, listener, server::shutdown_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}
