//! `Node`: the running node's shared handle, tying the state, the store, the miner and the peers together.
//!
//! Locking: `state` and `peers` are std mutexes held only for in-memory work
//! and for *submitting* to the store, never across an `.await`. Submitting
//! under the lock makes the disk's order of changes the memory's order; the
//! caller then waits for durability after releasing the lock, so many
//! requests share one commit (group commit).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;
use wallet::{Address, Wallet};
use zeroize::Zeroizing;

use crate::chain::pow::PowTarget;
use crate::chain::{Block, BlockHash, Chain, Rule, Rules, Timestamp, Transaction, ValidationError};
use crate::config::Config;
use crate::miner::Miner;
use crate::net::{self, FetchError, PeerAddr, PeerError, PeerRegistry};
use crate::pool::AdmitError;
use crate::state::{MineError, State};
use crate::store::{Op, Store, StoreError};

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
    /// The store could not commit; the change is not durable (500).
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    /// The node is stopping (503).
    #[error("the node is shutting down")]
    ShuttingDown,
    /// A bug: the node's own block was refused by its own rules (500).
    #[error("internal error: {0}")]
    Internal(String),
}

/// What one peer's chain did during a resolve.
#[derive(Debug, Clone, Serialize)]
pub struct PeerReport {
    /// The peer, as `host:port`.
    pub peer: String,
    /// `adopted`, `longer`, `not longer`, `invalid`, `unreachable`, `timed out`, `too large`, `malformed` or `http error`.
    pub result: &'static str,
    /// The peer's chain length, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    /// What was wrong, for a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
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
        let client = net::client(config.peers.timeout)
            .map_err(|e| NodeError::Internal(format!("cannot build the HTTP client: {e}")))?;
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
        let Transaction::Signed {
            transfer,
            signature,
        } = &transaction
        else {
            return Err(AdmitError::Reward.into());
        };
        // RSA verification is the costly part of admission: off the async workers, outside the lock.
        let (transfer, signature) = (transfer.clone(), signature.clone());
        tokio::task::spawn_blocking(move || transfer.verify(&signature))
            .await
            .map_err(|e| NodeError::Internal(format!("signature check stopped: {e}")))?
            .map_err(NodeError::Signature)?;
        let (index, ticket) = {
            let mut state = self.state();
            state.admit(transaction.clone())?;
            let ticket = self.inner.store.submit(vec![Op::AddPending(transaction)]);
            (state.next_index(), ticket)
        };
        ticket.wait_async().await?;
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
            let proof = tokio::task::spawn_blocking(move || miner.search(&target, &cancel))
                .await
                .map_err(|e| NodeError::Internal(format!("proof search stopped: {e}")))?;
            let Some(proof) = proof else {
                // Cancelled: the tip changed (search again) or the node is stopping.
                continue;
            };
            let (block, ticket) = {
                let mut state = self.state();
                match state.complete_block(&job, proof, self.address(), Timestamp::now()) {
                    Ok(mined) => {
                        let ticket = self.inner.store.submit(vec![Op::AppendBlock {
                            block: mined.block.clone(),
                            mined: mined.included,
                        }]);
                        (mined.block, ticket)
                    }
                    Err(MineError::Stale) => continue,
                    Err(MineError::Invalid(e)) => return Err(NodeError::Internal(e.to_string())),
                }
            };
            ticket.wait_async().await?;
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
            registry.register(entries)?;
            let all = registry.list().to_vec();
            let names = all.iter().map(|p| p.as_str().to_owned()).collect();
            (all, self.inner.store.submit(vec![Op::SetPeers(names)]))
        };
        ticket.wait_async().await?;
        Ok(all)
    }

    /// Asks every peer for its chain at once, validates every chain longer
    /// than ours, and adopts the longest valid one (on equal length ours stays).
    pub async fn resolve(&self) -> Result<Resolution, NodeError> {
        let settings = &self.inner.config.peers;
        let peers = self.peers();
        let fetched = net::fetch_all(
            &self.inner.client,
            &peers,
            settings.timeout,
            settings.max_chain_bytes,
        )
        .await;
        let (our_length, trusted, rules) = {
            let state = self.state();
            (
                state.chain().len(),
                state.chain().hashes().to_vec(),
                state.rules().clone(),
            )
        };
        let trusted = Arc::new(trusted);
        let rules = Arc::new(rules);

        let mut reports = Vec::with_capacity(fetched.len());
        let mut best: Option<(usize, Chain)> = None;
        for (peer, result) in fetched {
            let values = match result {
                Ok(values) => values,
                Err(e) => {
                    reports.push(fetch_report(&peer, &e));
                    continue;
                }
            };
            let length = values.len();
            let mut report = PeerReport {
                peer: peer.to_string(),
                result: "not longer",
                length: Some(length),
                detail: None,
            };
            if length > our_length {
                match validate_peer_chain(values, rules.clone(), trusted.clone()).await {
                    Ok(chain) => {
                        report.result = "longer";
                        if best.as_ref().is_none_or(|(_, b)| chain.len() > b.len()) {
                            best = Some((reports.len(), chain));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(peer = %peer, error = %e, "peer sent an invalid chain");
                        report.result = "invalid";
                        report.detail = Some(e.to_string());
                    }
                }
            }
            reports.push(report);
        }

        let Some((winner, candidate)) = best else {
            return Ok(Resolution {
                replaced: false,
                peers: reports,
                returned: 0,
                dropped: Vec::new(),
            });
        };
        let (adopted, ticket) = {
            let mut state = self.state();
            // Our chain may have grown while the peers answered; adopt only a longer one.
            match state.adopt(candidate) {
                None => (None, None),
                Some(adopted) => {
                    let pool = state.pool().iter().cloned().collect();
                    let ticket = self.inner.store.submit(vec![Op::ReplaceChain {
                        keep: adopted.kept as u64,
                        blocks: adopted.blocks.clone(),
                        pool,
                    }]);
                    (Some(adopted), Some(ticket))
                }
            }
        };
        let Some(adopted) = adopted else {
            return Ok(Resolution {
                replaced: false,
                peers: reports,
                returned: 0,
                dropped: Vec::new(),
            });
        };
        self.cancel_search();
        if let Some(ticket) = ticket {
            ticket.wait_async().await?;
        }
        reports[winner].result = "adopted";
        let dropped: Vec<Dropped> = adopted
            .dropped
            .into_iter()
            .map(|(transaction, reason)| Dropped {
                transaction,
                reason: reason.to_string(),
            })
            .collect();
        for d in &dropped {
            tracing::warn!(
                signature = ?d.transaction.signature(),
                reason = %d.reason,
                "a pending transfer no longer fits the adopted chain"
            );
        }
        tracing::info!(
            peer = %reports[winner].peer,
            length = reports[winner].length,
            kept = adopted.kept,
            returned = adopted.returned,
            dropped = dropped.len(),
            "adopted a longer chain"
        );
        Ok(Resolution {
            replaced: true,
            peers: reports,
            returned: adopted.returned,
            dropped,
        })
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

/// Validates a peer's chain off the async workers.
async fn validate_peer_chain(
    values: Vec<Value>,
    rules: Arc<Rules>,
    trusted: Arc<Vec<BlockHash>>,
) -> Result<Chain, ValidationError> {
    tokio::task::spawn_blocking(move || {
        let now = Timestamp::now().as_secs_f64();
        Chain::from_values(&values, &rules, now, &trusted)
    })
    .await
    .unwrap_or_else(|e| {
        Err(Rule::Form(crate::chain::FormError::Structure(format!(
            "validation stopped: {e}"
        )))
        .at(0))
    })
}

fn fetch_report(peer: &PeerAddr, error: &FetchError) -> PeerReport {
    let result = match error {
        FetchError::Unreachable(_) => "unreachable",
        FetchError::TimedOut { .. } => "timed out",
        FetchError::TooLarge { .. } => "too large",
        FetchError::HttpStatus(_) => "http error",
        FetchError::Malformed(_) => "malformed",
    };
    PeerReport {
        peer: peer.to_string(),
        result,
        length: None,
        detail: Some(error.to_string()),
    }
}
