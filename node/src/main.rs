//! The `sigchain-node` binary: parse flags, load settings, open the data directory, serve the API.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use node::config::{Args, Config};
use node::{logging, server};

/// mimalloc: see the note in Cargo.toml (start-up decodes on several threads and frees on another).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    // The settings come first: they say how to log. A bad one is the only line on stderr.
    let config = match Config::load_from_process(&args) {
        Ok(config) => config,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sigchain-node: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let log = logging::init(config.node.log_format);
    if let Err(e) = &log {
        let _ = writeln!(
            std::io::stderr(),
            "sigchain-node: running without a log: {e}"
        );
    }
    let result = run(&args, config);
    // The queued log lines first, so the error below is the last line.
    drop(log);
    // Writes to stderr and stdout here ignore failures: println! and
    // eprintln! panic when the stream cannot be written (a full disk).
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sigchain-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args, config: Config) -> anyhow::Result<()> {
    // Raised before anything is opened; logged once the node has started, so
    // a refusal to start stays the only line on stderr.
    let open_files = node::connections::raise_open_file_limit();
    let start_over = server::StartOver {
        new_chain: args.new_chain,
        new_key: args.new_key,
        reverify: args.reverify,
        drop_pending_journal: args.drop_pending_journal,
    };
    let listener = server::listen(&config)?;
    // With port 0 the system chose one: the node must know it to recognize itself as a peer.
    let mut config = config;
    if let Some(bound) = server::local_addr(&listener) {
        config.node.port = bound.port();
    }
    let summary = config.summary();
    // Opened before the async runtime runs: start-up waits for the store's
    // first writes, which must not block an async worker.
    let node = server::open_with(config, start_over)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        tracing::info!("settings:\n{summary}");
        match open_files {
            Ok(limit) => tracing::info!(
                open_files = limit,
                "open-file limit raised to the hard limit"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
        }
        tracing::info!(address = %node.address(), "node wallet address");
        let addr = server::local_addr(&listener)
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(%addr, "listening");
        // One line on stdout, for scripts and tests that start a node on port 0.
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "sigchain node listening on http://{addr}");
        let _ = stdout.flush();
        server::serve(node, listener, server::shutdown_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}
