//! The live network: announcing new tips, relaying admitted transfers in batches, receiving both, syncing in the background, and joining through a known node.
//!
//! Everything here runs beside the requests that cause it: an announcement
//! or a relay never delays the answer to `/mine` or `/transactions/new`, and
//! every exchange with a peer is bounded by the peer timeout.

use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;

use crate::chain::{check_all_signatures, Block, Timestamp, Transaction, ValidationError};
use crate::net::{self, FetchError, Health, PeerAddr};
use crate::store::Op;

use super::relay_bodies::relay_bodies;
use super::{blocking, Node, NodeError};

/// The most transfers in one relay request.
pub const RELAY_BATCH: usize = 256;
/// How long the relay waits for more transfers before sending a batch.
const RELAY_WINDOW: Duration = Duration::from_millis(25);
/// How long before a relay that a peer did not take is tried again.
const RELAY_RETRY: Duration = Duration::from_secs(1);
/// How many times a relay to one peer is tried before it is left to sync
/// (the transfer stays in our pool and goes into a block).
const RELAY_ATTEMPTS: u32 = 30;

/// A transfer waiting to be relayed.
#[derive(Clone)]
pub(super) struct Relayed {
    transaction: Transaction,
    /// The peer it came from, which never gets it back.
    origin: Option<PeerAddr>,
    /// After a failed attempt: the one peer still to be told.
    only_to: Option<PeerAddr>,
    attempts: u32,
}

impl Relayed {
    fn goes_to(&self, peer: &PeerAddr) -> bool {
        self.origin.as_ref() != Some(peer) && self.only_to.as_ref().is_none_or(|p| p == peer)
    }
}
/// The least time between two sync rounds asked for by announcements (or a
/// join) rather than by the interval: a flood of unlinked blocks makes at
/// most one round per this gap.
const ASKED_SYNC_GAP: Duration = Duration::from_secs(1);

/// What became of an announced block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// It extended our tip and was appended (201).
    Appended,
    /// We already have it (200).
    Known,
    /// It does not link to our tip: we are behind or on a fork; a sync was asked for (202).
    Unlinked,
}

/// Why an announced block was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// It extends our tip but breaks a rule (422).
    #[error(transparent)]
    Rejected(ValidationError),
    /// Our side failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Work the background tasks are asked to do.
#[derive(Default)]
pub(super) struct Background {
    /// Wakes the syncer before its interval: an announcement did not link.
    pub(super) sync_wanted: Notify,
    /// Transfers to relay, with the peer each came from.
    pub(super) relay: std::sync::Mutex<Vec<Relayed>>,
    /// Wakes the relay task.
    pub(super) relay_ready: Notify,
}

impl Node {
    /// Starts the background tasks: the syncer (every `peers.sync_interval`,
    /// or when an announcement asks) and the relay. They end when the node stops.
    pub fn start_background(&self) {
        let interval = self.inner.config.peers.sync_interval;
        if !interval.is_zero() {
            let node = self.clone();
            tokio::spawn(async move { node.sync_loop(interval).await });
        }
        let node = self.clone();
        tokio::spawn(async move { node.relay_loop().await });
        // What is pending now may never have reached the peers (this node
        // was stopped or killed before its relays went out): tell them once.
        let pending: Vec<Transaction> = self.with_state(|s| s.pool().iter().cloned().collect());
        for transaction in pending {
            self.relay(transaction, None);
        }
    }

    fn stopping(&self) -> bool {
        self.inner
            .stopping
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn sync_loop(self, interval: Duration) {
        let mut last_round: Option<tokio::time::Instant> = None;
        while !self.stopping() {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = self.inner.background.sync_wanted.notified() => {
                    // Anyone can announce blocks that do not link, at any
                    // rate: back-to-back rounds would turn a flood into a
                    // stream of /health requests to every peer.
                    if let Some(at) = last_round {
                        let since = at.elapsed();
                        if since < ASKED_SYNC_GAP {
                            tokio::time::sleep(ASKED_SYNC_GAP - since).await;
                        }
                    }
                }
            }
            if self.stopping() {
                break;
            }
            last_round = Some(tokio::time::Instant::now());
            if let Err(error) = self.sync_round().await {
                tracing::warn!(%error, "background sync failed");
            }
        }
    }

