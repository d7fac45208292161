//! The node's peers: registering and forgetting them, resolving with them (fetch, choose, adopt), and keeping each peer's standing.

use crate::chain::{Timestamp, ValidationError};
use crate::consensus::{self, Ours, Outcome, PeerReport};
use crate::net::{self, FetchError, Health, PeerAddr};
use crate::state::{AdoptError, Adopted, State};
use crate::store::{Op, Ticket};

use super::sync::{SyncError, Synced};
use super::{blocking, Dropped, Node, NodeError, Resolution};

/// What a resolve round has found so far.
#[derive(Default)]
struct Round {
    reports: Vec<PeerReport>,
    /// Peers to ask for their whole chain.
    unpaged: Vec<PeerAddr>,
    /// Whether our chain changed.
    changed: bool,
    returned: usize,
    dropped: Vec<Dropped>,
}

impl Round {
    /// Adds a report and returns its position.
    fn report(
        &mut self,
        peer: &PeerAddr,
        result: Outcome,
        length: Option<u64>,
        detail: Option<String>,
    ) -> usize {
        self.reports.push(PeerReport {
            peer: peer.to_string(),
            result,
            length: length.map(|l| l as usize),
            detail,
        });
        self.reports.len() - 1
    }

    fn failed(&mut self, peer: &PeerAddr, error: &FetchError) {
        self.report(peer, Outcome::from(error), None, Some(error.to_string()));
    }

    fn into_resolution(self) -> Resolution {
        Resolution {
            replaced: self.changed,
            peers: self.reports,
            returned: self.returned,
            dropped: self.dropped,
        }
    }
}

impl Node {
    /// Registers peers (all or none) and stores the new list.
    pub async fn register(&self, entries: &[String]) -> Result<Vec<PeerAddr>, NodeError> {
        let (all, ticket) = {
            let mut registry = self.peer_registry();
            self.refuse_if_degraded()?;
            registry.register(entries, &self.inner.policy)?;
            let all = registry.list().to_vec();
            (all.clone(), self.store_peers(&all))
        };
        self.commit(ticket).await?;
        Ok(all)
    }

    /// Forgets one peer and stores the new list.
    pub async fn forget(&self, peer: &PeerAddr) -> Result<Vec<PeerAddr>, NodeError> {
        let (all, ticket) = {
            let mut registry = self.peer_registry();
            self.refuse_if_degraded()?;
            if !registry.remove(peer) {
                return Err(NodeError::UnknownPeer(peer.to_string()));
            }
            let all = registry.list().to_vec();
            (all.clone(), self.store_peers(&all))
        };
        self.commit(ticket).await?;
        tracing::info!(%peer, "forgot a peer");
        Ok(all)
    }

    /// Submits the peer list to the store; called with the registry locked,
    /// so the disk sees lists in the order memory had them.
    pub(super) fn store_peers(&self, all: &[PeerAddr]) -> Ticket {
        let names = all.iter().map(|p| p.as_str().to_owned()).collect();
        self.inner.store.submit(vec![Op::SetPeers(names)])
    }

    /// A sync round now, with a report per peer: each peer's `/health` is
    /// asked at once; we sync from the longest chain ahead of ours (paged,
    /// fetching only what we lack), and peers that do not page their chain
    /// (the seed's node) are asked for their whole chain, of which the
    /// longest valid one is adopted (on equal length ours stays).
    pub async fn resolve(&self) -> Result<Resolution, NodeError> {
        let peers = self.peers();
        let timeout = self.inner.config.peers.timeout;
        let client = &self.inner.client;
        let healths = futures_util::future::join_all(
            peers
                .iter()
                .map(|peer| net::fetch_health(client, peer, timeout)),
        )
        .await;
        let our_length = self.with_state(|s| s.chain().len()) as u64;
        let mut round = Round::default();
        let mut ahead = Vec::new();
        for (peer, health) in peers.iter().zip(healths) {
            match health {
                Ok(h) if h.id.as_deref() == Some(self.id()) => {
                    round.report(peer, Outcome::ThisNode, None, None);
                }
                Ok(h) if h.length <= our_length => {
                    round.report(peer, Outcome::NotLonger, Some(h.length), None);
                }
                Ok(h) => ahead.push((round.report(peer, Outcome::Longer, Some(h.length), None), h)),
                Err(
                    e @ (FetchError::Unreachable(_)
                    | FetchError::TimedOut { .. }
                    | FetchError::ThisNode),
                ) => round.failed(peer, &e),
                // Not a sigchain `/health`: the seed's node, or a peer to judge by its chain.
                Err(_) => round.unpaged.push(peer.clone()),
            }
        }
        ahead.sort_by_key(|(_, h)| std::cmp::Reverse(h.length));
        for (at, health) in ahead {
            self.sync_one(&mut round, at, &health).await?;
        }
        self.resolve_unpaged(&mut round).await?;
        self.update_standing(&round.reports).await?;
        if round.changed {
            self.announce_tip(None);
        }
        Ok(round.into_resolution())
    }

