//! Starting and stopping a node: open the data directory, check what is stored, listen, serve until a signal.

use std::any::Any;
use std::future::Future;
use std::io::Read as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::dev::Extensions;
use actix_web::{App, HttpServer};

use crate::api;
use crate::chain::{RestoreError, Rules, Signatures};
use crate::config::Config;
use crate::connections::{self, ConnectionLimits, Gate};
use crate::net::{PeerAddr, PeerRegistry};
use crate::service::{restore_state, Node};
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
    /// The chain is gone but the node key is still there: starting would
    /// silently begin a new chain.
    #[error("{} is {state} but the node key {} exists, so this node had a chain: restore {} from a backup, or start with --new-chain to begin a new chain with this key", chain.display(), key.display(), chain.display())]
    ChainMissing {
        chain: PathBuf,
        key: PathBuf,
        /// "missing" or "empty".
        state: &'static str,
    },
    /// The node key is gone but the chain has blocks it may have mined:
    /// starting would silently make a new key.
    #[error("{} is missing but {} holds {blocks} blocks this node may have mined with it: restore {} from a backup, or start with --new-key to make a new key for this chain", key.display(), chain.display(), key.display())]
    KeyMissing {
        key: PathBuf,
        chain: PathBuf,
        blocks: usize,
    },
    /// The pending journal is missing or unreadable: starting anyway would
    /// drop the transfers it holds, which only the operator may choose.
    #[error("{0}; restore it from a backup, or start with --drop-pending-journal to set it aside and start without the pending transfers it held")]
    Journal(store::StoreError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// What the operator allows the node to start over on purpose: the
/// `--new-chain`, `--new-key` and `--drop-pending-journal` flags. By default
/// none: a data directory that lost one of its files is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartOver {
    /// Begin a new chain when `chain.redb` is missing (or empty) next to an existing `node.key`.
    pub new_chain: bool,
    /// Make a new key when `node.key` is missing next to a chain with blocks beyond genesis.
    pub new_key: bool,
    /// Verify every stored signature again (`--reverify`), not only hashes, links, proofs and the ledger.
    pub reverify: bool,
    /// Set a missing or unreadable pending journal aside and start with the
    /// pool `chain.redb` holds (`--drop-pending-journal`).
    pub drop_pending_journal: bool,
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

/// Opens the data directory and restores a checked node from it, refusing a
/// directory that lost its chain or its key ([`StartOver::default`]).
pub fn open(config: Config) -> Result<Node, StartError> {
    open_with(config, StartOver::default())
}

/// [`open`], starting over where `start_over` allows it.
pub fn open_with(config: Config, start_over: StartOver) -> Result<Node, StartError> {
    let rules = rules(&config);
    let dir = config.node.data_dir.clone();
    let network = NetworkId {
        genesis: rules.genesis_hash,
        difficulty: rules.difficulty,
    };
    refuse_lost_chain(&dir, start_over.new_chain)?;
    let lost = if start_over.drop_pending_journal {
        store::LostJournal::StartWithout
    } else {
        store::LostJournal::Refuse
    };
    let (store, loaded) =
        Store::open_with(&dir, &network, &rules.genesis, lost).map_err(|error| {
            if store::is_journal_error(&error) {
                StartError::Journal(error)
            } else {
                StartError::Store(error)
            }
        })?;
    let wallet = load_or_create_key(&dir, loaded.length as usize, start_over.new_key)?;
    let file = store.path().display().to_string();

    let signatures = if start_over.reverify {
        Signatures::Verify
    } else {
        Signatures::TrustStored
    };
    tracing::info!(
        blocks = loaded.length,
        signatures = if start_over.reverify {
            "verified again (--reverify)"
        } else {
            "trusted (verified before they were stored)"
        },
        "checking the stored chain"
    );
    let started = std::time::Instant::now();
    let (state, dropped) =
        restore_state(&store, rules, config.node.max_pool, loaded.pool, signatures).map_err(
            |error| match error {
                RestoreError::Invalid(error) => StartError::InvalidChain {
                    file: file.clone(),
                    error,
                },
                RestoreError::Read(error) => StartError::from(error),
            },
        )?;
    tracing::info!(
        blocks = state.chain().len(),
        seconds = started.elapsed().as_secs_f64(),
        "the stored chain is valid"
    );
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

/// Refuses a missing or empty store file next to an existing node key,
/// unless `new_chain` says to begin a new chain.
///
/// The key is only created after the store's first commit, so a key without a
/// store means the chain was lost (deleted, or truncated by outside damage),
/// and starting would silently begin a new chain over it. An empty file
/// without a key is a crash during the very first start, which `Store::open`
/// rightly initializes.
fn refuse_lost_chain(dir: &Path, new_chain: bool) -> Result<(), StartError> {
    let chain = dir.join(store::STORE_FILE);
    let key = dir.join(store::KEY_FILE);
    if !key.exists() {
        return Ok(());
    }
    let lost = match std::fs::metadata(&chain) {
        Ok(metadata) if metadata.len() == 0 => Some("empty"),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("missing"),
        // Store::open reports what is wrong with the file.
        Err(_) => None,
    };
    let Some(state) = lost else {
        if new_chain {
            tracing::warn!(file = %chain.display(), "--new-chain has no effect: the chain file exists and is kept");
        }
        return Ok(());
    };
    if new_chain {
        tracing::warn!(file = %chain.display(), key = %key.display(), "--new-chain: beginning a new chain with the existing key");
        return Ok(());
    }
    Err(StartError::ChainMissing { chain, key, state })
}

/// Loads the node key, or makes one where that loses nothing: on first start,
/// or when the chain holds only the genesis block (a crash between the
/// store's first commit and the key's creation leaves exactly that). A key
/// missing next to a longer chain is refused unless `new_key` says to make one.
fn load_or_create_key(
    dir: &Path,
    blocks: usize,
    new_key: bool,
) -> Result<wallet::Wallet, StartError> {
    if let Some(wallet) = store::load_wallet(dir)? {
        if new_key {
            tracing::warn!("--new-key has no effect: the node key exists and is kept");
        }
        return Ok(wallet);
    }
    let key = dir.join(store::KEY_FILE);
    if blocks > 1 {
        if !new_key {
            return Err(StartError::KeyMissing {
                key,
                chain: dir.join(store::STORE_FILE),
                blocks,
            });
        }
        tracing::warn!(file = %key.display(), "--new-key: making a new key for an existing chain");
    }
    Ok(store::create_wallet(dir)?)
}

/// Binds the configured address.
pub fn listen(config: &Config) -> Result<TcpListener, StartError> {
    let address = config.node.bind_address();
    TcpListener::bind(&address).map_err(|error| StartError::Listen { address, error })
}

/// How long a client may take to send a request's headers; longer is answered 408 and closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection the node closes may take to shut down before it is dropped.
pub const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long an idle keep-alive connection stays open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// HTTP worker threads a core (actix's default is one). A worker serves its
/// connections one request at a time and checks signatures inline, so while
/// it is off its core (the store writer woken by the disk, the log writer, a
/// client on the same machine) every connection it holds waits, even when
/// the other core is idle. With two a core another worker runs meanwhile:
/// 14,900–15,800 transfers/s on a 2-core machine with the data on disk,
/// against 13,900–14,900 with one a core (16 connections, runs interleaved;
/// alike in memory).
const HTTP_WORKERS_PER_CORE: usize = 2;

/// Serves the API on `listener` until `shutdown` completes, then stops
/// gracefully: no new connections, in-flight requests finish (a running proof
/// search is cancelled and its `/mine` answers 503), and the store commits
/// everything already submitted.
///
/// Connections pass a [`Gate`] sized from the open-file limit in force (see
/// [`connections`]); headers must arrive within [`HEADER_TIMEOUT`] and a
/// body within the body limit's time (408 otherwise).
///
/// The binary passes [`shutdown_signal`]; tests pass any future they control.
pub async fn serve(
    node: Node,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = connection_limits(node.config());
    let gate = Gate::new(limits);
    let app_node = node.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap_fn(api::check_head)
            .wrap_fn(api::log_request)
            .configure(api::configure(app_node.clone()))
    })
    .on_connect(move |io, extensions| admit_connection(&gate, io, extensions))
    // Per worker: the gate keeps the total, so actix never stops accepting
    // (which would shut out the loopback reserve) before the gate refuses.
    .max_connections(limits.total)
    .client_request_timeout(HEADER_TIMEOUT)
    .client_disconnect_timeout(DISCONNECT_TIMEOUT)
    .keep_alive(KEEP_ALIVE)
    .workers(HTTP_WORKERS_PER_CORE * crate::parallel::cores())
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

/// The connection limits for this process's open-file limit and `config`'s peers.
fn connection_limits(config: &Config) -> ConnectionLimits {
    let open_files = connections::open_file_limit().unwrap_or_else(|e| {
        // 1024 is the usual default soft limit: a safe guess.
        tracing::warn!(error = %e, "cannot read the open-file limit; assuming 1024");
        1024
    });
    let limits = ConnectionLimits::for_open_files(open_files, config.peers.max_peers);
    tracing::info!(
        open_files,
        connections = limits.total,
        loopback_reserve = limits.loopback_reserve,
        per_address = limits.per_address,
        "connection limits"
    );
    limits
}

/// actix's `on_connect` hook: admits the connection (its permit lives in the
/// connection's extensions, so it is freed when the connection ends), or
/// answers a JSON 503 and closes it before reading anything.
fn admit_connection(gate: &Gate, io: &dyn Any, extensions: &mut Extensions) {
    let Some(stream) = io.downcast_ref::<tokio::net::TcpStream>() else {
        return;
    };
    // A connection whose peer is already gone fails on its first read anyway.
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    match gate.admit(peer.ip()) {
        Ok(permit) => {
            extensions.insert(permit);
        }
        Err(refusal) => {
            // Plain socket calls: tokio's try_read/try_write would answer
            // "would block" on a stream its reactor has not polled yet. The
            // socket is non-blocking, so none of these waits.
            let socket = socket2::SockRef::from(stream);
            // What the caller already sent is read and thrown away: closing a
            // socket with unread bytes resets it, and the caller would lose
            // the answer. Bytes still on their way may cause that anyway.
            // At most 64 KiB, so a fast sender cannot keep the worker here.
            let mut scratch = [0u8; 4096];
            for _ in 0..16 {
                if !matches!((&*socket).read(&mut scratch), Ok(n) if n > 0) {
                    break;
                }
            }
            // A new socket's send buffer is empty, so the short answer fits;
            // if it does not, the caller only sees the close.
            let _ = socket.send(&connections::refusal_response(refusal));
            // The connection task then reads end-of-file and ends.
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
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