    /// Asks every peer not backing off for its `/health` and syncs from the
    /// longest chain ahead of ours. A flood of announcements coalesces into
    /// rounds: only one runs at a time.
    pub async fn sync_round(&self) -> Result<(), NodeError> {
        let peers = self.peer_registry().due(Timestamp::now().as_secs_f64());
        let client = &self.inner.client;
        let timeout = self.inner.config.peers.timeout;
        let healths = futures_util::future::join_all(
            peers
                .iter()
                .map(|peer| net::fetch_health(client, peer, timeout)),
        )
        .await;
        let our_length = self.with_state(|s| s.chain().len()) as u64;
        let mut best: Option<(PeerAddr, Health)> = None;
        for (peer, health) in peers.into_iter().zip(healths) {
            let reachable = !matches!(
                health,
                Err(FetchError::Unreachable(_) | FetchError::TimedOut { .. })
            );
            self.note_reachability(&peer, reachable);
            if let Ok(health) = health {
                if health.id.as_deref() == Some(self.id()) {
                    self.drop_peer(&peer, "it is this node itself").await?;
                } else if health.length > our_length
                    && best.as_ref().is_none_or(|(_, b)| health.length > b.length)
                {
                    best = Some((peer, health));
                }
            }
        }
        let lag = best.as_ref().map_or(0, |(_, h)| h.length - our_length);
        self.metrics().sync_lag(lag);
        let Some((peer, health)) = best else {
            return Ok(());
        };
        match self.sync_from(&peer, &health).await {
            Ok(_) => {
                self.announce_tip(Some(&peer));
                Ok(())
            }
            Err(super::sync::SyncError::Node(error)) => Err(error),
            Err(error) => {
                tracing::warn!(%peer, %error, "sync failed");
                Ok(())
            }
        }
    }

    /// Announces our tip block to every peer but `except` (the one it came from), in the background.
    pub fn announce_tip(&self, except: Option<&PeerAddr>) {
        if !self.inner.config.peers.gossip {
            return;
        }
        let tip = self.with_state(|s| s.chain().tip().clone());
        let body = serde_json::to_vec(&tip).expect("a block serializes to JSON");
        let peers: Vec<PeerAddr> = self
            .peers()
            .into_iter()
            .filter(|p| Some(p) != except)
            .collect();
        if peers.is_empty() {
            return;
        }
        let node = self.clone();
        tokio::spawn(async move {
            let origin = node.public_url();
            let timeout = node.inner.config.peers.timeout;
            let results = net::broadcast(
                &node.inner.client,
                &peers,
                "/add_block",
                &body,
                origin.as_ref(),
                timeout,
            )
            .await;
            for (peer, result) in results {
                match result {
                    Ok(status) if status < 300 => {}
                    Ok(status) => tracing::debug!(%peer, status, "announcement answered"),
                    Err(error) => tracing::debug!(%peer, %error, "announcement failed"),
                }
            }
        });
    }

    /// Receives an announced block from `origin` (a peer's address, if it said).
    pub async fn receive_block(
        &self,
        block: Block,
        origin: Option<PeerAddr>,
    ) -> Result<Received, ReceiveError> {
        let (length, tip_hash, known) = self.with_state(|s| {
            let chain = s.chain();
            let at = block.index.checked_sub(1).map(|i| i as usize);
            let known = at
                .and_then(|i| chain.hashes().get(i))
                .is_some_and(|h| *h == block.hash());
            (chain.len() as u64, *chain.tip_hash(), known)
        });
        if known {
            return Ok(Received::Known);
        }
        let links = block.index == length + 1
            && block.previous_hash == crate::chain::PreviousHash::Hash(tip_hash);
        if !links {
            self.want_sync(origin.as_ref());
            return Ok(Received::Unlinked);
        }
        let index = block.index;
        let checked = blocking("an announced block's signature checks", move || {
            check_all_signatures(std::slice::from_ref(&block), index).map(|()| block)
        })
        .await?
        .map_err(ReceiveError::Rejected)?;
        let (extended, ticket) = {
            let mut state = self.state();
            if state.chain().len() as u64 != length {
                drop(state);
                self.want_sync(origin.as_ref());
                return Ok(Received::Unlinked);
            }
            self.refuse_if_degraded()?;
            let extended = state.extend(vec![checked], Timestamp::now().as_secs_f64());
            if let Some(error) = extended.error {
                return Err(ReceiveError::Rejected(error));
            }
            let ops = vec![
                Op::AppendBlock {
                    block: extended.appended[0].clone(),
                    mined: Vec::new(),
                },
                Op::RemovePending(extended.unpooled),
            ];
            (extended.appended, self.inner.store.submit(ops))
        };
        self.cancel_search();
        self.commit(ticket).await?;
        tracing::info!(index = extended[0].index, from = ?origin.as_ref().map(|p| p.to_string()), "appended an announced block");
        self.announce_tip(origin.as_ref());
        Ok(Received::Appended)
    }

