//! `Node`: the running node's shared handle, tying the state, the store, the miner and the peers together.
//!
//! Transfers and mining are here; peers, resolve and adoption in `peers.rs`;
//! syncing in `sync.rs`; announcing, relaying and joining in `gossip.rs`.
//!
//! Memory is changed before the disk, so a failed commit would leave it
//! ahead of the disk; `degraded.rs` then puts it back to what the disk holds
//! before the failure is reported, and writes are refused until the disk
//! recovers.
//!
//! Locking: `state` and `peers` are std mutexes held only for in-memory work
//! and for *submitting* to the store, never across an `.await`. Submitting
//! under the lock makes the disk's order of changes the memory's order; the
//! caller then waits for durability after releasing the lock, so many
//! requests share one commit (group commit).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use wallet::{Address, Wallet, WalletError};
use zeroize::Zeroizing;

mod degraded;
mod gossip;
mod pay;
mod peers;
mod relay_bodies;
mod stored;
mod sync;

pub use gossip::{ReceiveError, Received};
pub use sync::{MAX_PAGE_BLOCKS, PAGE_BLOCKS};

pub use pay::Paid;
pub use stored::{restore_state, StoredBlocks};

use crate::addresses::AddressCache;
use crate::chain::pow::PowTarget;
use crate::chain::{Block, BlockHash, Timestamp, Transaction, ValidationError};
use crate::config::Config;
use crate::consensus::PeerReport;
use crate::metrics::{Metrics, Snapshot};
use crate::miner::Miner;
use crate::net::{self, PeerAddr, PeerError, PeerPolicy, PeerRegistry};
use crate::pool::AdmitError;
use crate::state::{MineError, State};
use crate::store::{Op, Store, StoreError, StoreReader, Ticket};

/// Why a node operation failed. The API maps each variant to one status.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The transfer's signature is malformed (400) or does not verify (401).
    #[error(transparent)]
    Signature(wallet::WalletError),
    /// The transfer was refused by the pool (409, or 503 when full).
    #[error(transparent)]
    Admit(#[from] AdmitError),
    /// A peer entry is not acceptable (400).
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// This node does not know the URL others reach it at (400).
    #[error("this node does not know the URL other nodes reach it at: set node.public_url (--public-url http://HOST:PORT)")]
    NoPublicUrl,
    /// Joining through a known node failed (422).
    #[error("joining through {0} failed: {1}")]
    Join(String, String),
    /// No such peer is registered (404).
    #[error("{0} is not a registered peer")]
    UnknownPeer(String),
    /// The store refused a request as only a bug makes it do (a request that
    /// does not fit the stored chain, its writer gone); the change is not durable (500).
    #[error("storage failure: {0}")]
    Store(StoreError),
    /// The data disk is full or failing: the change is not durable, and
    /// writes are refused until the disk recovers (503).
    #[error("the data disk is full or failing: {reason}; writes are refused until it recovers")]
    Degraded {
        /// The failure, naming the file.
        reason: String,
    },
    /// A block of the chain could not be read back from the store: a commit
    /// is still in flight, or the store was damaged (503).
    #[error(transparent)]
    Unreadable(#[from] crate::state::Unreadable),
    /// The node is stopping (503).
    #[error("the node is shutting down")]
    ShuttingDown,
    /// A bug: the node's own block was refused by its own rules (500).
    #[error("the node's own block broke a rule (a bug): {0}")]
    OwnBlockInvalid(ValidationError),
    /// A worker thread running part of the request panicked (500).
    #[error("{what} stopped unexpectedly: {source}")]
    TaskFailed {
        /// What the task was doing.
        what: &'static str,
        /// How it ended.
        source: tokio::task::JoinError,
    },
    /// The HTTP client for peers could not be built (at start-up).
    #[error("cannot build the HTTP client for peers: {0}")]
    HttpClient(#[source] reqwest::Error),
}

impl From<StoreError> for NodeError {
    fn from(error: StoreError) -> Self {
        if error.is_disk_failure() {
            NodeError::Degraded {
                reason: error.cause(),
            }
        } else {
            NodeError::Store(error)
        }
    }
}

/// A node's id, derived from its address: public, stable across restarts.
pub fn node_id(address: &Address) -> String {
    use sha2::{Digest as _, Sha256};
    hex::encode(&Sha256::digest(address.as_str().as_bytes())[..8])
}

/// Checks `transaction`'s signature: the verdict and how long it took.
fn timed_check(transaction: &Transaction) -> (Result<(), WalletError>, Duration) {
    let started = Instant::now();
    (transaction.verify(), started.elapsed())
}

/// [`timed_check`] of each transaction, on every core (a relayed batch).
fn timed_checks(transactions: &[Transaction]) -> Vec<(Result<(), WalletError>, Duration)> {
    crate::parallel::per_core(transactions, transactions.len() >= 4, |_, part| {
        part.iter().map(timed_check).collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Runs CPU-heavy `work` on the blocking pool, off the async workers.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|source| NodeError::TaskFailed { what, source })
}

/// A transfer that no longer fits the chain after a resolve, with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct Dropped {
    /// The transfer as it was pending.
    pub transaction: Transaction,
    /// Why it can no longer go into a block.
    pub reason: String,
}

/// The outcome of `/nodes/resolve`.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// Whether our chain was replaced.
    pub replaced: bool,
    /// One report per registered peer.
    pub peers: Vec<PeerReport>,
    /// Transfers of our abandoned blocks that are pending again.
    pub returned: usize,
    /// Transfers that no longer fit.
    pub dropped: Vec<Dropped>,
}

/// The cheap-to-clone handle every request works through.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    wallet: Wallet,
    store: Store,
    state: Mutex<State>,
    peers: Mutex<PeerRegistry>,
    /// Which addresses may be peers (never this node).
    policy: PeerPolicy,
    /// This node's id: tells it apart from its peers under any name.
    id: String,
    client: reqwest::Client,
    miner: Miner,
    /// Serializes `/mine`: each call produces one block.
    mining: tokio::sync::Mutex<()>,
    /// Set to stop the running proof search: the tip changed or the node is stopping.
    cancel_search: Mutex<Arc<AtomicBool>>,
    stopping: AtomicBool,
    /// Held through a restore of memory from the store: one at a time.
    restoring: Mutex<()>,
    /// The store's failure count when memory was last restored from it.
    restored_for: AtomicU64,
    /// The failure count last reported in the log.
    announced: AtomicU64,
    /// Whether the task retrying the disk runs.
    recovering: AtomicBool,
    /// Work for the background tasks: syncs asked for, transfers to relay.
    background: gossip::Background,
    metrics: Arc<Metrics>,
    /// Submitted transfers' addresses, parsed once per sender.
    addresses: AddressCache,
}

