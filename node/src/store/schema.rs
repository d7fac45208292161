//! What `chain.redb` holds: the table definitions, the format number and network recorded in `meta`, creating a new store, and checking an existing one is ours.

use std::path::Path;

use redb::{
    Database, DatabaseError, ReadOnlyTable, ReadTransaction, TableDefinition, TableHandle,
    WriteTransaction,
};

use super::codec;
use super::StoreError;
use crate::chain::{Block, BlockHash};

/// The layout of the tables and files; a file recording another number is
/// refused, except formats 1 to 3, which are upgraded at open (see `migrate.rs`).
pub const FORMAT_VERSION: u32 = 4;
/// The `meta` field naming the epoch of the pending journal that goes with
/// the `pending` table (see `journal.rs`).
pub(super) const JOURNAL_EPOCH: &str = "journal";
/// redb's page cache. Its default (1 GiB) would keep every page read at
/// start-up in memory (66 MiB at 100,000 blocks); the node keeps the chain in
/// its own structures and the writer only touches the tip of each table.
const CACHE_BYTES: usize = 4 << 20;

pub(super) const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
pub(super) const ADDRESSES: TableDefinition<u32, &str> = TableDefinition::new("addresses");
pub(super) const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
pub(super) const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("pending");
pub(super) const PEERS: TableDefinition<&str, u64> = TableDefinition::new("peers");

/// What network a data directory belongs to: a node refuses a store made for another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkId {
    /// The hash of the configured genesis block.
    pub genesis: BlockHash,
    /// The configured proof-of-work difficulty.
    pub difficulty: u32,
}

/// Names the database file in a redb failure, so every redb call converts its error the same way.
pub(super) trait At<T> {
    /// Turns a redb error into a [`StoreError`] about the file at `path`.
    fn at(self, path: &Path) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> At<T> for Result<T, E> {
    fn at(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::redb(path, e))
    }
}

/// Opens the database file at `path` in `dir`, initializing a missing or empty
/// one, and verifies the checksums of the whole file.
pub(super) fn open_database(dir: &Path, path: &Path) -> Result<Database, StoreError> {
    Database::builder()
        .set_cache_size(CACHE_BYTES)
        .set_check_integrity_on_open(true)
        // Opens an existing file, or initializes a missing or empty one;
        // anything else that is not a redb database is an error.
        .create(path)
        .map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                dir: dir.to_owned(),
                lock: path.to_path_buf(),
                holder: None,
            },
            other => StoreError::redb(path, other),
        })
}

/// Writes the tables, the network id and genesis into a new store; returns the address numbering.
pub(super) fn initialize(
    db: &Database,
    path: &Path,
    network: &NetworkId,
    genesis: &Block,
) -> Result<codec::Encoder, StoreError> {
    let mut encoder = codec::Encoder::default();
    let mut txn = db.begin_write().at(path)?;
    txn.set_two_phase_commit(true);
    {
        let mut meta = txn.open_table(META).at(path)?;
        for (key, value) in [
            ("format", FORMAT_VERSION.to_string()),
            ("genesis", network.genesis.to_hex()),
            ("difficulty", network.difficulty.to_string()),
            (JOURNAL_EPOCH, "0".to_owned()),
        ] {
            meta.insert(key, value.as_str()).at(path)?;
        }
        let mut blocks = txn.open_table(BLOCKS).at(path)?;
        blocks
            .insert(genesis.index, encoder.block(genesis).as_slice())
            .at(path)?;
        store_addresses(&txn, &encoder, path)?;
        txn.open_table(PENDING).at(path)?;
        txn.open_table(PEERS).at(path)?;
    }
    txn.commit().at(path)?;
    encoder.committed();
    Ok(encoder)
}

/// Writes the addresses numbered for this commit's entries (the table always exists, maybe empty).
pub(super) fn store_addresses(
    txn: &WriteTransaction,
    encoder: &codec::Encoder,
    path: &Path,
) -> Result<(), StoreError> {
    let mut addresses = txn.open_table(ADDRESSES).at(path)?;
    for (id, text) in encoder.unstored() {
        addresses.insert(*id, text.as_str()).at(path)?;
    }
    Ok(())
}

/// Opens one of the store's tables for reading; a missing table means the file is not (or no longer) a sigchain store.
pub(super) fn open_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    path: &Path,
    table: TableDefinition<K, V>,
) -> Result<ReadOnlyTable<K, V>, StoreError> {
    txn.open_table(table).map_err(|e| match e {
        redb::TableError::TableDoesNotExist(_) => StoreError::corrupt(
            path,
            format!(
                "it has no {} table; it is not a sigchain store, or was damaged",
                table.name()
            ),
        ),
        other => StoreError::redb(path, other),
    })
}

/// Checks the `meta` table: the format this version reads, then the network
/// the node is configured for. Returns the recorded network (equal to `expected`).
pub(super) fn check_meta(
    txn: &ReadTransaction,
    path: &Path,
    expected: &NetworkId,
) -> Result<NetworkId, StoreError> {
    let format = stored_format(txn, path)?;
    if format != FORMAT_VERSION.to_string() {
        return Err(StoreError::Format {
            path: path.to_owned(),
            found: format,
            supported: FORMAT_VERSION,
        });
    }
    check_network(txn, path, expected)
}

/// The epoch of the pending journal recorded in `meta`.
pub(super) fn journal_epoch(txn: &ReadTransaction, path: &Path) -> Result<u64, StoreError> {
    meta_field(&open_table(txn, path, META)?, path, JOURNAL_EPOCH)?
        .parse()
        .map_err(|e| {
            StoreError::corrupt(
                path,
                format!("the recorded journal epoch is unreadable: {e}"),
            )
        })
}

/// The format number recorded in `meta`, as text.
pub(super) fn stored_format(txn: &ReadTransaction, path: &Path) -> Result<String, StoreError> {
    meta_field(&open_table(txn, path, META)?, path, "format")
}

/// Checks that `meta` records the network the node is configured for; returns it.
pub(super) fn check_network(
    txn: &ReadTransaction,
    path: &Path,
    expected: &NetworkId,
) -> Result<NetworkId, StoreError> {
    let corrupt = |detail: String| StoreError::corrupt(path, detail);
    let meta = open_table(txn, path, META)?;
    let stored = NetworkId {
        genesis: meta_field(&meta, path, "genesis")?
            .parse()
            .map_err(|e| corrupt(format!("the recorded genesis hash is unreadable: {e}")))?,
        difficulty: meta_field(&meta, path, "difficulty")?
            .parse()
            .map_err(|e| corrupt(format!("the recorded difficulty is unreadable: {e}")))?,
    };
    if stored != *expected {
        return Err(StoreError::WrongNetwork {
            path: path.to_owned(),
            stored,
            expected: *expected,
        });
    }
    Ok(stored)
}

/// One field of `meta`; a missing one is damage.
fn meta_field(
    meta: &ReadOnlyTable<&'static str, &'static str>,
    path: &Path,
    key: &str,
) -> Result<String, StoreError> {
    meta.get(key)
        .at(path)?
        .map(|v| v.value().to_owned())
        .ok_or_else(|| StoreError::corrupt(path, format!("the meta table has no {key}")))
}
