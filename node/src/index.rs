//! `ChainIndex`: the lookups the explorer needs (block by hash, transfer by id, an address's transfers), kept compactly in memory beside the chain's hashes.
//!
//! The index is derived data: it is built from the blocks when the state is
//! restored and changed only where the chain changes (a mined block, an
//! adopted chain), so it can never disagree with the chain across restarts
//! or adoptions, and the store needs no new table.

use foldhash::{HashMap, HashMapExt as _};
use std::collections::hash_map::Entry;
use std::fmt;
use std::str::FromStr;

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
        let mut id = [0u8; 16];
        id.copy_from_slice(&signature.digest()[..16]);
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
    pub block: u32,
    /// Position of the transaction in the block.
    pub tx: u32,
}

/// Block positions by the first 4 bytes of a key (a block hash, a transfer
/// id): 8 bytes an entry instead of the key's 32 or 16 and a position. Keys
/// share a prefix by chance (about 120 pairs among a million keys), so a
/// lookup gives candidates that the caller checks against the full key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PrefixIndex {
    /// The first position stored under each prefix.
    first: HashMap<u32, u32>,
    /// Later positions under a prefix already taken, in chain order.
    more: HashMap<u32, Vec<u32>>,
}

fn prefix(key: &[u8]) -> u32 {
    u32::from_be_bytes(key[..4].try_into().expect("keys are at least 4 bytes"))
}

impl PrefixIndex {
    fn with_capacity(capacity: usize) -> Self {
        PrefixIndex {
            first: HashMap::with_capacity(capacity),
            more: HashMap::new(),
        }
    }

    /// Adds `position` under `key`'s prefix; positions come in chain order.
    fn insert(&mut self, key: &[u8], position: u32) {
        match self.first.entry(prefix(key)) {
            Entry::Vacant(slot) => {
                slot.insert(position);
            }
            Entry::Occupied(taken) if *taken.get() == position => {}
            Entry::Occupied(taken) => self.more.entry(*taken.key()).or_default().push(position),
        }
    }

    /// The positions that may hold `key`, oldest first.
    fn candidates(&self, key: &[u8]) -> impl Iterator<Item = u32> + '_ {
        let at = prefix(key);
        self.first
            .get(&at)
            .into_iter()
            .chain(self.more.get(&at).into_iter().flatten())
            .copied()
    }

    /// Forgets the positions from `keep` on under `key`'s prefix.
    fn truncate(&mut self, key: &[u8], keep: u32) {
        let at = prefix(key);
        // Positions under one prefix are in chain order, `first` the oldest.
        if self.first.get(&at).is_some_and(|p| *p >= keep) {
            self.first.remove(&at);
            self.more.remove(&at);
        } else if let Some(later) = self.more.get_mut(&at) {
            later.retain(|p| *p < keep);
            if later.is_empty() {
                self.more.remove(&at);
            }
        }
    }
}

/// Block positions by hash, transfers by id, and each address's
/// transactions in chain order: about 40 bytes a block with one transfer,
/// the blocks themselves staying in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainIndex {
    by_hash: PrefixIndex,
    by_transfer: PrefixIndex,
    by_address: HashMap<Address, Vec<Spot>>,
}

fn position(position: usize) -> u32 {
    u32::try_from(position).expect("fewer than 4 billion blocks")
}

impl ChainIndex {
    /// An empty index with room for `blocks` blocks.
    pub fn with_capacity(blocks: usize) -> Self {
        ChainIndex {
            by_hash: PrefixIndex::with_capacity(blocks),
            by_transfer: PrefixIndex::with_capacity(blocks),
            by_address: HashMap::new(),
        }
    }

    /// The index of `blocks`, whose hashes are `hashes` (same order).
    pub fn build(blocks: &[Block], hashes: &[BlockHash]) -> Self {
        let mut index = ChainIndex::with_capacity(blocks.len());
        for (position, (block, hash)) in blocks.iter().zip(hashes).enumerate() {
            index.append(position, block, hash);
        }
        index
    }

    /// Adds the block at `position`, which must be the next one.
    pub fn append(&mut self, at: usize, block: &Block, hash: &BlockHash) {
        let at = position(at);
        self.by_hash.insert(&hash.0, at);
        for (tx, transaction) in block.transactions.iter().enumerate() {
            let spot = Spot {
                block: at,
                tx: u32::try_from(tx).expect("fewer than 4 billion transactions in a block"),
            };
            if let Some(id) = TransferId::of_transaction(transaction) {
                self.by_transfer.insert(&id.0, at);
            }
            let recipient = transaction.recipient();
            self.list(recipient, spot);
            // A payment to oneself is listed once.
            if let Some(sender) = transaction.sender().filter(|s| *s != recipient) {
                self.list(sender, spot);
            }
        }
    }

