//! Syncing from one peer: find where our chains part with O(log n) one-block requests, fetch only what we lack in pages, and adopt atomically.
//!
//! When the peer's chain extends ours (the common case: a node that was
//! offline, or a new node), pages are checked and appended one at a time, so
//! memory is bounded by the page size. When the chains fork, the peer's
//! branch after the fork point is fetched, its signatures checked on every
//! core, and it replaces our blocks after the fork point in one store
//! commit, each block checked on top of the shared ones (no whole chain is
//! ever copied or validated again).

use crate::chain::{check_all_signatures, Block, ValidationError};
use crate::net::{self, FetchError, Health, Page, PeerAddr};
use crate::state::Adopted;
use crate::store::Op;

use super::peers::AdoptFailed;
use super::{blocking, Node, NodeError};

/// Blocks asked for per page; the server gives at most [`MAX_PAGE_BLOCKS`].
pub const PAGE_BLOCKS: u64 = 500;
/// The most blocks `/chain?from=N&limit=M` answers in one page.
pub const MAX_PAGE_BLOCKS: u64 = 1000;
/// Log a line every this many blocks during a long sync.
const PROGRESS_EVERY: u64 = 5_000;

/// Why a sync with a peer stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The peer did not answer as it should.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The peer does not page its chain (the seed's node): use the whole-chain path.
    #[error("the peer does not page its chain")]
    Unpaged,
    /// The peer's chain breaks a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Our side failed (the store, a worker).
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// What a sync with a peer did.
#[derive(Debug)]
pub enum Synced {
    /// Its chain is not longer than ours.
    NotAhead,
    /// Its blocks after our tip were appended.
    Extended {
        /// How many blocks were appended.
        appended: u64,
    },
    /// Its chain forked from ours and, being longer and valid, replaced it.
    Adopted(Adopted),
}

impl Node {
    /// Syncs from `peer`, whose `/health` said `health`.
    pub async fn sync_from(&self, peer: &PeerAddr, health: &Health) -> Result<Synced, SyncError> {
        let our_length = self.with_state(|s| s.chain().len()) as u64;
        if health.length <= our_length {
            return Ok(Synced::NotAhead);
        }
        let fork = self.fork_point(peer, our_length, health.length).await?;
        if fork == our_length {
            let appended = self.extend_from(peer, fork + 1, health.length).await?;
            return Ok(Synced::Extended { appended });
        }
        tracing::info!(%peer, fork, ours = our_length, theirs = health.length, "chains fork");
        let branch = self.fetch_branch(peer, fork + 1, health.length).await?;
        let checked = blocking("the signature checks of a peer's branch", move || {
            check_all_signatures(&branch, fork + 1).map(|()| branch)
        })
        .await??;
        let adopted = self
            .adopt_with(health.length as usize, |state, now| {
                state.adopt_branch(fork as usize, checked, now)
            })
            .await;
        match adopted {
            Ok(Some(adopted)) => Ok(Synced::Adopted(adopted)),
            Ok(None) => Ok(Synced::NotAhead),
            Err(AdoptFailed::Invalid(e)) => Err(SyncError::Invalid(e)),
            Err(AdoptFailed::Node(e)) => Err(SyncError::Node(e)),
        }
    }

    /// The length of the prefix our chain and `peer`'s share, found with
    /// O(log n) one-block requests: probe further and further back from the
    /// shorter tip until a block matches, then bisect.
    async fn fork_point(
        &self,
        peer: &PeerAddr,
        our_length: u64,
        theirs: u64,
    ) -> Result<u64, SyncError> {
        let top = theirs.min(our_length);
        let mut step = 1;
        let mut probe = top;
        let mut mismatch = None;
        let matched = loop {
            if self.matches(peer, probe).await? {
                break probe;
            }
            if probe == 1 {
                return Err(SyncError::Fetch(FetchError::Malformed(
                    "its genesis block is not ours (another network)".into(),
                )));
            }
            mismatch = Some(probe);
            probe = probe.saturating_sub(step).max(1);
            step *= 2;
        };
        let (mut good, mut bad) = (matched, mismatch.unwrap_or(matched + 1));
        while bad - good > 1 {
            let middle = good + (bad - good) / 2;
            if self.matches(peer, middle).await? {
                good = middle;
            } else {
                bad = middle;
            }
        }
        Ok(good)
    }