    /// Asks the syncer for a round soon (many asks make one round).
    fn want_sync(&self, origin: Option<&PeerAddr>) {
        tracing::debug!(from = ?origin.map(|p| p.to_string()), "an announced block does not link; sync wanted");
        self.inner.background.sync_wanted.notify_one();
    }

    /// Queues an admitted transfer for relay to every peer but `origin`.
    pub fn relay(&self, transaction: Transaction, origin: Option<PeerAddr>) {
        if !self.inner.config.peers.gossip {
            return;
        }
        self.inner
            .background
            .relay
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Relayed {
                transaction,
                origin,
                only_to: None,
                attempts: 0,
            });
        self.inner.background.relay_ready.notify_one();
    }

    /// Queues transfers a peer did not take to be tried again after [`RELAY_RETRY`].
    fn retry_relay(&self, failed: Vec<Relayed>) {
        let node = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RELAY_RETRY).await;
            node.inner
                .background
                .relay
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(failed);
            node.inner.background.relay_ready.notify_one();
        });
    }

    async fn relay_loop(self) {
        while !self.stopping() {
            self.inner.background.relay_ready.notified().await;
            // Let a burst gather into one batch.
            tokio::time::sleep(RELAY_WINDOW).await;
            loop {
                let batch: Vec<Relayed> = {
                    let mut queue = self
                        .inner
                        .background
                        .relay
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    let take = queue.len().min(RELAY_BATCH);
                    queue.drain(..take).collect()
                };
                if batch.is_empty() {
                    break;
                }
                self.send_batch(&batch).await;
            }
        }
    }

    /// Sends one batch to every peer, each without the transfers that came
    /// from it, in requests that fit a peer's body limit (taken to be ours,
    /// `node.max_body_bytes`): a larger one would be refused whole with a
    /// 413. What a peer did not take (no answer, a 5xx or a 413) is tried again.
    async fn send_batch(&self, batch: &[Relayed]) {
        let origin = self.public_url();
        let timeout = self.inner.config.peers.timeout;
        let limit = self.inner.config.node.max_body_bytes;
        let sends = self.peers().into_iter().map(|peer| {
            let entries: Vec<&Relayed> = batch.iter().filter(|r| r.goes_to(&peer)).collect();
            let origin = origin.clone();
            async move {
                for (entries, body) in relay_bodies(entries, limit, |r| &r.transaction) {
                    let result = net::post(
                        &self.inner.client,
                        &peer,
                        "/transactions/relay",
                        &body,
                        origin.as_ref(),
                        timeout,
                    )
                    .await;
                    let taken = matches!(result, Ok((status, _)) if status < 500 && status != 413);
                    if !taken {
                        tracing::debug!(%peer, ?result, "relay not taken; trying again");
                        let again: Vec<Relayed> = entries
                            .into_iter()
                            .filter(|r| r.attempts + 1 < RELAY_ATTEMPTS)
                            .map(|r| Relayed {
                                only_to: Some(peer.clone()),
                                attempts: r.attempts + 1,
                                ..r.clone()
                            })
                            .collect();
                        if !again.is_empty() {
                            self.retry_relay(again);
                        }
                    }
                }
            }
        });
        futures_util::future::join_all(sends).await;
    }

    /// Where other nodes reach this one: `node.public_url`, or `host:port` of a non-wildcard host.
    pub fn public_url(&self) -> Option<PeerAddr> {
        self.inner.config.public_url()
    }

    fn note_reachability(&self, peer: &PeerAddr, reachable: bool) {
        let max = self.inner.config.peers.max_unreachable;
        let now = Timestamp::now().as_secs_f64();
        let interval = self.inner.config.peers.sync_interval.as_secs_f64();
        let dropped = self
            .peer_registry()
            .reached(peer, reachable, now, interval, max);
        if dropped {
            tracing::warn!(%peer, failures = max, "dropped a peer that stayed unreachable");
            let ticket = {
                let registry = self.peer_registry();
                self.store_peers(registry.list())
            };
            let node = self.clone();
            tokio::spawn(async move {
                if let Err(error) = node.commit(ticket).await {
                    tracing::warn!(%error, "could not store the peer list");
                }
            });
        }
    }

    async fn drop_peer(&self, peer: &PeerAddr, why: &str) -> Result<(), NodeError> {
        let ticket = {
            let mut registry = self.peer_registry();
            if !registry.remove(peer) {
                return Ok(());
            }
            self.store_peers(registry.list())
        };
        tracing::warn!(%peer, why, "dropped a peer");
        self.commit(ticket).await?;
        Ok(())
    }

    /// Admits relayed transfers (each verified, like `/transactions/new`)
    /// and relays the admitted ones onward, never back to `origin`. The
    /// signatures of a batch are checked on every core, off the async
    /// workers (a batch may hold hundreds). One result a transfer, in order.
    pub async fn receive_transfers(
        &self,
        transactions: Vec<Transaction>,
        origin: Option<PeerAddr>,
    ) -> Result<Vec<Result<u64, NodeError>>, NodeError> {
        let (transactions, checks) = blocking("the signature checks", move || {
            let checks = super::timed_checks(&transactions);
            (transactions, checks)
        })
        .await?;
        let admits = transactions
            .into_iter()
            .zip(checks)
            .map(|(transaction, checked)| self.admit_checked(transaction, checked, origin.clone()));
        Ok(futures_util::future::join_all(admits).await)
    }

    /// Joins the network through `known`: registers this node there (under
    /// its public URL), learns its peers (up to `peers.max_peers`), registers
    /// them, and asks for a sync. Returns our peer list.
    pub async fn join(&self, known: &PeerAddr) -> Result<Vec<PeerAddr>, NodeError> {
        let me = self.public_url().ok_or(NodeError::NoPublicUrl)?;
        let body = serde_json::to_vec(&json!({ "node_address": me.url("") }))
            .expect("a JSON object serializes");
        let timeout = self.inner.config.peers.timeout;
        let (status, answer) = net::post(
            &self.inner.client,
            known,
            "/register_node",
            &body,
            Some(&me),
            timeout,
        )
        .await
        .map_err(|e| NodeError::Join(known.to_string(), e.to_string()))?;
        let answer: JoinAnswer = net::answer_as(status, answer)
            .map_err(|e| NodeError::Join(known.to_string(), e.to_string()))?;
        let learned = std::iter::once(known.to_string()).chain(answer.nodes);
        for entry in learned {
            // One by one: a bad or full entry must not keep the others out.
            if let Err(error) = self.register(std::slice::from_ref(&entry)).await {
                tracing::debug!(%entry, %error, "not registering a learned peer");
            }
        }
        // The known node's peers learn of us too, so every node of the
        // network finds every other (not only the node joined through).
        let others: Vec<PeerAddr> = self.peers().into_iter().filter(|p| p != known).collect();
        let introduced = net::broadcast(
            &self.inner.client,
            &others,
            "/register_node",
            &body,
            Some(&me),
            timeout,
        )
        .await;
        for (peer, result) in introduced {
            if !matches!(result, Ok(status) if status < 300) {
                tracing::debug!(%peer, ?result, "a learned peer did not register us");
            }
        }
        self.inner.background.sync_wanted.notify_one();
        tracing::info!(%known, peers = self.peers().len(), "joined the network");
        Ok(self.peers())
    }
}

/// What `/register_node` answers: the known node's peers.
#[derive(serde::Deserialize)]
struct JoinAnswer {
    #[serde(default)]
    nodes: Vec<String>,
}
