//! Starting and stopping a node: open the data directory, check what is stored, listen, serve until a signal.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use actix_web::{App, HttpServer};

use crate::api;
use crate::chain::{Rules, Timestamp};
use crate::config::Config;
use crate::net::{PeerAddr, PeerRegistry};
use crate::service::Node;
use crate::state::State;
use crate::store::{self, NetworkId, Op, Store};

/// Why the node could not start. Each message names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be opened, is in use, or holds damaged data.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The stored chain breaks a rule of this network.
    #[error("{file} holds a chain this node refuses: {error}")]
    InvalidChain {
        file: String,
        error: crate::chain::ValidationError,
    },
    /// Stored or configured peers do not fit.
    #[error("peers: {0}")]
    Peers(#[from] crate::net::PeerError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {address}: {error}")]
    Listen {
        address: String,
        error: std::io::Error,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// The consensus rules a configuration describes.
pub fn rules(config: &Config) -> Rules {
    let chain = &config.chain;
    Rules::new(
        chain.difficulty,
        chain.mining_reward,
        chain.genesis_timestamp,
        chain.max_block_transactions,
    )
}

/// Opens the data directory and restores a checked node from it.
pub fn open(config: Config) -> Result<Node, StartError> {
    let rules = rules(&config);
    let dir = config.node.data_dir.clone();
    let network = NetworkId {
        genesis: rules.genesis_hash,
        difficulty: rules.difficulty,
    };
    refuse_emptied_store(&dir)?;
    let (store, loaded) = Store::open(&dir, &network, &rules.genesis)?;
    let wallet = store::load_or_create_wallet(&dir)?;
    let file = store.path().display().to_string();

    let now = Timestamp::now().as_secs_f64();
    let (state, dropped) =
        State::restore(rules, config.node.max_pool, loaded.blocks, loaded.pool, now).map_err(
            |error| StartError::InvalidChain {
                file: file.clone(),
                error,
            },
        )?;
    let mut ops = Vec::new();
    if !dropped.is_empty() {
        for (transaction, reason) in &dropped {
            tracing::warn!(signature = ?transaction.signature(), %reason, "a stored pending transfer no longer fits the chain");
        }
        ops.push(Op::RemovePending(
            dropped
                .iter()
                .filter_map(|(t, _)| t.signature().cloned())
                .collect(),
        ));
    }

    let (peers, changed) = restore_peers(&config, &loaded.peers)?;
    if changed {
        ops.push(Op::SetPeers(
            peers.list().iter().map(|p| p.as_str().to_owned()).collect(),
        ));
    }
    if !ops.is_empty() {
        store.write(ops)?;
    }
    Node::new(config, wallet, store, state, peers).map_err(|e| StartError::Other(e.to_string()))
}

/// The stored peers, then the configured ones, without duplicates and
/// without any the peer policy refuses (this node itself under a local name,
/// an unspecified or a disallowed link-local address), each dropped with a
/// warning. Also says whether the list differs from the stored one.
fn restore_peers(config: &Config, stored: &[String]) -> Result<(PeerRegistry, bool), StartError> {
    let policy = config.peer_policy();
    let stored: Vec<PeerAddr> = stored
        .iter()
        .map(|p| PeerAddr::parse(p))
        .collect::<Result<_, _>>()?;
    let candidates = stored.iter().chain(&config.peers.initial_peers);
    let allowed: Vec<PeerAddr> = candidates
        .filter(|peer| match policy.check(peer) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "not keeping a peer");
                false
            }
        })
        .cloned()
        .collect();
    let peers = PeerRegistry::from_peers(allowed, config.peers.max_peers)?;
    let changed = peers.list() != stored.as_slice();
    Ok((peers, changed))
}

/// Refuses an empty store file next to an existing node key.
///
/// `Store::open` initializes an empty file as a new store, which is right
/// after a crash during the very first start (the file is created before its
/// first commit). But the key is only created after that first commit, so an
/// empty file next to a key is a chain that was lost (truncated by outside
/// damage): starting would silently begin a new chain over it.
fn refuse_emptied_store(dir: &Path) -> Result<(), store::StoreError> {
    let file = dir.join(store::STORE_FILE);
    let key = dir.join(store::KEY_FILE);
    match std::fs::metadata(&file) {
        Ok(metadata) if metadata.len() == 0 && key.exists() => Err(store::StoreError::corrupt(
            &file,
            format!(
                "the file is empty, but the node key {} exists, so it held a chain; restore the file from a backup, or move the data directory away to start a new chain",
                key.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Binds the configured address.
pub fn listen(config: &Config) -> Result<TcpListener, StartError> {
    let address = config.node.bind_address();
    TcpListener::bind(&address).map_err(|error| StartError::Listen { address, error })
}

/// Serves the API on `listener` until `shutdown` completes, then stops
/// gracefully: no new connections, in-flight requests finish (a running proof
/// search is cancelled and its `/mine` answers 503), and the store commits
/// everything already submitted.
///
/// The binary passes [`shutdown_signal`]; tests pass any future they control.
pub async fn serve(
    node: Node,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app_node = node.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap_fn(api::log_request)
            .configure(api::configure(app_node.clone()))
    })
    .listen(listener)?
    // actix stops at once on SIGINT; the caller's shutdown future decides instead.
    .disable_signals()
    .shutdown_timeout(30)
    .run();
    let handle = server.handle();
    node.start_background();
    join_initial_peers(&node);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("stopping: finishing in-flight requests");
        node.stop();
        handle.stop(true).await;
    });
    server.await
}

/// Joins the network through each configured peer (`--peer`,
/// `peers.initial_peers`) in the background, when this node knows the URL
/// others reach it at; otherwise they stay plain peers.
fn join_initial_peers(node: &Node) {
    if node.public_url().is_none() {
        return;
    }
    for peer in node.config().peers.initial_peers.clone() {
        let node = node.clone();
        tokio::spawn(async move {
            if let Err(error) = node.join(&peer).await {
                tracing::warn!(%peer, %error, "could not join through a configured peer");
            }
        });
    }
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM, and logs which one came.
pub async fn shutdown_signal() {
    let signal = signal_name().await;
    tracing::info!(signal, "stop requested");
}

async fn signal_name() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the node gracefully");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// The address a listener is bound to, for the start-up line.
pub fn local_addr(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
