//! `Chain`: a sequence of blocks known to be valid, with their hashes and the ledger they produce.

use serde_json::Value;

use super::ledger::Ledger;
use super::rules::{check_genesis, check_header, check_signatures, Rule, Rules, ValidationError};
use super::{Block, BlockHash, Transaction};
use crate::parallel::per_core;

/// A valid chain. The only ways to get one are [`Chain::new`] (genesis),
/// [`Chain::validate`] and [`Chain::push`], so holding a `Chain` means its
/// blocks passed every rule.
#[derive(Debug, Clone)]
pub struct Chain {
    blocks: Vec<Block>,
    hashes: Vec<BlockHash>,
    ledger: Ledger,
}

/// Position (0-based) of a block in a chain, for readability.
type Position = usize;

impl Chain {
    /// The chain holding only this network's genesis block.
    pub fn new(rules: &Rules) -> Self {
        Chain {
            blocks: vec![rules.genesis.clone()],
            hashes: vec![rules.genesis_hash],
            ledger: Ledger::default(),
        }
    }

    /// The blocks, genesis first.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The hash of each block, in chain order.
    pub fn hashes(&self) -> &[BlockHash] {
        &self.hashes
    }

    /// Number of blocks, genesis included.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Never true: a chain always holds genesis.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The newest block.
    pub fn tip(&self) -> &Block {
        self.blocks.last().expect("a chain always holds genesis")
    }

    /// The hash of the newest block.
    pub fn tip_hash(&self) -> &BlockHash {
        self.hashes.last().expect("a chain always holds genesis")
    }

    /// Balances and spent signatures after the whole chain.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Checks `block` on top of this chain and appends it, or changes nothing.
    ///
    /// `verify_signatures` is false only for transactions the caller has
    /// already verified (the node's own pool).
    pub fn push(
        &mut self,
        block: Block,
        rules: &Rules,
        now: f64,
        verify_signatures: bool,
    ) -> Result<(), ValidationError> {
        let position = self.blocks.len() as u64 + 1;
        check_header(self.tip(), self.tip_hash(), &block, rules, now)
            .map_err(|r| r.at(position))?;
        if verify_signatures {
            check_signatures(&block).map_err(|r| r.at(position))?;
        }
        // `apply` changes nothing when it fails, so no copy of the ledger is needed.
        self.ledger
            .apply(&block)
            .map_err(|e| Rule::Ledger(e).at(position))?;
        self.hashes.push(block.hash());
        self.blocks.push(block);
        Ok(())
    }

    /// Reads a chain from its JSON form (a peer's `/chain`), naming the first
    /// block that is malformed, then validates it as [`Chain::validate`] does.
    pub fn from_values(
        values: &[Value],
        rules: &Rules,
        now: f64,
        trusted: &[BlockHash],
    ) -> Result<Chain, ValidationError> {
        let blocks = values
            .iter()
            .enumerate()
            .map(|(at, value)| {
                Block::from_value(value).map_err(|e| Rule::Form(e).at(at as u64 + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Chain::validate(blocks, rules, now, trusted)
    }

    /// Validates a chain this node stored itself: hashes, links, proofs,
    /// rewards and the ledger are checked again, signatures only with
    /// [`Signatures::Verify`]. A stored block was fully checked before it was
    /// committed and the store checksums its pages, so re-running RSA on
    /// every start buys little; `--reverify` asks for it.
    pub fn validate_stored(
        blocks: Vec<Block>,
        rules: &Rules,
        now: f64,
        signatures: Signatures,
    ) -> Result<Chain, ValidationError> {
        Chain::check(blocks, rules, now, &[], signatures)
    }

    /// Validates a whole chain against every rule and builds its ledger.
    ///
    /// `trusted` are the hashes of a chain this node has already validated
    /// (its own). A leading run of blocks with those same hashes is the same
    /// data (each hash covers the one before), so only its ledger effects are
    /// replayed; every block after it is checked in full. Signatures, the
    /// costly part, are verified on all cores.
    pub fn validate(
        blocks: Vec<Block>,
        rules: &Rules,
        now: f64,
        trusted: &[BlockHash],
    ) -> Result<Chain, ValidationError> {
        Chain::check(blocks, rules, now, trusted, Signatures::Verify)
    }

    fn check(
        blocks: Vec<Block>,
        rules: &Rules,
        now: f64,
        trusted: &[BlockHash],
        signatures: Signatures,
    ) -> Result<Chain, ValidationError> {
        if blocks.is_empty() {
            return Err(Rule::Empty.at(1));
        }
        let hashes: Vec<BlockHash> = blocks.iter().map(Block::hash).collect();
        let shared = hashes
            .iter()
            .zip(trusted)
            .take_while(|(ours, theirs)| ours == theirs)
            .count();
        let bad_signature = match signatures {
            Signatures::Verify => first_bad_signature(&blocks[shared.max(1)..])
                .map(|(at, rule)| (at + shared.max(1), rule)),
            Signatures::TrustStored => None,
        };

        if shared == 0 {
            check_genesis(&blocks[0], rules).map_err(|r| r.at(1))?;
        }
        let mut ledger = Ledger::default();
        for position in 1..blocks.len() {
            let (previous, block) = (&blocks[position - 1], &blocks[position]);
            let at = position as u64 + 1;
            if position >= shared {
                check_header(previous, &hashes[position - 1], block, rules, now)
                    .map_err(|r| r.at(at))?;
                if let Some((bad_at, rule)) = &bad_signature {
                    if *bad_at == position {
                        return Err(rule.clone().at(at));
                    }
                }
            }
            ledger.apply(block).map_err(|e| Rule::Ledger(e).at(at))?;
        }
        Ok(Chain {
            blocks,
            hashes,
            ledger,
        })
    }
}

/// Whether validating a stored chain verifies its signatures again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    /// Verify every signature (`--reverify`, and every chain from a peer).
    Verify,
    /// Trust the signatures of blocks this node verified before storing them.
    TrustStored,
}

/// Checks every signature of `blocks` on every core; a failure names the
/// block by its position in the chain (`blocks[0]` is at `first_position`).
pub fn check_all_signatures(blocks: &[Block], first_position: u64) -> Result<(), ValidationError> {
    match first_bad_signature(blocks) {
        None => Ok(()),
        Some((at, rule)) => Err(rule.at(first_position + at as u64)),
    }
}

/// The first block (0-based within `blocks`) with a signature that does not
/// verify, checking on every core.
pub(super) fn first_bad_signature(blocks: &[Block]) -> Option<(Position, Rule)> {
    let signed = blocks
        .iter()
        .filter(|b| {
            b.transactions
                .iter()
                .any(|t| matches!(t, Transaction::Signed { .. }))
        })
        .count();
    // Chunks are in chain order, so the first failing chunk holds the first failure.
    per_core(blocks, signed >= 16, |offset, part| {
        part.iter().enumerate().find_map(|(at, block)| {
            check_signatures(block)
                .err()
                .map(|rule| (offset + at, rule))
        })
    })
    .into_iter()
    .flatten()
    .next()
}