impl Node {
    /// A node over an opened store and its restored state.
    pub fn new(
        config: Config,
        wallet: Wallet,
        store: Store,
        state: State,
        peers: PeerRegistry,
    ) -> Result<Node, NodeError> {
        let policy = config.peer_policy();
        let id = node_id(wallet.address());
        let client =
            net::client(config.peers.timeout, &id, &policy).map_err(NodeError::HttpClient)?;
        let miner = Miner::new(config.node.miner_threads);
        let metrics = Arc::new(Metrics::new());
        let observer = metrics.clone();
        store.observe_commits(Box::new(move |requests, took| {
            observer.store_commit(requests, took)
        }));
        Ok(Node {
            inner: Arc::new(Inner {
                config,
                wallet,
                store,
                state: Mutex::new(state),
                peers: Mutex::new(peers),
                policy,
                id,
                client,
                miner,
                mining: tokio::sync::Mutex::new(()),
                cancel_search: Mutex::new(Arc::new(AtomicBool::new(false))),
                stopping: AtomicBool::new(false),
                restoring: Mutex::new(()),
                restored_for: AtomicU64::new(0),
                announced: AtomicU64::new(0),
                recovering: AtomicBool::new(false),
                background: gossip::Background::default(),
                metrics,
                addresses: AddressCache::default(),
            }),
        })
    }

    /// This node's id: the first 16 hex digits of the SHA-256 of its address.
    /// It is sent to peers on every request (never the secret).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// This node's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The cache submitted transfers' addresses are parsed through.
    pub fn addresses(&self) -> &AddressCache {
        &self.inner.addresses
    }

