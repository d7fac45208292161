//! The consensus rules of PROTOCOL §5, one small function each, and the error that names the block and the rule broken.

use wallet::{Amount, WalletError};

use super::ledger::LedgerError;
use super::pow::valid_proof;
use super::{Block, BlockHash, FormError, PreviousHash, Transaction};

/// How far ahead of this node's clock a block's timestamp may be (PROTOCOL §5.5).
pub const MAX_FUTURE_SECS: f64 = 2.0 * 60.0 * 60.0;

/// The parameters every node of one network shares; they decide which chains are valid.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Leading hex zeros required of a proof's hash.
    pub difficulty: u32,
    /// What the reward transaction of every block must mint.
    pub mining_reward: Amount,
    /// The network's first block.
    pub genesis: Block,
    /// Its hash, computed once.
    pub genesis_hash: BlockHash,
    /// The most transactions one block may hold, reward included.
    pub max_block_transactions: usize,
}

impl Rules {
    /// The rules of a network from its parameters.
    pub fn new(
        difficulty: u32,
        mining_reward: Amount,
        genesis_timestamp: f64,
        max_block_transactions: usize,
    ) -> Self {
        let genesis = Block::genesis(genesis_timestamp);
        let genesis_hash = genesis.hash();
        Rules {
            difficulty,
            mining_reward,
            genesis,
            genesis_hash,
            max_block_transactions,
        }
    }
}

/// A chain or block broke a rule: `block` is the 1-based position of the
/// offending block (its expected index), whatever its own `index` field says.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("block {block}: {rule}")]
pub struct ValidationError {
    /// The position of the block that broke the rule, 1 for genesis.
    pub block: u64,
    /// The rule it broke.
    pub rule: Rule,
}

/// Each way a block can break the rules.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rule {
    /// Missing or extra fields, wrong types, non-canonical addresses, amounts out of range.
    #[error("{0}")]
    Form(FormError),
    /// The chain has no blocks.
    #[error("the chain is empty")]
    Empty,
    /// Rule 1: the first block must be this network's genesis, byte for byte.
    #[error("is not this network's genesis block")]
    Genesis,
    /// Rule 2: indexes count up by one.
    #[error("index is {found}, expected {expected}")]
    Index { expected: u64, found: u64 },
    /// Rule 2: `previous_hash` is the hash of the block before.
    #[error("previous_hash does not match the hash of the block before")]
    Link,
    /// Rule 2: the proof of work is valid at the network difficulty.
    #[error("proof {proof} is not a valid proof of work at difficulty {difficulty}")]
    Proof { proof: u64, difficulty: u32 },
    /// Rule 3: a block ends with a reward.
    #[error("does not end with a reward transaction")]
    NoReward,
    /// Rule 3: only the last transaction may come from "0".
    #[error("transaction {tx} is a reward but not the last transaction")]
    RewardNotLast { tx: usize },
    /// Rule 3: the reward mints exactly the mining reward.
    #[error("the reward is {found}, the mining reward is {expected}")]
    RewardAmount { expected: u64, found: u64 },
    /// Rule 4: every transfer carries its sender's signature.
    #[error("transaction {tx}: {source}")]
    Signature { tx: usize, source: WalletError },
    /// Rule 4: no replay, no overspending.
    #[error("{0}")]
    Ledger(LedgerError),
    /// Rule 5: no timestamp more than two hours ahead.
    #[error("timestamp {found} is more than 2 hours ahead of this node's clock ({now})")]
    FutureTimestamp { found: f64, now: f64 },
    /// Rule 5: the configured limit on transactions per block.
    #[error("has {count} transactions; at most {max} are allowed")]
    TooManyTransactions { count: usize, max: usize },
}

impl Rule {
    /// This rule, broken by the block at 1-based `position`.
    pub fn at(self, position: u64) -> ValidationError {
        ValidationError {
            block: position,
            rule: self,
        }
    }
}

/// Rule 1: the block is this network's genesis, compared through its hash of the canonical bytes.
pub fn check_genesis(block: &Block, rules: &Rules) -> Result<(), Rule> {
    if block.hash() == rules.genesis_hash {
        Ok(())
    } else {
        Err(Rule::Genesis)
    }
}

/// Rule 2: `block` follows the block at `previous_index` whose hash is `previous_hash`.
pub fn check_link(
    previous_index: u64,
    previous_hash: &BlockHash,
    block: &Block,
) -> Result<(), Rule> {
    let expected = previous_index + 1;
    if block.index != expected {
        return Err(Rule::Index {
            expected,
            found: block.index,
        });
    }
    match block.previous_hash {
        PreviousHash::Hash(hash) if hash == *previous_hash => Ok(()),
        _ => Err(Rule::Link),
    }
}

/// Rule 2: the proof is valid against the previous block's proof and hash.
pub fn check_proof(
    previous: &Block,
    previous_hash: &BlockHash,
    block: &Block,
    difficulty: u32,
) -> Result<(), Rule> {
    if valid_proof(previous.proof, block.proof, previous_hash, difficulty) {
        Ok(())
    } else {
        Err(Rule::Proof {
            proof: block.proof,
            difficulty,
        })
    }
}

/// Rule 3: exactly one reward, last, minting exactly the mining reward.
pub fn check_reward(block: &Block, rules: &Rules) -> Result<(), Rule> {
    let last = block
        .transactions
        .len()
        .checked_sub(1)
        .ok_or(Rule::NoReward)?;
    if let Some(tx) = block.transactions[..last]
        .iter()
        .position(|t| matches!(t, Transaction::Reward { .. }))
    {
        return Err(Rule::RewardNotLast { tx });
    }
    match &block.transactions[last] {
        Transaction::Reward { amount, .. } if *amount == rules.mining_reward => Ok(()),
        Transaction::Reward { amount, .. } => Err(Rule::RewardAmount {
            expected: rules.mining_reward.get(),
            found: amount.get(),
        }),
        Transaction::Signed { .. } => Err(Rule::NoReward),
    }
}

/// Rule 5: the block holds at most the configured number of transactions.
pub fn check_size(block: &Block, rules: &Rules) -> Result<(), Rule> {
    let count = block.transactions.len();
    if count > rules.max_block_transactions {
        Err(Rule::TooManyTransactions {
            count,
            max: rules.max_block_transactions,
        })
    } else {
        Ok(())
    }
}

/// Rule 5: the timestamp is not more than two hours ahead of `now`.
pub fn check_timestamp(block: &Block, now: f64) -> Result<(), Rule> {
    let found = block.timestamp.as_secs_f64();
    // A NaN-free comparison that also rejects a NaN timestamp.
    if found <= now + MAX_FUTURE_SECS {
        Ok(())
    } else {
        Err(Rule::FutureTimestamp { found, now })
    }
}

/// Rule 4: every transfer's signature verifies (context-free, so it may run in parallel).
pub fn check_signatures(block: &Block) -> Result<(), Rule> {
    for (tx, transaction) in block.transactions.iter().enumerate() {
        transaction
            .verify()
            .map_err(|source| Rule::Signature { tx, source })?;
    }
    Ok(())
}

/// The checks of a block on top of `previous` that need no ledger and no signature work.
pub fn check_header(
    previous: &Block,
    previous_hash: &BlockHash,
    block: &Block,
    rules: &Rules,
    now: f64,
) -> Result<(), Rule> {
    check_size(block, rules)?;
    check_link(previous.index, previous_hash, block)?;
    check_proof(previous, previous_hash, block, rules.difficulty)?;
    check_reward(block, rules)?;
    check_timestamp(block, now)
}
