//! The chain: block and transaction types, their canonical JSON and hash, proof of work, and every consensus rule.
//!
//! Only this module decides validity: the pool, the store, the peers code and
//! the HTTP handlers ask it. A [`Chain`] can only be built by checking every
//! rule, so holding one means its blocks are valid.
//!
//! # Layout
//!
//! - `block.rs`: [`Block`], [`BlockHash`], [`PreviousHash`], [`Timestamp`]; reading a block from JSON.
//! - `transaction.rs`: [`Transaction`] and its one checked constructor, [`Transaction::from_parts`].
//! - `form.rs`: [`FormError`], what is wrong with the form of a block or transaction.
//! - `canonical.rs`: [`python_json`], the canonical bytes a block hash covers.
//! - `pow.rs`: the proof of work, and the allocation-free search the miner runs.
//! - `rules.rs`: [`Rules`] (a network's parameters) and one function per rule.
//! - `ledger.rs`: [`Ledger`], balances and spent signatures: the replay and balance rules.
//! - `valid_chain.rs`: [`Chain`], a sequence of blocks that passed every rule, all in memory (a peer's chain).
//! - `stored_chain.rs`: [`StoredChain`], the node's own valid chain: every hash and the ledger, only the newest blocks.
//!
//! # The rules (PROTOCOL §5), where each lives and where it is tested
//!
//! | rule | [`Rule`] variant | function | file | test (in `node/tests/`) |
//! |---|---|---|---|---|
//! | form: fields, JSON types, canonical addresses, amounts, nonces, signatures' text | `Form` | [`Transaction::from_parts`], [`Block::from_value`] | `transaction.rs`, `block.rs` | `chain_rules.rs`: `non_canonical_address`, `extra_field`, `string_amount_in_a_block_is_malformed` |
//! | a chain has at least genesis | `Empty` | [`Chain::validate`] | `valid_chain.rs` | `chain_rules.rs`: `empty_chain` |
//! | 1. the first block is this network's genesis | `Genesis` | [`check_genesis`] | `rules.rs` | `chain_rules.rs`: `different_genesis` |
//! | 2. indexes count up by one | `Index` | [`check_link`] | `rules.rs` | `chain_rules.rs`: `wrong_index` |
//! | 2. `previous_hash` is the hash of the block before | `Link` | [`check_link`] | `rules.rs` | `chain_rules.rs`: `broken_link` |
//! | 2. the proof of work is valid | `Proof` | [`check_proof`] | `rules.rs`, `pow.rs` | `chain_rules.rs`: `bad_proof`; `vectors.rs` |
//! | 3. a block ends with exactly one reward of the mining reward | `NoReward`, `RewardNotLast`, `RewardAmount` | [`check_reward`] | `rules.rs` | `chain_rules.rs`: `no_reward`, `two_rewards`, `reward_not_last`, `reward_too_high` |
//! | 4. every transfer carries its sender's signature | `Signature` | [`check_signatures`] | `rules.rs` | `chain_rules.rs`: `bad_signature`, `amount_changed_after_signing` |
//! | 4. no signed transfer twice (replay) | `Ledger(Replay)` | [`Ledger::apply`] | `ledger.rs` | `chain_rules.rs`: `replay_within_a_block`, `replay_across_blocks` |
//! | 4. no sender pays more than its balance | `Ledger(Overspend)` | [`Ledger::apply`] | `ledger.rs` | `chain_rules.rs`: `overspend` |
//! | 4. no balance overflows | `Ledger(Overflow)` | [`Ledger::apply`] | `ledger.rs` | `ledger.rs` (unit): `balance_overflow_is_refused_and_changes_nothing` |
//! | 5. no timestamp more than two hours ahead | `FutureTimestamp` | [`check_timestamp`] | `rules.rs` | `chain_rules.rs`: `timestamp_too_far_ahead` |
//! | 5. at most `max_block_transactions` per block | `TooManyTransactions` | [`check_size`] | `rules.rs` | `chain_rules.rs`: `too_many_transactions` |
//!
//! A rejected block changes nothing (`state_props.rs`:
//! `a_rejected_block_changes_neither_ledger_nor_chain`).

pub mod block;
pub mod canonical;
pub mod form;
pub mod ledger;
pub mod pow;
pub mod rules;
pub mod stored_chain;
pub mod transaction;
pub mod valid_chain;

pub use block::{Block, BlockHash, PreviousHash, Timestamp};
pub use canonical::python_json;
pub use form::FormError;
pub use ledger::{Ledger, LedgerError};
pub use rules::{
    check_genesis, check_link, check_proof, check_reward, check_signatures, check_size,
    check_timestamp, Rule, Rules, ValidationError,
};
pub use stored_chain::{RestoreError, StoredChain, RECENT_BLOCKS, RESTORE_CHUNK};
pub use transaction::{Sender, Transaction, REWARD_SENDER};
pub use valid_chain::{check_all_signatures, Chain, Signatures};