    /// What `/metrics` reads from the state: chain length, tip age, pending, peers.
    pub fn metrics_snapshot(&self) -> Snapshot {
        let (chain_length, tip_time, pending) = self.with_state(|state| {
            let chain = state.chain();
            (
                chain.len() as u64,
                chain.tip().timestamp.as_secs_f64(),
                state.pool().len() as u64,
            )
        });
        let (peers_ok, peers_demoted) = {
            let registry = self.peer_registry();
            let demoted = registry
                .list()
                .iter()
                .filter(|peer| registry.failures(peer) > 0)
                .count() as u64;
            (registry.len() as u64 - demoted, demoted)
        };
        Snapshot {
            chain_length,
            tip_age_seconds: (Timestamp::now().as_secs_f64() - tip_time).max(0.0),
            pending,
            peers_ok,
            peers_demoted,
        }
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The node's own address, where its mining rewards go.
    pub fn address(&self) -> &Address {
        self.inner.wallet.address()
    }

    /// The node's secret. Only `/secret` hands it out, to loopback callers.
    pub fn secret(&self) -> Zeroizing<String> {
        self.inner.wallet.secret()
    }

    /// Runs `f` with the state locked.
    pub fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug in a synchronous
        // method of `State`, which keeps its invariants before any panic point;
        // serving on is better than poisoning every later request.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn peer_registry(&self) -> MutexGuard<'_, PeerRegistry> {
        self.inner
            .peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The registered peers.
    pub fn peers(&self) -> Vec<PeerAddr> {
        self.peer_registry().list().to_vec()
    }

    /// Verifies, admits and durably stores a signed transfer; returns the
    /// index of the block it is expected to go into.
    pub async fn submit(&self, transaction: Transaction) -> Result<u64, NodeError> {
        self.submit_from(transaction, None).await
    }

    /// [`Node::submit`] for a transfer relayed by `origin`, which it is not relayed back to.
    pub async fn submit_from(
        &self,
        transaction: Transaction,
        origin: Option<PeerAddr>,
    ) -> Result<u64, NodeError> {
        // RSA verification is the costly part of admission, done outside the
        // lock on the worker thread that took the request (one a core): about
        // 45 us, less than handing it to another thread and back costs.
        let checked = timed_check(&transaction);
        self.admit_checked(transaction, checked, origin).await
    }

    /// Admits `transaction` if its signature check `checked` (a verdict and
    /// its time) passed, stores it durably, and relays it onward.
    async fn admit_checked(
        &self,
        transaction: Transaction,
        (verdict, took): (Result<(), WalletError>, Duration),
        origin: Option<PeerAddr>,
    ) -> Result<u64, NodeError> {
        self.metrics().signature_checked(verdict.is_ok(), took);
        verdict.map_err(NodeError::Signature)?;
        let (index, ticket) = {
            let mut state = self.state();
            self.refuse_if_degraded()?;
            state.admit(transaction.clone())?;
            let ticket = self
                .inner
                .store
                .submit(vec![Op::AddPending(transaction.clone())]);
            (state.next_index(), ticket)
        };
        self.commit(ticket).await?;
        self.relay(transaction, origin);
        Ok(index)
    }

    /// Mines one block: searches a proof on the miner threads, then makes the
    /// block from the pool as it is then, and stores it before returning.
    pub async fn mine(&self) -> Result<Block, NodeError> {
        let _one_at_a_time = self.inner.mining.lock().await;
        loop {
            if self.inner.stopping.load(Ordering::SeqCst) {
                return Err(NodeError::ShuttingDown);
            }
            // Not worth a proof search whose block could not be stored.
            self.refuse_if_degraded()?;
            let (job, difficulty) = {
                let state = self.state();
                (state.mining_job(), state.rules().difficulty)
            };
            let cancel = Arc::new(AtomicBool::new(false));
            *self
                .inner
                .cancel_search
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = cancel.clone();
            // Checked after publishing the flag, so a stop or adoption in between still cancels it.
            if self.inner.stopping.load(Ordering::SeqCst) {
                return Err(NodeError::ShuttingDown);
            }
            let target = PowTarget::new(job.last_proof, job.last_hash, difficulty);
            let miner = self.inner.miner;
            let proof =
                blocking("the proof search", move || miner.search(&target, &cancel)).await?;
            let Some(proof) = proof else {
                // Cancelled: the tip changed (search again) or the node is stopping.
                continue;
            };
            let (block, ticket) = {
                let mut state = self.state();
                self.refuse_if_degraded()?;
                match state.complete_block(&job, proof, self.address(), Timestamp::now()) {
                    Ok(mined) => {
                        let ticket = self.inner.store.submit(vec![Op::AppendBlock {
                            block: mined.block.clone(),
                            mined: mined.included,
                        }]);
                        (mined.block, ticket)
                    }
                    Err(MineError::Stale) => continue,
                    Err(MineError::Invalid(e)) => return Err(NodeError::OwnBlockInvalid(e)),
                }
            };
            self.commit(ticket).await?;
            self.announce_tip(None);
            self.metrics().block_mined();
            tracing::info!(
                index = block.index,
                transactions = block.transactions.len(),
                proof = block.proof,
                "mined a block"
            );
            return Ok(block);
        }
    }

    /// Waits until `ticket`'s ops are durable. When the disk failed them,
    /// memory is first put back to what the disk holds, so that whoever hears
    /// of the failure no longer sees the refused change.
    async fn commit(&self, ticket: Ticket) -> Result<(), NodeError> {
        let Err(error) = ticket.wait_async().await else {
            return Ok(());
        };
        if error.is_disk_failure() {
            self.restore_after_failure().await;
        }
        Err(error.into())
    }

    fn cancel_search(&self) {
        self.inner
            .cancel_search
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .store(true, Ordering::SeqCst);
    }

    /// Stops any proof search and refuses new ones; called on shutdown.
    pub fn stop(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.cancel_search();
    }

    /// A snapshot of the committed chain, read from the store without the
    /// state lock: what `/chain` serves. Everything acknowledged before this
    /// call (a mined block, an adopted chain) is in it: acknowledgements wait
    /// for the commit.
    pub async fn chain_reader(&self) -> Result<StoreReader, NodeError> {
        let store = self.inner.store.clone();
        blocking("opening a chain snapshot", move || store.reader())
            .await?
            .map_err(NodeError::from)
    }

    /// Each peer with its standing: `ok`, `demoted` or `backing off`, and its failures in a row.
    pub fn peer_standings(&self) -> Vec<(PeerAddr, &'static str, u32)> {
        let registry = self.peer_registry();
        registry
            .list()
            .iter()
            .map(|peer| {
                let (state, failures) = registry.standing(peer);
                (peer.clone(), state, failures)
            })
            .collect()
    }

    /// The tip's hash, for health reports.
    pub fn tip(&self) -> (u64, BlockHash) {
        let state = self.state();
        (state.chain().tip().index, *state.chain().tip_hash())
    }
}
