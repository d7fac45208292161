//! The node's in-memory state: a valid chain and the pool admitted against it, changed only through methods that keep both consistent.
//!
//! Memory holds the chain's hashes, its ledger, the newest blocks and the
//! explorer's index ([`StoredChain`], [`ChainIndex`]); older blocks are read
//! back through [`OlderBlocks`] (the store) and checked against their hash.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use wallet::{Address, Signature};

use crate::chain::{
    Block, BlockHash, Chain, PreviousHash, RestoreError, Rules, Signatures, StoredChain, Timestamp,
    Transaction, ValidationError,
};
use crate::index::{ChainIndex, TransferId};
use crate::pool::{AdmitError, Pool};

/// Where blocks older than those in memory are read from: the store.
pub trait OlderBlocks: Send + Sync {
    /// The stored blocks at positions `from..to` (0-based; genesis is 0), in
    /// order, as the store holds them now; fewer (or none) if it holds fewer.
    fn read(&self, from: usize, to: usize) -> Vec<Block>;
}

/// No older blocks: a state that never leaves memory (tests, benches).
struct NoOlderBlocks;

impl OlderBlocks for NoOlderBlocks {
    fn read(&self, _: usize, _: usize) -> Vec<Block> {
        Vec::new()
    }
}

/// A block the chain holds was not readable as that block: the store is
/// behind memory (a commit is still in flight) or was damaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block {index} of the chain is not readable from the store yet")]
pub struct Unreadable {
    /// The block's index (1 = genesis).
    pub index: u64,
}

/// What a proof-of-work search needs: the tip it builds on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiningJob {
    /// The tip's proof.
    pub last_proof: u64,
    /// The tip's hash.
    pub last_hash: BlockHash,
    /// The index the new block will have.
    pub index: u64,
}

/// A block the node mined and appended.
#[derive(Debug, Clone)]
pub struct Mined {
    /// The new block.
    pub block: Block,
    /// Signatures of the pending transfers it took from the pool.
    pub included: Vec<Signature>,
}

/// What adopting a longer chain changed.
#[derive(Debug, Clone)]
pub struct Adopted {
    /// How many leading blocks the old and new chains share.
    pub kept: usize,
    /// The new chain's blocks after the shared ones.
    pub blocks: Vec<Block>,
    /// Transfers of our abandoned blocks that are pending again.
    pub returned: usize,
    /// Those transfers, to relay: peers that never saw them pending would
    /// otherwise only learn of them once they are mined.
    pub returned_transfers: Vec<Transaction>,
    /// Transfers that no longer fit the new chain, with the reason.
    pub dropped: Vec<(Transaction, AdmitError)>,
}

/// What appending a peer's blocks on top of our tip changed.
#[derive(Debug, Clone)]
pub struct Extended {
    /// The blocks appended, in order (all of them, or those before `error`).
    pub appended: Vec<Block>,
    /// Signatures that left the pool: now in the chain, or no longer covered.
    pub unpooled: Vec<Signature>,
    /// The first block that broke a rule; the blocks after it were not tried.
    pub error: Option<ValidationError>,
}

/// Why a found proof did not make a block.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MineError {
    /// The chain changed while the proof was searched; search again on the new tip.
    #[error("the chain changed during the proof search")]
    Stale,
    /// The node's own block failed validation (a bug: pool and chain disagree).
    #[error("the mined block is invalid: {0}")]
    Invalid(ValidationError),
}

/// Pending transfers that no longer fit a restored chain, with the reason.
pub type Dropped = Vec<(Transaction, AdmitError)>;

/// Why a branch was not adopted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdoptError {
    /// A block of the branch breaks a rule on top of the shared blocks.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// One of our blocks to abandon could not be read back.
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
}

/// The chain and the pending pool, always consistent with each other.
#[derive(Clone)]
pub struct State {
    rules: Rules,
    chain: StoredChain,
    pool: Pool,
    max_pool: usize,
    /// Lookups for the explorer, changed wherever `chain` changes.
    index: ChainIndex,
    older: Arc<dyn OlderBlocks>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("length", &self.chain.len())
            .field("tip", self.chain.tip_hash())
            .field("pending", &self.pool.len())
            .finish_non_exhaustive()
    }
}

