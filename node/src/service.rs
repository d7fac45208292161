//! `Node`: the running node's shared handle, tying the state, the store, the miner and the peers together.
//!
//! Locking: `state` and `peers` are std mutexes held only for in-memory work
//! and for *submitting* to the store, never across an `.await`. Submitting
//! under the lock makes the disk's order of changes the memory's order; the
//! caller then waits for durability after releasing the lock, so many
//! requests share one commit (group commit).
//!
//! Memory is changed before the disk, so a failed commit would leave it
//! ahead of the disk; `degraded.rs` then puts it back to what the disk holds
//! before the failure is reported, and writes are refused until the disk
//! recovers.

mod degraded;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use wallet::{Address, Wallet};
use zeroize::Zeroizing;

use crate::chain::pow::PowTarget;
use crate::chain::{Block, BlockHash, Chain, Timestamp, Transaction, ValidationError};
use crate::config::Config;
use crate::consensus::{self, Ours, Outcome, PeerReport};
use crate::miner::Miner;
use crate::net::{self, PeerAddr, PeerError, PeerRegistry};
use crate::pool::AdmitError;
use crate::state::{Adopted, MineError, State};
use crate::store::{Op, Store, StoreError, Ticket};

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
        let client = net::client(config.peers.timeout).map_err(NodeError::HttpClient)?;
        let miner = Miner::new(config.node.miner_threads);
        Ok(Node {
            inner: Arc::new(Inner {
                config,
                wallet,
                store,
                state: Mutex::new(state),
                peers: Mutex::new(peers),
                client,
                miner,
                mining: tokio::sync::Mutex::new(()),
                cancel_search: Mutex::new(Arc::new(AtomicBool::new(false))),
                stopping: AtomicBool::new(false),
                restoring: Mutex::new(()),
                restored_for: AtomicU64::new(0),
                announced: AtomicU64::new(0),
                recovering: AtomicBool::new(false),
            }),
        })
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
        // RSA verification is the costly part of admission: off the async workers, outside the lock.
        let checked = transaction.clone();
        blocking("the signature check", move || checked.verify())
            .await?
            .map_err(NodeError::Signature)?;
        let (index, ticket) = {
            let mut state = self.state();
            self.refuse_if_degraded()?;
            state.admit(transaction.clone())?;
            let ticket = self.inner.store.submit(vec![Op::AddPending(transaction)]);
            (state.next_index(), ticket)
        };
        self.commit(ticket).await?;
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
            tracing::info!(
                index = block.index,
                transactions = block.transactions.len(),
                proof = block.proof,
                "mined a block"
            );
            return Ok(block);
        }
    }

    /// Registers peers (all or none) and stores the new list.
    pub async fn register(&self, entries: &[String]) -> Result<Vec<PeerAddr>, NodeError> {
        let (all, ticket) = {
            let mut registry = self.peer_registry();
            self.refuse_if_degraded()?;
            registry.register(entries)?;
            let all = registry.list().to_vec();
            let names = all.iter().map(|p| p.as_str().to_owned()).collect();
            (all, self.inner.store.submit(vec![Op::SetPeers(names)]))
        };
        self.commit(ticket).await?;
        Ok(all)
    }

    /// Asks every peer for its chain at once, validates every chain longer
    /// than ours, and adopts the longest valid one (on equal length ours stays).
    pub async fn resolve(&self) -> Result<Resolution, NodeError> {
        let settings = &self.inner.config.peers;
        let fetched = net::fetch_all(
            &self.inner.client,
            &self.peers(),
            settings.timeout,
            settings.max_chain_bytes,
        )
        .await;
        let (hashes, rules) = {
            let state = self.state();
            (state.chain().hashes().to_vec(), state.rules().clone())
        };
        let choice = blocking("the validation of peer chains", move || {
            let now = Timestamp::now().as_secs_f64();
            consensus::choose(
                fetched,
                &Ours {
                    hashes: &hashes,
                    rules: &rules,
                    now,
                },
            )
        })
        .await?;
        let mut resolution = Resolution {
            replaced: false,
            peers: choice.reports,
            returned: 0,
            dropped: Vec::new(),
        };
        let Some((winner, candidate)) = choice.best else {
            return Ok(resolution);
        };
        let Some(adopted) = self.adopt(candidate).await? else {
            // Our chain grew while the peers answered and is now as long.
            resolution.peers[winner].result = Outcome::Longer;
            return Ok(resolution);
        };
        resolution.replaced = true;
        resolution.returned = adopted.returned;
        resolution.dropped = adopted
            .dropped
            .into_iter()
            .map(|(transaction, reason)| Dropped {
                transaction,
                reason: reason.to_string(),
            })
            .collect();
        let winner = &resolution.peers[winner];
        tracing::info!(
            peer = %winner.peer,
            length = winner.length,
            kept = adopted.kept,
            returned = adopted.returned,
            dropped = resolution.dropped.len(),
            "adopted a longer chain"
        );
        Ok(resolution)
    }

    /// Replaces our chain with `candidate` if it is still longer, and stores
    /// the change before returning. `None` if ours is as long by now.
    async fn adopt(&self, candidate: Chain) -> Result<Option<Adopted>, NodeError> {
        let (adopted, ticket) = {
            let mut state = self.state();
            if candidate.len() > state.chain().len() {
                self.refuse_if_degraded()?;
            }
            let Some(adopted) = state.adopt(candidate) else {
                return Ok(None);
            };
            let pool = state.pool().iter().cloned().collect();
            let ticket = self.inner.store.submit(vec![Op::ReplaceChain {
                keep: adopted.kept as u64,
                blocks: adopted.blocks.clone(),
                pool,
            }]);
            (adopted, ticket)
        };
        self.cancel_search();
        self.commit(ticket).await?;
        for (transaction, reason) in &adopted.dropped {
            tracing::warn!(
                signature = ?transaction.signature(),
                %reason,
                "a pending transfer no longer fits the adopted chain"
            );
        }
        Ok(Some(adopted))
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

    /// The chain as JSON (`{"chain": [...], "length": n}`), serialized under the lock
    /// without copying the blocks.
    pub fn chain_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct ChainBody<'a> {
            chain: &'a [Block],
            length: usize,
        }
        let state = self.state();
        let blocks = state.chain().blocks();
        serde_json::to_vec(&ChainBody {
            chain: blocks,
            length: blocks.len(),
        })
        .expect("serializing blocks to memory cannot fail")
    }

    /// The tip's hash, for health reports.
    pub fn tip(&self) -> (u64, BlockHash) {
        let state = self.state();
        (state.chain().tip().index, *state.chain().tip_hash())
    }
}
