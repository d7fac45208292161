//! `ChainIndex`: the lookups the explorer needs (block by hash, transfer by id, an address's transfers), kept beside the chain in memory.
//!
//! The index is derived data: it is built from the blocks when the state is
//! restored and changed only where the chain changes (a mined block, an
//! adopted chain), so it can never disagree with the chain across restarts
//! or adoptions, and the store needs no new table.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use wallet::{Address, Signature};

use crate::chain::{Block, BlockHash, Transaction};

/// A signed transfer's id: the first 16 bytes of the SHA-256 of its
/// signature's text (the base64 string as it appears in the JSON), written
/// as 32 lowercase hex digits. The signature covers every field of the
/// transfer, so two different transfers never share a signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransferId(pub [u8; 16]);

impl TransferId {
    /// The id of the transfer carrying `signature`.
    pub fn of(signature: &Signature) -> Self {
        let digest = Sha256::digest(signature.as_str().as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        TransferId(id)
    }

    /// The id of a transaction; a reward has none (it is shown with its block).
    pub fn of_transaction(transaction: &Transaction) -> Option<Self> {
        transaction.signature().map(TransferId::of)
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransferId({self})")
    }
}

impl FromStr for TransferId {
    type Err = hex::FromHexError;

    /// Accepts 32 hex digits, in either case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; 16];
        hex::decode_to_slice(text, &mut id)?;
        Ok(TransferId(id))
    }
}

/// Where a transaction sits: its block's position (0 for genesis) and its place in that block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spot {
    /// Position of the block in the chain (its index minus one).
    pub block: usize,
    /// Position of the transaction in the block.
    pub tx: usize,
}

/// Block positions by hash, transfers by id, and each address's transactions in chain order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainIndex {
    by_hash: HashMap<BlockHash, usize>,
    by_transfer: HashMap<TransferId, Spot>,
    by_address: HashMap<Address, Vec<Spot>>,
}

impl ChainIndex {
    /// The index of `blocks`, whose hashes are `hashes` (same order).
    pub fn build(blocks: &[Block], hashes: &[BlockHash]) -> Self {
        let mut index = ChainIndex::default();
        for (position, (block, hash)) in blocks.iter().zip(hashes).enumerate() {
            index.append(position, block, hash);
        }
        index
    }

    /// Adds the block at `position`, which must be the next one.
    pub fn append(&mut self, position: usize, block: &Block, hash: &BlockHash) {
        self.by_hash.insert(*hash, position);
        for (tx, transaction) in block.transactions.iter().enumerate() {
            let spot = Spot {
                block: position,
                tx,
            };
            if let Some(id) = TransferId::of_transaction(transaction) {
                self.by_transfer.insert(id, spot);
            }
            let recipient = transaction.recipient();
            self.by_address
                .entry(recipient.clone())
                .or_default()
                .push(spot);
            // A payment to oneself is listed once.
            if let Some(sender) = transaction.sender().filter(|s| *s != recipient) {
                self.by_address
                    .entry(sender.clone())
                    .or_default()
                    .push(spot);
            }
        }
    }

    /// Removes the blocks from position `keep` on: `removed` and their
    /// `hashes`, the chain's tail being abandoned. Costs the size of the tail.
    pub fn truncate(&mut self, keep: usize, removed: &[Block], hashes: &[BlockHash]) {
        for hash in hashes {
            self.by_hash.remove(hash);
        }
        for transaction in removed.iter().flat_map(|b| &b.transactions) {
            if let Some(id) = TransferId::of_transaction(transaction) {
                self.by_transfer.remove(&id);
            }
            let addresses = std::iter::once(transaction.recipient()).chain(transaction.sender());
            for address in addresses {
                let Some(spots) = self.by_address.get_mut(address) else {
                    continue;
                };
                // Spots are in chain order, so the abandoned ones are at the end.
                let cut = spots.partition_point(|s| s.block < keep);
                spots.truncate(cut);
                if spots.is_empty() {
                    self.by_address.remove(address);
                }
            }
        }
    }

    /// The position of the block with this hash.
    pub fn block_of(&self, hash: &BlockHash) -> Option<usize> {
        self.by_hash.get(hash).copied()
    }

    /// Where the transfer with this id is in the chain.
    pub fn transfer(&self, id: &TransferId) -> Option<Spot> {
        self.by_transfer.get(id).copied()
    }

    /// Every transaction paying or paid by `address`, oldest first.
    pub fn activity(&self, address: &Address) -> &[Spot] {
        self.by_address.get(address).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{PreviousHash, Timestamp};
    use wallet::{Amount, Nonce, Wallet};

    fn block(index: u64, transactions: Vec<Transaction>) -> Block {
        Block {
            index,
            previous_hash: PreviousHash::Genesis,
            proof: index,
            timestamp: Timestamp::from_secs_f64(index as f64).unwrap(),
            transactions,
        }
    }

    #[test]
    fn truncating_a_tail_gives_the_index_of_the_kept_blocks() {
        let alice = Wallet::generate();
        let bob = Wallet::generate().address().clone();
        let reward = |to: &Address| Transaction::Reward {
            recipient: to.clone(),
            amount: Amount::ONE,
        };
        let pay =
            |n: u64| Transaction::sign(&alice, &bob, Amount::ONE, Some(Nonce::new(n).unwrap()));
        let blocks = vec![
            block(1, vec![]),
            block(2, vec![reward(alice.address())]),
            block(3, vec![pay(1), reward(&bob)]),
            block(4, vec![pay(2), reward(alice.address())]),
        ];
        let hashes: Vec<BlockHash> = blocks.iter().map(Block::hash).collect();
        let mut index = ChainIndex::build(&blocks, &hashes);
        assert_eq!(index.activity(alice.address()).len(), 4);
        assert_eq!(
            index.activity(&bob),
            &[
                Spot { block: 2, tx: 0 },
                Spot { block: 2, tx: 1 },
                Spot { block: 3, tx: 0 }
            ]
        );
        let id = TransferId::of_transaction(&blocks[3].transactions[0]).unwrap();
        assert_eq!(index.transfer(&id), Some(Spot { block: 3, tx: 0 }));
        assert_eq!(index.block_of(&hashes[3]), Some(3));

        index.truncate(2, &blocks[2..], &hashes[2..]);
        assert_eq!(index, ChainIndex::build(&blocks[..2], &hashes[..2]));
        assert_eq!(index.transfer(&id), None);
        assert!(index.activity(&bob).is_empty());
    }

    #[test]
    fn a_transfer_id_reads_back_from_its_hex() {
        let wallet = Wallet::generate();
        let paid = Transaction::sign(&wallet, wallet.address(), Amount::ONE, None);
        let id = TransferId::of_transaction(&paid).unwrap();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<TransferId>().unwrap(), id);
        assert!("not hex".parse::<TransferId>().is_err());
    }
}