impl State {
    /// A fresh state holding only genesis, wholly in memory.
    pub fn new(rules: Rules, max_pool: usize) -> Self {
        let chain = StoredChain::new(&rules);
        let mut index = ChainIndex::default();
        index.append(0, chain.tip(), chain.tip_hash());
        State {
            rules,
            chain,
            pool: Pool::default(),
            max_pool,
            index,
            older: Arc::new(NoOlderBlocks),
        }
    }

    /// A state from stored blocks (read in `chunks`, genesis first, and
    /// turned into blocks on every core by the decoders `decoder` makes; about
    /// `expected` of them) and pending transfers. Every rule is checked again,
    /// signatures only with [`Signatures::Verify`]; blocks older than those
    /// kept in memory are read back from `older` when needed. Pending
    /// transfers that no longer fit are returned with the reason.
    #[allow(clippy::too_many_arguments)]
    pub fn restore<R, E, I, M, D>(
        rules: Rules,
        max_pool: usize,
        older: Arc<dyn OlderBlocks>,
        expected: usize,
        chunks: I,
        decoder: M,
        pending: Vec<Transaction>,
        now: f64,
        signatures: Signatures,
    ) -> Result<(Self, Dropped), RestoreError<E>>
    where
        I: IntoIterator<Item = Result<Vec<R>, E>>,
        I::IntoIter: Send,
        R: Send,
        E: Send,
        M: Fn() -> D + Sync,
        D: FnMut(R) -> Result<Block, E>,
    {
        let mut index = ChainIndex::with_capacity(expected);
        let chain = StoredChain::restore(
            &rules,
            now,
            signatures,
            expected,
            chunks,
            decoder,
            |at, b, h| index.append(at, b, h),
        )?;
        let (pool, dropped) = Pool::rebuild(pending, chain.ledger());
        let state = State {
            rules,
            chain,
            pool,
            max_pool,
            index,
            older,
        };
        Ok((state, dropped))
    }

    /// A state from a whole chain in memory (tests, benches), as [`State::restore`].
    pub fn from_blocks(
        rules: Rules,
        max_pool: usize,
        blocks: Vec<Block>,
        pending: Vec<Transaction>,
        now: f64,
        signatures: Signatures,
    ) -> Result<(Self, Dropped), ValidationError> {
        let count = blocks.len();
        let chunks = std::iter::once(Ok::<_, std::convert::Infallible>(blocks));
        let older = Arc::new(NoOlderBlocks);
        State::restore(
            rules,
            max_pool,
            older,
            count,
            chunks,
            || Ok,
            pending,
            now,
            signatures,
        )
        .map_err(|e| match e {
            RestoreError::Invalid(e) => e,
            RestoreError::Read(never) => match never {},
        })
    }

    /// How many transfers the pool admits at most.
    pub fn max_pool(&self) -> usize {
        self.max_pool
    }

    /// The network's rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The chain: its hashes, ledger and newest blocks.
    pub fn chain(&self) -> &StoredChain {
        &self.chain
    }

