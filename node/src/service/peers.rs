//! The node's peers: registering and forgetting them, resolving with them (fetch, choose, adopt), and keeping each peer's standing.

use crate::chain::{Chain, Timestamp};
use crate::consensus::{self, Ours, Outcome, PeerReport};
use crate::net::{self, PeerAddr};
use crate::state::Adopted;
use crate::store::{Op, Ticket};

use super::{blocking, Dropped, Node, NodeError, Resolution};

impl Node {
    /// Registers peers (all or none) and stores the new list.
    pub async fn register(&self, entries: &[String]) -> Result<Vec<PeerAddr>, NodeError> {
        let (all, ticket) = {
            let mut registry = self.peer_registry();
            registry.register(entries, &self.inner.policy)?;
            let all = registry.list().to_vec();
            (all.clone(), self.store_peers(&all))
        };
        ticket.wait_async().await?;
        Ok(all)
    }

    /// Forgets one peer and stores the new list.
    pub async fn forget(&self, peer: &PeerAddr) -> Result<Vec<PeerAddr>, NodeError> {
        let (all, ticket) = {
            let mut registry = self.peer_registry();
            if !registry.remove(peer) {
                return Err(NodeError::UnknownPeer(peer.to_string()));
            }
            let all = registry.list().to_vec();
            (all.clone(), self.store_peers(&all))
        };
        ticket.wait_async().await?;
        tracing::info!(%peer, "forgot a peer");
        Ok(all)
    }

    /// Submits the peer list to the store; called with the registry locked,
    /// so the disk sees lists in the order memory had them.
    fn store_peers(&self, all: &[PeerAddr]) -> Ticket {
        let names = all.iter().map(|p| p.as_str().to_owned()).collect();
        self.inner.store.submit(vec![Op::SetPeers(names)])
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
        for report in &choice.reports {
            if report.result.is_bad_answer() {
                self.metrics().peer_chain_refused(refusal(report.result));
            }
        }
        self.update_standing(&choice.reports).await?;
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
        self.metrics().blocks_adopted(adopted.blocks.len());
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

    /// Demotes peers that answered with something that is not a valid chain,
    /// drops those that did so `peers.max_failures` times in a row or that
    /// turned out to be this node, and stores the list if it changed.
    async fn update_standing(&self, reports: &[PeerReport]) -> Result<(), NodeError> {
        let max_failures = self.inner.config.peers.max_failures;
        let ticket = {
            let mut registry = self.peer_registry();
            let mut changed = false;
            for report in reports {
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
            ticket.wait_async().await?;
        }
        Ok(())
    }

    /// Replaces our chain with `candidate` if it is still longer, and stores
    /// the change before returning. `None` if ours is as long by now.
    async fn adopt(&self, candidate: Chain) -> Result<Option<Adopted>, NodeError> {
        let (adopted, ticket) = {
            let mut state = self.state();
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
        ticket.wait_async().await?;
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

/// The metrics label of a refused peer chain.
fn refusal(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Invalid => "invalid",
        Outcome::TooLarge => "too_large",
        _ => "malformed",
    }
}
