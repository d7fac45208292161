//! Balances and spent signatures derived from the chain, with checked arithmetic and all-or-nothing block application.

use foldhash::{HashMap, HashMapExt as _, HashSet, HashSetExt as _};

use wallet::{Address, Signature};

use super::{Block, Transaction};

/// What a block did wrong against the ledger; the index is the transaction's position in the block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The signature already appears earlier in the chain.
    #[error("transaction {tx}: replay of a signature already in the chain")]
    Replay { tx: usize },
    /// The sender's balance at that point does not cover the amount.
    #[error("transaction {tx}: sender has {balance} coins and cannot pay {amount}")]
    Overspend {
        tx: usize,
        balance: u64,
        amount: u64,
    },
    /// A balance or the supply would overflow 64 bits.
    #[error("transaction {tx}: balance overflows")]
    Overflow { tx: usize },
}

/// The SHA-256 of a signature's text: what the replay set keeps, 32 bytes
/// instead of the 344 characters of a 2048-bit signature. One signature has
/// exactly one text (canonical base64), so equal digests mean a replay.
type SignatureDigest = [u8; 32];

fn digest(signature: &Signature) -> SignatureDigest {
    *signature.digest()
}

/// Balances and the set of signatures seen, after some prefix of a chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    balances: HashMap<Address, u64>,
    seen: HashSet<SignatureDigest>,
    minted: u64,
}

impl Ledger {
    /// The balance of `address` in the chain.
    pub fn balance(&self, address: &Address) -> u64 {
        self.balances.get(address).copied().unwrap_or(0)
    }

    /// Whether `signature` appears in the chain.
    pub fn has_seen(&self, signature: &Signature) -> bool {
        self.seen.contains(&digest(signature))
    }

    /// All coins ever minted by rewards; equals the sum of all balances.
    pub fn minted(&self) -> u64 {
        self.minted
    }

    /// The sum of all balances (for checks; the ledger keeps it equal to `minted`).
    pub fn total(&self) -> u64 {
        self.balances.values().sum()
    }

    /// Applies `block`'s transactions in order, or changes nothing and says which failed.
    pub fn apply(&mut self, block: &Block) -> Result<(), LedgerError> {
        // Work on the touched accounts only, then commit, so a rejected block
        // leaves the ledger as it was.
        let mut touched: HashMap<&Address, u64> = HashMap::new();
        let mut new_seen: HashSet<SignatureDigest> = HashSet::new();
        let mut minted = self.minted;
        for (tx, transaction) in block.transactions.iter().enumerate() {
            let amount = transaction.amount().get();
            match transaction {
                Transaction::Reward { recipient, .. } => {
                    minted = minted
                        .checked_add(amount)
                        .ok_or(LedgerError::Overflow { tx })?;
                    self.credit(&mut touched, recipient, amount, tx)?;
                }
                Transaction::Signed {
                    transfer,
                    signature,
                } => {
                    let seen = digest(signature);
                    if self.seen.contains(&seen) || !new_seen.insert(seen) {
                        return Err(LedgerError::Replay { tx });
                    }
                    let balance = self.current(&touched, &transfer.sender);
                    let left = balance.checked_sub(amount).ok_or(LedgerError::Overspend {
                        tx,
                        balance,
                        amount,
                    })?;
                    touched.insert(&transfer.sender, left);
                    self.credit(&mut touched, &transfer.recipient, amount, tx)?;
                }
            }
        }
        for (address, balance) in touched {
            // No zero entries: a ledger is then equal to itself after
            // `apply` and `unapply` of a block, whatever was spent.
            if balance == 0 {
                self.balances.remove(address);
            } else if let Some(kept) = self.balances.get_mut(address) {
                *kept = balance;
            } else {
                self.balances.insert(address.clone(), balance);
            }
        }
        self.seen.extend(new_seen);
        self.minted = minted;
        Ok(())
    }

    /// Undoes [`Ledger::apply`] of `block`, the last block applied: the
    /// ledger goes back to what it was before it (a chain's tail being abandoned).
    ///
    /// # Panics
    ///
    /// If `block` was not the last block applied (a balance would go below
    /// zero): that is a bug in the caller, which would otherwise corrupt the ledger.
    pub fn unapply(&mut self, block: &Block) {
        let debit = |balances: &mut HashMap<Address, u64>, address: &Address, amount: u64| {
            let balance = balances
                .get_mut(address)
                .filter(|b| **b >= amount)
                .expect("unapply is given the last block applied, so its credits are there");
            *balance -= amount;
            if *balance == 0 {
                balances.remove(address);
            }
        };
        for transaction in block.transactions.iter().rev() {
            let amount = transaction.amount().get();
            match transaction {
                Transaction::Reward { recipient, .. } => {
                    debit(&mut self.balances, recipient, amount);
                    self.minted -= amount;
                }
                Transaction::Signed {
                    transfer,
                    signature,
                } => {
                    debit(&mut self.balances, &transfer.recipient, amount);
                    *self.balances.entry(transfer.sender.clone()).or_default() += amount;
                    self.seen.remove(&digest(signature));
                }
            }
        }
    }

    /// Room for `signatures` more signatures without growing the replay
    /// set step by step (a restore knows how many blocks it will apply).
    pub fn reserve(&mut self, signatures: usize) {
        self.seen.reserve(signatures);
    }

    fn current(&self, touched: &HashMap<&Address, u64>, address: &Address) -> u64 {
        touched
            .get(address)
            .copied()
            .unwrap_or_else(|| self.balance(address))
    }

    fn credit<'a>(
        &self,
        touched: &mut HashMap<&'a Address, u64>,
        address: &'a Address,
        amount: u64,
        tx: usize,
    ) -> Result<(), LedgerError> {
        let balance = self
            .current(touched, address)
            .checked_add(amount)
            .ok_or(LedgerError::Overflow { tx })?;
        touched.insert(address, balance);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{PreviousHash, Timestamp};
    use wallet::{Amount, Wallet, MAX_SAFE_INTEGER};

    #[test]
    fn balance_overflow_is_refused_and_changes_nothing() {
        let miner = Wallet::generate().address().clone();
        let reward = Transaction::Reward {
            recipient: miner.clone(),
            amount: Amount::new(MAX_SAFE_INTEGER).unwrap(),
        };
        // 2^64 / (2^53 - 1) rewards are just over 2048: the 2049th overflows.
        let block = Block {
            index: 2,
            previous_hash: PreviousHash::Genesis,
            proof: 0,
            timestamp: Timestamp::now(),
            transactions: vec![reward; 2049],
        };
        let mut ledger = Ledger::default();
        assert_eq!(
            ledger.apply(&block),
            Err(LedgerError::Overflow { tx: 2048 })
        );
        assert_eq!(ledger, Ledger::default());
    }
}