    /// Whether `peer`'s block at 1-based `index` is ours (false if we no
    /// longer have one there: our chain changed, and the adoption will tell).
    async fn matches(&self, peer: &PeerAddr, index: u64) -> Result<bool, SyncError> {
        let page = self.page(peer, index, 1).await?;
        let block = page.blocks.first().ok_or_else(|| {
            FetchError::Malformed(format!(
                "it sent no block {index} though its chain is longer"
            ))
        })?;
        let ours = self.with_state(|s| s.chain().hashes().get(index as usize - 1).copied());
        Ok(Some(block.hash()) == ours)
    }

    /// One page from `peer`, checked to start at `from`.
    async fn page(&self, peer: &PeerAddr, from: u64, limit: u64) -> Result<Page, SyncError> {
        let settings = &self.inner.config.peers;
        let limits = (settings.timeout, settings.max_chain_bytes);
        let page = net::fetch_page(&self.inner.client, peer, from, limit, limits).await?;
        match page.blocks.first() {
            Some(first) if first.index != from => Err(SyncError::Unpaged),
            _ if page.blocks.len() as u64 > limit => Err(SyncError::Unpaged),
            _ => Ok(page),
        }
    }

    /// Appends `peer`'s blocks from `from` on, page by page; returns how many.
    async fn extend_from(&self, peer: &PeerAddr, from: u64, theirs: u64) -> Result<u64, SyncError> {
        let mut next = from;
        while next <= theirs {
            let page = self.page(peer, next, PAGE_BLOCKS).await?;
            if page.blocks.is_empty() {
                break;
            }
            let blocks = page.blocks;
            let first = next;
            let checked = blocking("a page's signature checks", move || {
                check_all_signatures(&blocks, first).map(|()| blocks)
            })
            .await??;
            let count = checked.len() as u64;
            if !self.append(checked, next).await? {
                // Our chain changed meanwhile; the next round starts over.
                break;
            }
            next += count;
            if (next - from) % PROGRESS_EVERY < count {
                tracing::info!(%peer, at = next - 1, of = theirs, "syncing");
            }
        }
        Ok(next - from)
    }

    /// Appends blocks whose signatures are verified at our tip, if our tip is
    /// still `at - 1`; stores them before returning. False if the tip moved.
    async fn append(&self, blocks: Vec<Block>, at: u64) -> Result<bool, SyncError> {
        let (extended, ticket) = {
            let mut state = self.state();
            if state.chain().len() as u64 != at - 1 {
                return Ok(false);
            }
            self.refuse_if_degraded()?;
            let extended = state.extend(blocks, crate::chain::Timestamp::now().as_secs_f64());
            let mut ops: Vec<Op> = extended
                .appended
                .iter()
                .map(|block| Op::AppendBlock {
                    block: block.clone(),
                    mined: Vec::new(),
                })
                .collect();
            ops.push(Op::RemovePending(extended.unpooled.clone()));
            (extended, self.inner.store.submit(ops))
        };
        if !extended.appended.is_empty() {
            self.cancel_search();
        }
        self.commit(ticket).await?;
        match extended.error {
            Some(error) => Err(SyncError::Invalid(error)),
            None => Ok(true),
        }
    }

    /// `peer`'s blocks from `from` to `theirs`, fetched in pages (a fork's branch).
    async fn fetch_branch(
        &self,
        peer: &PeerAddr,
        from: u64,
        theirs: u64,
    ) -> Result<Vec<Block>, SyncError> {
        let mut branch = Vec::new();
        let mut next = from;
        while next <= theirs {
            let page = self.page(peer, next, PAGE_BLOCKS).await?;
            if page.blocks.is_empty() {
                break;
            }
            next += page.blocks.len() as u64;
            branch.extend(page.blocks);
        }
        Ok(branch)
    }
}
