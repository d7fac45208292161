//! Reading what is stored into [`Loaded`] at start-up, in one read transaction: the chain's length (its blocks are read in chunks afterwards), the pool and the peers.

use std::path::Path;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use wallet::Signature;

use super::schema::{self, At, NetworkId, ADDRESSES, BLOCKS, PEERS, POOL};
use super::{codec, StoreError};
use crate::chain::{BlockHash, Transaction};

/// What is stored, as [`Store::open`](super::Store::open) read it: not yet
/// checked by the node. The blocks stay in the store: read them with
/// [`Store::reader`](super::Store::reader).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// How many blocks the chain holds, genesis included; never 0. Their
    /// keys run from 1 to `length` without a gap and block 1 is the
    /// recorded genesis (checked here).
    pub length: u64,
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
    let length = check_blocks(&txn, path, &mut decoder, stored.genesis)?;
    let (pool, next_seq) = read_pool(&txn, path, &mut decoder)?;
    let peers = read_peers(&txn, path)?;
    let loaded = Loaded {
        length,
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

/// The chain's length, after checking without reading every block that
/// its keys run from 1 to the length (the keys are distinct and sorted, so
/// the first, the last and the count tell) and that block 1 is the
/// recorded `genesis`. Each block's own index is checked as it is read.
fn check_blocks(
    txn: &ReadTransaction,
    path: &Path,
    decoder: &mut codec::Decoder,
    genesis: BlockHash,
) -> Result<u64, StoreError> {
    let corrupt = |detail: String| StoreError::corrupt(path, detail);
    let table = schema::open_table(txn, path, BLOCKS)?;
    let count = table.len().at(path)?;
    let Some((first, value)) = table.first().at(path)? else {
        return Err(corrupt("it holds no blocks, not even genesis".to_owned()));
    };
    if first.value() != 1 {
        return Err(corrupt(format!(
            "block 1 is missing (the first stored block is {})",
            first.value()
        )));
    }
    let block = decoder
        .block(value.value())
        .map_err(|e| corrupt(format!("block 1 is unreadable: {e}")))?;
    if block.hash() != genesis {
        return Err(corrupt(format!(
            "block 1 has hash {}, not the recorded genesis {}",
            block.hash(),
            genesis
        )));
    }
    let last = table.last().at(path)?.map_or(1, |(key, _)| key.value());
    if last != count {
        return Err(corrupt(format!(
            "blocks are missing: {count} are stored, the last under index {last}"
        )));
    }
    Ok(count)
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
