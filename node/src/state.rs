//! The node's in-memory state: a valid chain and the pool admitted against it, changed only through methods that keep both consistent.

use wallet::{Address, Signature};

use crate::chain::{
    Block, BlockHash, Chain, PreviousHash, Rules, Signatures, Timestamp, Transaction,
    ValidationError,
};
use crate::index::ChainIndex;
use crate::pool::{AdmitError, Pool};

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

/// The chain and the pending pool, always consistent with each other.
#[derive(Debug, Clone)]
pub struct State {
    rules: Rules,
    chain: Chain,
    pool: Pool,
    max_pool: usize,
    /// Lookups for the explorer, changed wherever `chain` changes.
    index: ChainIndex,
}

impl State {
    /// A fresh state holding only genesis.
    pub fn new(rules: Rules, max_pool: usize) -> Self {
        let chain = Chain::new(&rules);
        let index = ChainIndex::build(chain.blocks(), chain.hashes());
        State {
            rules,
            chain,
            pool: Pool::default(),
            max_pool,
            index,
        }
    }

    /// A state from stored blocks and pending transfers, validating the chain
    /// in full; pending transfers that no longer fit are returned with the reason.
    pub fn restore(
        rules: Rules,
        max_pool: usize,
        blocks: Vec<Block>,
        pending: Vec<Transaction>,
        now: f64,
        signatures: Signatures,
    ) -> Result<(Self, Vec<(Transaction, AdmitError)>), ValidationError> {
        let chain = Chain::validate_stored(blocks, &rules, now, signatures)?;
        Ok(State::with_chain(rules, max_pool, chain, pending))
    }

    /// As [`State::restore`], except that a leading run of blocks with the
    /// `trusted` hashes (a chain this node validated: its own) is only
    /// replayed, not checked again. Used to go back to what the disk holds
    /// after a failed commit.
    pub fn restore_trusting(
        rules: Rules,
        max_pool: usize,
        blocks: Vec<Block>,
        pending: Vec<Transaction>,
        now: f64,
        trusted: &[BlockHash],
    ) -> Result<(Self, Vec<(Transaction, AdmitError)>), ValidationError> {
        let chain = Chain::validate(blocks, &rules, now, trusted)?;
        Ok(State::with_chain(rules, max_pool, chain, pending))
    }

    fn with_chain(
        rules: Rules,
        max_pool: usize,
        chain: Chain,
        pending: Vec<Transaction>,
    ) -> (Self, Vec<(Transaction, AdmitError)>) {
        let (pool, dropped) = Pool::rebuild(pending, chain.ledger());
        let index = ChainIndex::build(chain.blocks(), chain.hashes());
        let state = State {
            rules,
            chain,
            pool,
            max_pool,
            index,
        };
        (state, dropped)
    }

    /// How many transfers the pool admits at most.
    pub fn max_pool(&self) -> usize {
        self.max_pool
    }

    /// The network's rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
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

    /// Replaces the chain with `candidate` if it is longer, returning the
    /// transfers of abandoned blocks to the pool and reconciling the pool with
    /// the new ledger. `None` if the candidate is not longer.
    pub fn adopt(&mut self, candidate: Chain) -> Option<Adopted> {
        if candidate.len() <= self.chain.len() {
            return None;
        }
        let kept = self
            .chain
            .hashes()
            .iter()
            .zip(candidate.hashes())
            .take_while(|(ours, theirs)| ours == theirs)
            .count();
        let abandoned = self.chain.blocks()[kept..]
            .iter()
            .flat_map(|b| b.transactions.iter())
            .filter(|t| matches!(t, Transaction::Signed { .. }))
            .cloned();
        let returning: Vec<Transaction> = abandoned.collect();
        let abandoned_count = returning.len();
        let old_pool = std::mem::take(&mut self.pool);
        let (pool, dropped) = Pool::rebuild(
            returning.into_iter().chain(old_pool.iter().cloned()),
            candidate.ledger(),
        );
        let returned_transfers: Vec<Transaction> = pool
            .iter()
            .take(abandoned_count)
            .filter(|t| !old_pool.contains(t.signature().expect("the pool holds signed transfers")))
            .cloned()
            .collect();
        let returned = returned_transfers.len();
        self.pool = pool;
        let blocks = candidate.blocks()[kept..].to_vec();
        self.index.truncate(
            kept,
            &self.chain.blocks()[kept..],
            &self.chain.hashes()[kept..],
        );
        for (position, block) in blocks.iter().enumerate() {
            let position = kept + position;
            self.index
                .append(position, block, &candidate.hashes()[position]);
        }
        self.chain = candidate;
        Some(Adopted {
            kept,
            blocks,
            returned,
            returned_transfers,
            dropped,
        })
    }
}