    /// Syncs from the peer reported at `at`, recording the outcome.
    async fn sync_one(
        &self,
        round: &mut Round,
        at: usize,
        health: &Health,
    ) -> Result<(), NodeError> {
        let peer = PeerAddr::parse(&round.reports[at].peer)?;
        let report = &mut round.reports[at];
        match self.sync_from(&peer, health).await {
            Ok(Synced::NotAhead) if round.changed => report.result = Outcome::Longer,
            Ok(Synced::NotAhead) => report.result = Outcome::NotLonger,
            Ok(Synced::Extended { appended }) => {
                round.changed |= appended > 0;
                self.metrics().blocks_adopted(appended as usize);
                report.result = Outcome::Adopted;
            }
            Ok(Synced::Adopted(adopted)) => {
                round.changed = true;
                self.metrics().blocks_adopted(adopted.blocks.len());
                report.result = Outcome::Adopted;
                round.returned += adopted.returned;
                round
                    .dropped
                    .extend(
                        adopted
                            .dropped
                            .into_iter()
                            .map(|(transaction, reason)| Dropped {
                                transaction,
                                reason: reason.to_string(),
                            }),
                    );
            }
            Err(SyncError::Unpaged) => round.unpaged.push(peer),
            Err(SyncError::Invalid(error)) => {
                tracing::warn!(%peer, %error, "peer sent an invalid chain");
                report.result = Outcome::Invalid;
                report.detail = Some(error.to_string());
            }
            Err(SyncError::Fetch(error)) => {
                report.result = Outcome::from(&error);
                report.detail = Some(error.to_string());
            }
            Err(SyncError::Node(error)) => return Err(error),
        }
        Ok(())
    }

    /// The whole-chain path, for peers that do not page their chain.
    async fn resolve_unpaged(&self, round: &mut Round) -> Result<(), NodeError> {
        if round.unpaged.is_empty() {
            return Ok(());
        }
        let settings = &self.inner.config.peers;
        let unpaged = std::mem::take(&mut round.unpaged);
        let fetched = net::fetch_all(
            &self.inner.client,
            &unpaged,
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
        let mut reports = choice.reports;
        if let Some((at, candidate)) = choice.best {
            let adopted = self
                .adopt_with(candidate.len(), |state, now| state.adopt(&candidate, now))
                .await
                .map_err(|e| match e {
                    AdoptFailed::Node(e) => e,
                    // Validated whole a moment ago on the same shared blocks.
                    AdoptFailed::Invalid(e) => NodeError::OwnBlockInvalid(e),
                })?;
            match adopted {
                Some(adopted) => {
                    round.changed = true;
                    self.metrics().blocks_adopted(adopted.blocks.len());
                    round.returned += adopted.returned;
                    round.dropped.extend(adopted.dropped.into_iter().map(
                        |(transaction, reason)| Dropped {
                            transaction,
                            reason: reason.to_string(),
                        },
                    ));
                    tracing::info!(peer = %reports[at].peer, length = reports[at].length, "adopted a longer chain");
                }
                // Our chain grew while the peers answered and is now as long.
                None => reports[at].result = Outcome::Longer,
            }
        }
        round.reports.extend(reports);
        Ok(())
    }

    /// Demotes peers that answered with something that is not a valid chain,
    /// drops those that did so `peers.max_failures` times in a row or that
    /// turned out to be this node, and stores the list if it changed.
    async fn update_standing(&self, reports: &[PeerReport]) -> Result<(), NodeError> {
        let max_failures = self.inner.config.peers.max_failures;
        let ticket = {
            let mut registry = self.peer_registry();
            let mut changed = false;
            for report in reports {
                if report.result.is_bad_answer() {
                    self.metrics().peer_chain_refused(refusal(report.result));
                }
                let Ok(peer) = PeerAddr::parse(&report.peer) else {
                    continue;
                };
                let dropped = match report.result {
                    Outcome::ThisNode => registry.remove(&peer),
                    Outcome::Unreachable | Outcome::TimedOut | Outcome::HttpError => false,
                    other => registry.record(&peer, other.is_bad_answer(), max_failures),
                };
                if dropped {
                    tracing::warn!(%peer, result = ?report.result, detail = ?report.detail, "dropped a peer");
                    changed = true;
                } else if report.result.is_bad_answer() {
                    tracing::warn!(%peer, failures = registry.failures(&peer), "demoted a peer for a bad answer");
                }
            }
            changed.then(|| self.store_peers(registry.list()))
        };
        if let Some(ticket) = ticket {
            self.commit(ticket).await?;
        }
        Ok(())
    }

    /// Changes our chain with `change` (an adoption to a chain of `length`
    /// blocks, given the state and the time) and stores the change before
    /// returning; the pool's returned transfers are relayed. `Ok(None)` if
    /// ours is as long by now.
    pub(super) async fn adopt_with(
        &self,
        length: usize,
        change: impl FnOnce(&mut State, f64) -> Result<Option<Adopted>, AdoptError>,
    ) -> Result<Option<Adopted>, AdoptFailed> {
        let (adopted, ticket) = {
            let mut state = self.state();
            if length > state.chain().len() {
                self.refuse_if_degraded()?;
            }
            let adopted = match change(&mut state, Timestamp::now().as_secs_f64()) {
                Ok(Some(adopted)) => adopted,
                Ok(None) => return Ok(None),
                Err(AdoptError::Invalid(e)) => return Err(AdoptFailed::Invalid(e)),
                Err(AdoptError::Unreadable(e)) => return Err(NodeError::from(e).into()),
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
        for transaction in &adopted.returned_transfers {
            self.relay(transaction.clone(), None);
        }
        for (transaction, reason) in &adopted.dropped {
            tracing::warn!(
                signature = ?transaction.signature(),
                %reason,
                "a pending transfer no longer fits the adopted chain"
            );
        }
        Ok(Some(adopted))
    }
}

/// Why an adoption failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum AdoptFailed {
    /// The branch breaks a rule on top of our shared blocks.
    #[error(transparent)]
    Invalid(ValidationError),
    /// Our side failed (the store, a degraded disk).
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// The metrics label of a refused peer chain.
fn refusal(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Invalid => "invalid",
        Outcome::TooLarge => "too_large",
        _ => "malformed",
    }
}