    /// The block at `position` (0 = genesis): from memory if it is among the
    /// newest, else read back and checked against its hash. `None` past the tip.
    pub fn block(&self, position: usize) -> Option<Result<Cow<'_, Block>, Unreadable>> {
        if position >= self.chain.len() {
            return None;
        }
        if let Some(block) = self.chain.recent(position) {
            return Some(Ok(Cow::Borrowed(block)));
        }
        Some(
            self.blocks(position, position + 1)
                .map(|mut b| Cow::Owned(b.pop().expect("one block was read"))),
        )
    }

    /// The blocks at positions `from..to` (clamped to the chain), in order:
    /// older ones read back and checked against their hashes.
    pub fn blocks(&self, from: usize, to: usize) -> Result<Vec<Block>, Unreadable> {
        let to = to.min(self.chain.len());
        let from = from.min(to);
        let split = self.chain.first_recent().clamp(from, to);
        let mut blocks = if from < split {
            self.older.read(from, split)
        } else {
            Vec::new()
        };
        if blocks.len() != split - from {
            let index = (from + blocks.len()) as u64 + 1;
            return Err(Unreadable { index });
        }
        for (at, block) in (from..split).zip(&blocks) {
            if block.hash() != self.chain.hashes()[at] {
                return Err(Unreadable {
                    index: at as u64 + 1,
                });
            }
        }
        blocks.extend((split..to).map(|at| {
            self.chain
                .recent(at)
                .expect("positions from the first recent one are in memory")
                .clone()
        }));
        Ok(blocks)
    }

    /// Every block, genesis first, older ones read back: for tests and
    /// tools that asked for the whole chain, never for a request's answer.
    pub fn all_blocks(&self) -> Result<Vec<Block>, Unreadable> {
        self.blocks(0, self.chain.len())
    }

    /// The position of the block with this hash.
    pub fn block_of(&self, hash: &BlockHash) -> Option<usize> {
        self.index.block_of(hash, self.chain.hashes())
    }

    /// The transfer with this id in the chain: its block and its place there.
    pub fn transfer(&self, id: &TransferId) -> Result<Option<(Cow<'_, Block>, usize)>, Unreadable> {
        for position in self.index.transfer_candidates(id) {
            let Some(block) = self.block(position) else {
                continue;
            };
            let block = block?;
            let found = block
                .transactions
                .iter()
                .position(|t| TransferId::of_transaction(t).as_ref() == Some(id));
            if let Some(tx) = found {
                return Ok(Some((block, tx)));
            }
        }
        Ok(None)
    }

    /// The pending pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Blocks by hash, transfers by id, and each address's transactions.
    pub fn index(&self) -> &ChainIndex {
        &self.index
    }

    /// `address`'s balance in the chain and what it has pending to pay out.
    pub fn balance(&self, address: &Address) -> (u64, u64) {
        (
            self.chain.ledger().balance(address),
            self.pool.outgoing(address),
        )
    }

    /// The index of the next block, where an admitted transfer should land.
    pub fn next_index(&self) -> u64 {
        self.chain.tip().index + 1
    }

    /// Admits a signed transfer whose signature the caller has verified.
    pub fn admit(&mut self, transaction: Transaction) -> Result<(), AdmitError> {
        self.pool
            .admit(transaction, self.chain.ledger(), Some(self.max_pool))
    }

    /// What to search a proof for.
    pub fn mining_job(&self) -> MiningJob {
        let tip = self.chain.tip();
        MiningJob {
            last_proof: tip.proof,
            last_hash: *self.chain.tip_hash(),
            index: tip.index + 1,
        }
    }

    /// Makes a block from a proof found for `job`: the oldest pending
    /// transfers (as many as a block may hold) and the reward to `miner`.
    ///
    /// The proof does not cover the transactions, so those admitted during the
    /// search go in too; nothing pending is lost.
    pub fn complete_block(
        &mut self,
        job: &MiningJob,
        proof: u64,
        miner: &Address,
        now: Timestamp,
    ) -> Result<Mined, MineError> {
        if *self.chain.tip_hash() != job.last_hash {
            return Err(MineError::Stale);
        }
        let room = self.rules.max_block_transactions.saturating_sub(1);
        let mut transactions = self.pool.oldest(room);
        let included: Vec<Signature> = transactions
            .iter()
            .filter_map(|t| t.signature().cloned())
            .collect();
        transactions.push(Transaction::Reward {
            recipient: miner.clone(),
            amount: self.rules.mining_reward,
        });
        let block = Block {
            index: job.index,
            previous_hash: PreviousHash::Hash(job.last_hash),
            proof,
            timestamp: now.clone(),
            transactions,
        };
        // Pool entries were verified when admitted; everything else is checked again.
        self.chain
            .push(block.clone(), &self.rules, now.as_secs_f64(), false)
            .map_err(MineError::Invalid)?;
        let position = self.chain.len() - 1;
        self.index
            .append(position, &block, &self.chain.hashes()[position]);
        self.pool.remove(&included);
        Ok(Mined { block, included })
    }

    /// Appends `blocks` (a peer's, whose signatures the caller has already
    /// verified) on top of our tip, each checked against every other rule,
    /// then reconciles the pool with the new ledger. Stops at the first block
    /// that breaks a rule; those before it stay (each made a valid, longer chain).
    pub fn extend(&mut self, blocks: Vec<Block>, now: f64) -> Extended {
        let mut appended = Vec::with_capacity(blocks.len());
        let mut error = None;
        for block in blocks {
            match self.chain.push(block.clone(), &self.rules, now, false) {
                Ok(()) => {
                    let position = self.chain.len() - 1;
                    self.index
                        .append(position, &block, &self.chain.hashes()[position]);
                    appended.push(block);
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let mut unpooled = Vec::new();
        if !appended.is_empty() {
            let old = std::mem::take(&mut self.pool);
            let (pool, _) = Pool::rebuild(old.iter().cloned(), self.chain.ledger());
            unpooled = old
                .iter()
                .filter_map(Transaction::signature)
                .filter(|s| !pool.contains(s))
                .cloned()
                .collect();
            self.pool = pool;
        }
        Extended {
            appended,
            unpooled,
            error,
        }
    }

    /// Replaces the chain with `candidate` (a whole chain, validated) if it
    /// is longer: [`State::adopt_branch`] from the last block both share.
    pub fn adopt(&mut self, candidate: &Chain, now: f64) -> Result<Option<Adopted>, AdoptError> {
        let kept = self
            .chain
            .hashes()
            .iter()
            .zip(candidate.hashes())
            .take_while(|(ours, theirs)| ours == theirs)
            .count();
        self.adopt_branch(kept, candidate.blocks()[kept..].to_vec(), now)
    }

    /// Replaces our blocks after the first `kept` with `branch` (a peer's,
    /// whose signatures the caller has verified) if that makes the chain
    /// longer, each block checked against every other rule on top of the
    /// shared ones. The transfers of our abandoned blocks return to the pool,
    /// which is reconciled with the new ledger. `Ok(None)` if the result
    /// would not be longer; on an error nothing changed.
    pub fn adopt_branch(
        &mut self,
        kept: usize,
        branch: Vec<Block>,
        now: f64,
    ) -> Result<Option<Adopted>, AdoptError> {
        let length = self.chain.len();
        if kept == 0 || kept > length || kept + branch.len() <= length {
            // Genesis is always shared: a branch replacing it was never valid.
            return Ok(None);
        }
        let abandoned = self.blocks(kept, length)?;
        let base = self.blocks(kept - 1, kept)?.remove(0);
        let abandoned_hashes = self.chain.hashes()[kept..].to_vec();
        self.chain.rewind(kept, &base, &abandoned);
        for (at, block) in branch.iter().enumerate() {
            if let Err(e) = self.chain.push(block.clone(), &self.rules, now, false) {
                self.chain.rewind(kept, &base, &branch[..at]);
                for block in abandoned {
                    self.chain
                        .push(block, &self.rules, now, false)
                        .expect("our own blocks were valid on top of the shared ones");
                }
                return Err(e.into());
            }
        }
        let returning: Vec<Transaction> = abandoned
            .iter()
            .flat_map(|b| b.transactions.iter())
            .filter(|t| matches!(t, Transaction::Signed { .. }))
            .cloned()
            .collect();
        let abandoned_count = returning.len();
        let old_pool = std::mem::take(&mut self.pool);
        let (pool, dropped) = Pool::rebuild(
            returning.into_iter().chain(old_pool.iter().cloned()),
            self.chain.ledger(),
        );
        let returned_transfers: Vec<Transaction> = pool
            .iter()
            .take(abandoned_count)
            .filter(|t| !old_pool.contains(t.signature().expect("the pool holds signed transfers")))
            .cloned()
            .collect();
        let returned = returned_transfers.len();
        self.pool = pool;
        self.index.truncate(kept, &abandoned, &abandoned_hashes);
        for (position, block) in (kept..).zip(&branch) {
            self.index
                .append(position, block, &self.chain.hashes()[position]);
        }
        Ok(Some(Adopted {
            kept,
            blocks: branch,
            returned,
            returned_transfers,
            dropped,
        }))
    }
}
