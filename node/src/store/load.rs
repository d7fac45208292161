//! Reading what is stored into [`Loaded`] at start-up, in one read transaction and the pending journal: the chain's length (its blocks are read in chunks afterwards), the pool and the peers.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::arrivals::Arrivals;
use super::schema::{self, At, NetworkId, ADDRESSES, BLOCKS, PEERS, PENDING};
use super::{codec, journal, StoreError};
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

/// What opening does with a pending journal that is missing, or that it
/// cannot read or fit to the database (see `journal.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LostJournal {
    /// Refuses to open: the journal holds acknowledged transfers.
    #[default]
    Refuse,
    /// Moves it aside (`pending-E.journal.damaged`), starts an empty one and
    /// opens with the pool the database holds: the operator's choice.
    StartWithout,
}

/// Everything [`load`] read: what the node gets, and what the writer needs
/// to go on (the pool's arrival numbers, the address numbering, the journal).
pub(super) struct Stored {
    pub(super) loaded: Loaded,
    pub(super) arrivals: Arrivals,
    pub(super) encoder: codec::Encoder,
    /// The recorded epoch, whose journal `journal` is.
    pub(super) epoch: u64,
    pub(super) journal: journal::Read,
}

/// Reads the whole store in one read transaction, and the pending journal
/// of the epoch it records from `dir`; `None` for a database without tables (a new file).
pub(super) fn load(
    db: &Database,
    path: &Path,
    dir: &Path,
    expected: &NetworkId,
    lost: LostJournal,
) -> Result<Option<Stored>, StoreError> {
    let txn = db.begin_read().at(path)?;
    if txn.list_tables().at(path)?.next().is_none() {
        return Ok(None);
    }
    let stored = schema::check_meta(&txn, path, expected)?;
    let epoch = schema::journal_epoch(&txn, path)?;
    let mut decoder = codec::Decoder::new(read_addresses(&txn, path)?);
    let length = check_blocks(&txn, path, &mut decoder, stored.genesis)?;
    let unreadable = |error: &StoreError, journal: &Path| match error {
        StoreError::Corrupt { path, detail } if path == journal => {
            (lost == LostJournal::StartWithout).then(|| detail.clone())
        }
        _ => None,
    };
    let mut journal = match journal::read(dir, epoch) {
        Ok(journal) => journal,
        Err(error) => match unreadable(&error, &journal::path(dir, epoch)) {
            Some(why) => journal::set_aside(dir, epoch, &why)?,
            None => return Err(error),
        },
    };
    let (pool, arrivals) = match read_pool(&txn, path, &mut decoder, &journal) {
        Ok(read) => read,
        Err(error) => match unreadable(&error, &journal.path) {
            Some(why) => {
                journal = journal::set_aside(dir, epoch, &why)?;
                read_pool(&txn, path, &mut decoder, &journal)?
            }
            None => return Err(error),
        },
    };
    let peers = read_peers(&txn, path)?;
    let loaded = Loaded {
        length,
        pool,
        peers,
    };
    let encoder = codec::Encoder::new(decoder.into_texts());
    Ok(Some(Stored {
        loaded,
        arrivals,
        encoder,
        epoch,
        journal,
    }))
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

/// The pending pool in arrival order: the `pending` table's entries (its
/// key order) less those the journal removed, with those it added; and the
/// arrival numbers of its entries.
fn read_pool(
    txn: &ReadTransaction,
    path: &Path,
    decoder: &mut codec::Decoder,
    journal: &journal::Read,
) -> Result<(Vec<Transaction>, Arrivals), StoreError> {
    let table = schema::open_table(txn, path, PENDING)?;
    let mut pool = BTreeMap::new();
    for entry in table.iter().at(path)? {
        let (seq, bytes) = entry.at(path)?;
        let seq = seq.value();
        let tx = decoder.transaction(bytes.value()).map_err(|e| {
            StoreError::corrupt(
                path,
                format!("pending transaction {seq} is unreadable: {e}"),
            )
        })?;
        pool.insert(seq, tx);
    }
    let damaged = |detail: String| StoreError::corrupt(&journal.path, detail);
    for seq in &journal.removed {
        if pool.remove(seq).is_none() {
            return Err(damaged(format!(
                "it removes pending transaction {seq}, which is not stored"
            )));
        }
    }
    for (seq, tx) in &journal.added {
        if pool.insert(*seq, tx.clone()).is_some() {
            return Err(damaged(format!(
                "it adds pending transaction {seq}, which the database already holds"
            )));
        }
    }
    // The file an entry was read from, which an error about it names.
    let file_of = |seq: u64| {
        if journal.added.contains_key(&seq) {
            journal.path.as_path()
        } else {
            path
        }
    };
    let mut arrivals = Arrivals::starting_at(0);
    for (&seq, tx) in &pool {
        let signature = tx.signature().ok_or_else(|| {
            StoreError::corrupt(
                file_of(seq),
                format!("pending transaction {seq} is a mining reward, which is never pending"),
            )
        })?;
        arrivals.stored(seq, signature).map_err(|twice| {
            // The later entry is the one that should not be there.
            StoreError::corrupt(
                file_of(seq),
                format!(
                    "pending transaction {seq} has the same signature as pending transaction {}",
                    twice.first
                ),
            )
        })?;
    }
    Ok((pool.into_values().collect(), arrivals))
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
