//! Reading everything stored into [`Loaded`] at start-up, in one read transaction, checking each entry's place and decoding it.

use std::path::Path;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use wallet::Signature;

use super::schema::{self, At, NetworkId, ADDRESSES, BLOCKS, PEERS, POOL};
use super::{codec, StoreError};
use crate::chain::{Block, BlockHash, Transaction};

/// Everything stored, as [`Store::open`](super::Store::open) read it: not yet checked by the node.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The chain, genesis first; never empty.
    pub blocks: Vec<Block>,
    /// The pending pool, in arrival order.
    pub pool: Vec<Transaction>,
    /// The peer list, in the order it was given to [`Op::SetPeers`](super::Op::SetPeers).
    pub peers: Vec<String>,
}

/// Reads the whole store in one read transaction, with the next pool arrival
/// number and the address numbering; `None` for a database without tables (a new file).
pub(super) fn load(
    db: &Database,
    path: &Path,
    expected: &NetworkId,
) -> Result<Option<(Loaded, u64, codec::Encoder)>, StoreError> {
    let txn = db.begin_read().at(path)?;
    if txn.list_tables().at(path)?.next().is_none() {
        return Ok(None);
    }
    let stored = schema::check_meta(&txn, path, expected)?;
    let mut decoder = codec::Decoder::new(read_addresses(&txn, path)?);
    let blocks = read_blocks(&txn, path, &mut decoder, stored.genesis)?;
    let (pool, next_seq) = read_pool(&txn, path, &mut decoder)?;
    let peers = read_peers(&txn, path)?;
    let loaded = Loaded {
        blocks,
        pool,
        peers,
    };
    let encoder = codec::Encoder::new(decoder.into_texts());
    Ok(Some((loaded, next_seq, encoder)))
}

/// The address texts, in number order; a gap in the numbers is damage.
fn read_addresses(txn: &ReadTransaction, path: &Path) -> Result<Vec<String>, StoreError> {
    let table = schema::open_table(txn, path, ADDRESSES)?;
    let mut texts = Vec::new();
    for entry in table.iter().at(path)? {
        let (id, text) = entry.at(path)?;
        if id.value() as usize != texts.len() {
            return Err(StoreError::corrupt(
                path,
                format!(
                    "address {} is missing (the next stored address is {})",
                    texts.len(),
                    id.value()
                ),
            ));
        }
        texts.push(text.value().to_owned());
    }
    Ok(texts)
}

/// The chain, genesis first: indexes without gaps, each block stored under its
/// own index, and block 1 hashing to the recorded `genesis`.
fn read_blocks(
    txn: &ReadTransaction,
    path: &Path,
    decoder: &mut codec::Decoder,
    genesis: BlockHash,
) -> Result<Vec<Block>, StoreError> {
    let corrupt = |detail: String| StoreError::corrupt(path, detail);
    let table = schema::open_table(txn, path, BLOCKS)?;
    let count = table.len().at(path)?;
    let mut blocks = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for entry in table.iter().at(path)? {
        let (key, value) = entry.at(path)?;
        let index = key.value();
        let wanted = blocks.len() as u64 + 1;
        if index != wanted {
            return Err(corrupt(format!(
                "block {wanted} is missing (the next stored block is {index})"
            )));
        }
        let block = decoder
            .block(value.value())
            .map_err(|e| corrupt(format!("block {index} is unreadable: {e}")))?;
        if block.index != index {
            return Err(corrupt(format!(
                "block {index} is stored with index {} inside",
                block.index
            )));
        }
        blocks.push(block);
    }
    match blocks.first() {
        None => return Err(corrupt("it holds no blocks, not even genesis".to_owned())),
        Some(first) if first.hash() != genesis => {
            return Err(corrupt(format!(
                "block 1 has hash {}, not the recorded genesis {}",
                first.hash(),
                genesis
            )))
        }
        Some(_) => {}
    }
    Ok(blocks)
}

/// The pending pool in arrival order, and the arrival number the next entry gets.
fn read_pool(
    txn: &ReadTransaction,
    path: &Path,
    decoder: &mut codec::Decoder,
) -> Result<(Vec<Transaction>, u64), StoreError> {
    let table = schema::open_table(txn, path, POOL)?;
    let mut pool = Vec::new();
    for entry in table.iter().at(path)? {
        let (key, value) = entry.at(path)?;
        let (seq, bytes) = value.value();
        let unreadable = |e: String| {
            let key = key.value();
            let head = &key[..key.len().min(16)];
            StoreError::corrupt(
                path,
                format!("pending transaction {head}… is unreadable: {e}"),
            )
        };
        let tx = decoder.transaction(bytes).map_err(unreadable)?;
        if tx.signature().map(Signature::as_str) != Some(key.value()) {
            return Err(unreadable(
                "it is stored under another signature".to_owned(),
            ));
        }
        pool.push((seq, tx));
    }
    pool.sort_by_key(|(seq, _)| *seq);
    let next_seq = pool.last().map_or(0, |(seq, _)| seq + 1);
    Ok((pool.into_iter().map(|(_, tx)| tx).collect(), next_seq))
}

/// The peer list, in the order it was registered.
fn read_peers(txn: &ReadTransaction, path: &Path) -> Result<Vec<String>, StoreError> {
    let table = schema::open_table(txn, path, PEERS)?;
    let mut peers: Vec<(u64, String)> = table
        .iter()
        .at(path)?
        .map(|entry| entry.map(|(key, at)| (at.value(), key.value().to_owned())))
        .collect::<Result<_, _>>()
        .at(path)?;
    peers.sort();
    Ok(peers.into_iter().map(|(_, peer)| peer).collect())
}