    /// Adds `spot` to `address`'s list (cloning the address only for a new list).
    fn list(&mut self, address: &Address, spot: Spot) {
        match self.by_address.get_mut(address) {
            Some(spots) => spots.push(spot),
            None => {
                self.by_address.insert(address.clone(), vec![spot]);
            }
        }
    }

    /// Removes the blocks from position `keep` on: `removed` and their
    /// `hashes`, the chain's tail being abandoned. Costs the size of the tail.
    pub fn truncate(&mut self, keep: usize, removed: &[Block], hashes: &[BlockHash]) {
        let keep = position(keep);
        for hash in hashes {
            self.by_hash.truncate(&hash.0, keep);
        }
        for transaction in removed.iter().flat_map(|b| &b.transactions) {
            if let Some(id) = TransferId::of_transaction(transaction) {
                self.by_transfer.truncate(&id.0, keep);
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

    /// The position of the block with this hash, among the chain's `hashes`.
    pub fn block_of(&self, hash: &BlockHash, hashes: &[BlockHash]) -> Option<usize> {
        self.by_hash
            .candidates(&hash.0)
            .map(|p| p as usize)
            .find(|p| hashes.get(*p) == Some(hash))
    }

    /// The positions of the blocks that may hold the transfer with this id,
    /// oldest first: the caller finds it in them (see [`TransferId::of_transaction`]).
    pub fn transfer_candidates(&self, id: &TransferId) -> Vec<usize> {
        self.by_transfer
            .candidates(&id.0)
            .map(|p| p as usize)
            .collect()
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
        assert_eq!(index.transfer_candidates(&id), vec![3]);
        assert_eq!(index.block_of(&hashes[3], &hashes), Some(3));

        index.truncate(2, &blocks[2..], &hashes[2..]);
        assert_eq!(index, ChainIndex::build(&blocks[..2], &hashes[..2]));
        assert!(index.transfer_candidates(&id).is_empty());
        assert_eq!(index.block_of(&hashes[3], &hashes[..2]), None);
        assert!(index.activity(&bob).is_empty());
    }

    #[test]
    fn keys_sharing_a_prefix_are_all_found_and_truncated_in_order() {
        let key = |first: u8, last: u8| {
            let mut key = [first; 32];
            key[31] = last;
            key
        };
        let mut index = PrefixIndex::default();
        // Three keys with one 4-byte prefix, one with another.
        index.insert(&key(1, 0), 4);
        index.insert(&key(1, 1), 9);
        index.insert(&key(2, 0), 10);
        index.insert(&key(1, 2), 12);
        assert_eq!(index.candidates(&key(1, 7)).collect::<Vec<_>>(), [4, 9, 12]);
        assert_eq!(index.candidates(&key(2, 7)).collect::<Vec<_>>(), [10]);
        assert_eq!(index.candidates(&key(3, 0)).count(), 0);

        // Truncating drops the newer positions only, leaving the same index
        // as inserting the older keys alone.
        let mut expected = PrefixIndex::default();
        expected.insert(&key(1, 0), 4);
        expected.insert(&key(1, 1), 9);
        let mut truncated = index.clone();
        for (first, last) in [(1, 2), (2, 0)] {
            truncated.truncate(&key(first, last), 10);
        }
        assert_eq!(truncated, expected);
        for (first, last) in [(1, 0), (1, 1)] {
            truncated.truncate(&key(first, last), 4);
        }
        assert_eq!(truncated, PrefixIndex::default());
    }

    #[test]
    fn a_lookup_by_hash_checks_the_whole_hash() {
        let hashes = [BlockHash([7; 32]), BlockHash([8; 32])];
        let mut index = ChainIndex::default();
        index.by_hash.insert(&hashes[0].0, 0);
        index.by_hash.insert(&hashes[1].0, 1);
        let mut same_prefix = [7; 32];
        same_prefix[20] = 0;
        assert_eq!(index.block_of(&hashes[1], &hashes), Some(1));
        assert_eq!(index.block_of(&BlockHash(same_prefix), &hashes), None);
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
