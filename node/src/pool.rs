//! The pending pool: signed transfers waiting for a block, in arrival order, each covered by its sender's balance.

use std::collections::BTreeMap;

use foldhash::HashMap;

use wallet::{Address, Signature};

use crate::chain::Ledger;
use crate::chain::Transaction;

/// Why a transfer was not admitted to the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// Rewards are made by miners, never submitted.
    #[error("sender \"0\" is reserved for mining rewards")]
    Reward,
    /// The same signed transfer is already in the chain.
    #[error("replay: this signed transfer is already in the chain; sign a new one with a different nonce to pay again")]
    ReplayInChain,
    /// The same signed transfer is already pending.
    #[error("replay: this signed transfer is already pending")]
    ReplayInPool,
    /// The sender cannot pay, counting what it already has pending.
    #[error("insufficient balance: sender has {balance} coins with {pending} already pending and cannot pay {amount} more")]
    InsufficientBalance {
        balance: u64,
        pending: u64,
        amount: u64,
    },
    /// The pool holds as many transfers as it may.
    #[error("the pending pool is full ({cap} transactions); try again after the next block")]
    Full { cap: usize },
}

/// Pending signed transfers, oldest first.
///
/// Invariant: for every sender, the sum of its pending amounts is covered by
/// its balance in the chain the pool was admitted against, so any subset of the
/// pool, taken in arrival order, is a valid block body.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    entries: BTreeMap<u64, Transaction>,
    by_signature: HashMap<Signature, u64>,
    outgoing: HashMap<Address, u64>,
    next: u64,
}

impl Pool {
    /// How many transfers are pending.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Pending transfers, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Transaction> {
        self.entries.values()
    }

    /// Whether a transfer with this signature is pending.
    pub fn contains(&self, signature: &Signature) -> bool {
        self.by_signature.contains_key(signature)
    }

    /// What `address` has pending to pay out.
    pub fn outgoing(&self, address: &Address) -> u64 {
        self.outgoing.get(address).copied().unwrap_or(0)
    }

    /// Admits a signed transfer whose signature the caller has verified, if it
    /// is no replay, its sender can pay, and the pool has room (`cap`).
    pub fn admit(
        &mut self,
        transaction: Transaction,
        ledger: &Ledger,
        cap: Option<usize>,
    ) -> Result<(), AdmitError> {
        let Transaction::Signed {
            transfer,
            signature,
        } = &transaction
        else {
            return Err(AdmitError::Reward);
        };
        if ledger.has_seen(signature) {
            return Err(AdmitError::ReplayInChain);
        }
        if self.contains(signature) {
            return Err(AdmitError::ReplayInPool);
        }
        let balance = ledger.balance(&transfer.sender);
        let pending = self.outgoing(&transfer.sender);
        let amount = transfer.amount.get();
        let spend = pending
            .checked_add(amount)
            .filter(|spend| *spend <= balance)
            .ok_or(AdmitError::InsufficientBalance {
                balance,
                pending,
                amount,
            })?;
        if let Some(cap) = cap {
            if self.entries.len() >= cap {
                return Err(AdmitError::Full { cap });
            }
        }
        self.outgoing.insert(transfer.sender.clone(), spend);
        self.by_signature.insert(signature.clone(), self.next);
        self.entries.insert(self.next, transaction);
        self.next += 1;
        Ok(())
    }

    /// Up to `max` pending transfers, oldest first.
    pub fn oldest(&self, max: usize) -> Vec<Transaction> {
        self.entries.values().take(max).cloned().collect()
    }

    /// Removes the transfers with these signatures (those that went into a block).
    pub fn remove<'a>(&mut self, signatures: impl IntoIterator<Item = &'a Signature>) {
        for signature in signatures {
            let Some(seq) = self.by_signature.remove(signature) else {
                continue;
            };
            let Some(Transaction::Signed { transfer, .. }) = self.entries.remove(&seq) else {
                continue;
            };
            if let Some(out) = self.outgoing.get_mut(&transfer.sender) {
                *out -= transfer.amount.get();
                if *out == 0 {
                    self.outgoing.remove(&transfer.sender);
                }
            }
        }
    }

    /// Rebuilds a pool against `ledger` from `candidates` in order: those
    /// already in the chain are confirmed, those still valid are pending again,
    /// the rest are returned with the reason they no longer fit. The cap does
    /// not apply: nothing a user was told is pending is dropped for room.
    pub fn rebuild(
        candidates: impl IntoIterator<Item = Transaction>,
        ledger: &Ledger,
    ) -> (Pool, Vec<(Transaction, AdmitError)>) {
        let mut pool = Pool::default();
        let mut dropped = Vec::new();
        for transaction in candidates {
            match pool.admit(transaction.clone(), ledger, None) {
                Ok(()) | Err(AdmitError::ReplayInChain | AdmitError::ReplayInPool) => {}
                Err(reason) => dropped.push((transaction, reason)),
            }
        }
        (pool, dropped)
    }
}
