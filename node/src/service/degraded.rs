//! Degraded mode: while the data disk is full or failing, writes are refused, memory is put back to what the disk holds, and a task retries until writes can resume.
//!
//! Why memory is restored from the disk rather than each change undone:
//! after a failed commit, the requests queued behind it may rest on the
//! failed change (a block mining a refused transfer, a transfer spending a
//! refused block's reward), and adopting a chain cannot be undone without the
//! old one. The disk is the truth, and it cannot change while the store is
//! degraded, so the node reads it again and takes it whole.
//!
//! Why that is enough: every change to memory is made under the state or the
//! peers lock, after checking under that lock that the store is not degraded
//! (which it is from before anyone hears of the failure). A change made
//! before the new memory is swapped in (under both locks) is wiped by the
//! swap; one attempted after it is refused. Writes resume only through a
//! probe made after the swap, so every write the store accepts again rests
//! on what it holds. The slow part (reading and replaying the stored chain)
//! runs without those locks, so reads are served meanwhile.
//!
//! Every failed request waits for the swap before it is answered: whoever
//! hears of a failure no longer sees the refused change.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::chain::{self, Signatures, ValidationError};
use crate::net::{PeerAddr, PeerError, PeerRegistry};
use crate::store::StoreError;

use super::stored::restore_state;
use super::{blocking, Node, NodeError};

/// How often the node tries the disk again while degraded.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Why memory could not be restored from the disk (yet).
#[derive(Debug, thiserror::Error)]
enum RestoreError {
    /// The store could not be read again, or refused to resume writes.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored chain breaks a rule (outside damage).
    #[error("the stored chain is refused: {0}")]
    Chain(#[from] ValidationError),
    /// A stored peer is not acceptable (outside damage).
    #[error("the stored peers are refused: {0}")]
    Peers(#[from] PeerError),
}

impl From<chain::RestoreError<StoreError>> for RestoreError {
    fn from(error: chain::RestoreError<StoreError>) -> Self {
        match error {
            chain::RestoreError::Read(e) => RestoreError::Store(e),
            chain::RestoreError::Invalid(e) => RestoreError::Chain(e),
        }
    }
}

impl Node {
    /// Why writes are refused, while they are: the data disk's failure.
    pub fn degraded(&self) -> Option<String> {
        self.inner.store.degraded()
    }

    /// Refuses a write while degraded; called under the lock the write's
    /// submission is made under, before memory is changed.
    pub(super) fn refuse_if_degraded(&self) -> Result<(), NodeError> {
        match self.degraded() {
            Some(reason) => Err(NodeError::Degraded { reason }),
            None => Ok(()),
        }
    }

    /// After a commit failed on the disk: puts memory back to what the disk
    /// holds, and starts the task that retries until writes resume.
    pub(super) async fn restore_after_failure(&self) {
        let failures = self.inner.store.failures();
        if self.inner.announced.swap(failures, Ordering::SeqCst) != failures {
            tracing::error!(
                reason = self.degraded().unwrap_or_default(),
                "the data disk is full or failing: writes are refused until it recovers"
            );
        }
        let node = self.clone();
        let restored =
            match blocking("restoring memory from the disk", move || node.restore()).await {
                Ok(outcome) => outcome.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
        if let Err(error) = restored {
            tracing::error!(%error, "cannot restore memory from the disk yet; retrying");
        }
        self.start_recovery();
    }

    /// Replaces the state and the peers with what the store holds, unless
    /// that was done since the store's last failure. Blocks.
    fn restore(&self) -> Result<(), RestoreError> {
        let _one_at_a_time = self
            .inner
            .restoring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let failures = self.inner.store.failures();
        if self.inner.restored_for.load(Ordering::SeqCst) == failures {
            return Ok(());
        }
        let (rules, max_pool) = {
            let state = self.state();
            (state.rules().clone(), state.max_pool())
        };
        let loaded = self.inner.store.reload()?;
        // What the store holds, this node verified before storing it.
        let (restored, dropped) = restore_state(
            &self.inner.store,
            rules,
            max_pool,
            loaded.pool,
            Signatures::TrustStored,
        )?;
        let stored: Vec<PeerAddr> = loaded
            .peers
            .iter()
            .map(|p| PeerAddr::parse(p))
            .collect::<Result<_, _>>()?;
        let registry = PeerRegistry::from_peers(stored, self.inner.config.peers.max_peers)?;
        let (length, pending, peers) = (
            restored.chain().len(),
            restored.pool().len(),
            registry.len(),
        );
        {
            // State, then peers: the one order they are ever both taken in.
            let mut state = self.state();
            let mut peers = self.peer_registry();
            *state = restored;
            *peers = registry;
        }
        self.inner.restored_for.store(failures, Ordering::SeqCst);
        tracing::info!(length, pending, peers, "memory restored from the data disk");
        for (transaction, reason) in &dropped {
            tracing::warn!(signature = ?transaction.signature(), %reason, "a stored pending transfer no longer fits the chain");
        }
        // The tip may have gone back: a search on the refused one is wasted.
        self.cancel_search();
        Ok(())
    }

    /// Starts the retrying task unless it runs.
    fn start_recovery(&self) {
        if self.inner.recovering.swap(true, Ordering::SeqCst) {
            return;
        }
        tokio::spawn(self.clone().recover());
    }

    /// Every [`RETRY_EVERY`]: restores memory if that has not succeeded yet,
    /// then probes the disk; ends once writes resume or the node stops.
    async fn recover(self) {
        while !self.inner.stopping.load(Ordering::SeqCst) && self.degraded().is_some() {
            tokio::time::sleep(RETRY_EVERY).await;
            let node = self.clone();
            let attempt = blocking("retrying the data disk", move || {
                node.restore()?;
                node.inner.store.probe().map_err(RestoreError::from)
            })
            .await;
            match attempt {
                Ok(Ok(())) => tracing::info!("the data disk recovered: writes are accepted again"),
                Ok(Err(e)) => tracing::debug!(error = %e, "the data disk is still failing"),
                Err(e) => tracing::warn!(error = %e, "retrying the data disk failed"),
            }
        }
        self.inner.recovering.store(false, Ordering::SeqCst);
        // A failure between the last check and clearing the flag found this
        // task still running and started none.
        if !self.inner.stopping.load(Ordering::SeqCst) && self.degraded().is_some() {
            self.start_recovery();
        }
    }
}
