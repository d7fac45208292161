//! Reading what is committed beside the writer: a [`StoreReader`] is a consistent snapshot (one redb read transaction) of the live database file, decoding blocks with an address book the writer shares.
//!
//! The database handle lives in [`Live`], shared by the writer and every
//! [`Store`](super::Store) handle. The writer owns its changes: it swaps the
//! handle out when a commit fails and in again when it reopens the file, so a
//! reader always starts on the file as it is now. A reader holds only its
//! read transaction, never the handle, so the writer can close and reopen the
//! file at any time; a snapshot that outlives a close ends with an error.
//!
//! The address book maps each stored address number to the parsed address,
//! so reading a block does not parse an RSA key again. It only grows: the
//! numbers of committed addresses never change (a failed commit's numbers
//! are given again, but they were never in the book). The writer extends it
//! after each commit, so a snapshot taken in between may meet a number the
//! book lacks; it then reads that address from its own snapshot.

use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard};

use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable};
use wallet::Address;

use super::codec::{self, AddressSource, KnownAddresses};
use super::schema::{self, At, ADDRESSES, BLOCKS};
use super::StoreError;
use crate::chain::Block;

/// The live database handle and the address book, shared by the writer and the readers.
pub(super) struct Live {
    /// `None` from a failed commit until the writer opens the file again, and after it exits.
    db: RwLock<Option<Database>>,
    book: Arc<AddressBook>,
}

impl Live {
    /// Shares `db`, whose stored addresses are `texts` (in number order).
    pub(super) fn new(db: Database, texts: Vec<String>) -> Live {
        let book = AddressBook::default();
        book.catch_up(texts);
        Live {
            db: RwLock::new(Some(db)),
            book: Arc::new(book),
        }
    }

    /// The handle, read-locked: the writer uses it for its transactions, a
    /// reader only to begin one.
    pub(super) fn database(&self) -> RwLockReadGuard<'_, Option<Database>> {
        // Only ever replaced whole, so a panic elsewhere cannot leave it half written.
        self.db
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the handle; the old one is closed before this returns (no
    /// reader holds it), so the file can be opened again at once.
    pub(super) fn replace(&self, db: Option<Database>) {
        let old = std::mem::replace(
            &mut *self
                .db
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            db,
        );
        drop(old);
    }

    /// The address book.
    pub(super) fn book(&self) -> &AddressBook {
        &self.book
    }
}

/// Stored address number → parsed address; append-only.
#[derive(Default)]
pub(super) struct AddressBook {
    entries: RwLock<Vec<Entry>>,
}

/// One address: parsed when committed by this process, else on first use from its stored text.
struct Entry {
    text: Box<str>,
    parsed: OnceLock<Address>,
}

impl AddressBook {
    /// How many addresses the book holds.
    pub(super) fn len(&self) -> usize {
        self.entries().len()
    }

    /// Appends the addresses a commit stored; they are numbered from [`AddressBook::len`].
    pub(super) fn append(&self, added: Vec<Address>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.extend(added.into_iter().map(|address| Entry {
            text: Box::default(),
            parsed: OnceLock::from(address),
        }));
    }

    /// Appends the stored texts past what the book holds (`texts` are all the
    /// stored addresses in number order, as a reload found them).
    pub(super) fn catch_up(&self, texts: Vec<String>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let known = entries.len();
        entries.extend(texts.into_iter().skip(known).map(|text| Entry {
            text: text.into_boxed_str(),
            parsed: OnceLock::new(),
        }));
    }

    /// The address numbered `id`, if the book has it yet.
    fn get(&self, id: u32) -> Option<Result<Address, String>> {
        let entries = self.entries();
        let entry = entries.get(id as usize)?;
        if let Some(address) = entry.parsed.get() {
            return Some(Ok(address.clone()));
        }
        Some(codec::parse_address(id, &entry.text).inspect(|address| {
            // Two readers may parse it at once; either result is the same address.
            let _ = entry.parsed.set(address.clone());
        }))
    }

    fn entries(&self) -> RwLockReadGuard<'_, Vec<Entry>> {
        // Only appended to whole entries, so a panic cannot leave one half written.
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// A consistent snapshot of what is committed: the chain as it was when
/// [`Store::reader`](super::Store::reader) was called, whatever the writer
/// commits meanwhile. `Send`, so it can move to a blocking thread.
///
/// A long-lived reader keeps the pages of its snapshot from being reused, so
/// the file may grow while it lives.
pub struct StoreReader {
    path: Arc<Path>,
    book: Arc<AddressBook>,
    blocks: ReadOnlyTable<u64, &'static [u8]>,
    addresses: ReadOnlyTable<u32, &'static str>,
    len: u64,
}

impl StoreReader {
    /// Begins a read transaction on the live database, or fails with
    /// `closed` while the writer has it closed (after a failed commit).
    pub(super) fn open(
        live: &Live,
        path: Arc<Path>,
        closed: impl FnOnce() -> StoreError,
    ) -> Result<StoreReader, StoreError> {
        let txn = {
            let db = live.database();
            let db = db.as_ref().ok_or_else(closed)?;
            db.begin_read().at(&path)?
        };
        let blocks = schema::open_table(&txn, &path, BLOCKS)?;
        let addresses = schema::open_table(&txn, &path, ADDRESSES)?;
        // Blocks are stored under 1, 2, … without gaps (checked at open, kept
        // by the writer), so the last index is the length.
        let len = blocks
            .last()
            .at(&path)?
            .map_or(0, |(index, _)| index.value());
        Ok(StoreReader {
            path,
            book: live.book.clone(),
            blocks,
            addresses,
            len,
        })
    }

    /// How many blocks are committed (genesis is block 1, the tip block `len`).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no block is committed (never, for a store that opened: genesis is always there).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block at 1-based `index`, `None` past the tip (or for 0).
    pub fn block(&self, index: u64) -> Result<Option<Block>, StoreError> {
        let Some(stored) = self.blocks.get(index).at(&self.path)? else {
            return Ok(None);
        };
        self.decode(index, stored.value()).map(Some)
    }

    /// The blocks with indexes `from..to_exclusive` that exist (none past the
    /// tip), in order. A missing or unreadable block ends the iteration with
    /// its error.
    pub fn blocks(
        &self,
        from: u64,
        to_exclusive: u64,
    ) -> impl Iterator<Item = Result<Block, StoreError>> + '_ {
        self.entries(from, to_exclusive, |index, bytes| self.decode(index, bytes))
    }

    /// The same blocks as [`StoreReader::blocks`], in their stored form, to be
    /// decoded elsewhere by a [`StoreReader::decoder`] (a restore decodes on
    /// every core while this reads on).
    pub fn stored_blocks(
        &self,
        from: u64,
        to_exclusive: u64,
    ) -> impl Iterator<Item = Result<StoredBytes, StoreError>> + '_ {
        self.entries(from, to_exclusive, |index, bytes| {
            Ok(StoredBytes {
                index,
                bytes: bytes.to_vec(),
            })
        })
    }

    /// The entries `from..to_exclusive` of the blocks table, each given to
    /// `read` with its index; a missing entry or an error ends the iteration.
    fn entries<'r, T>(
        &'r self,
        from: u64,
        to_exclusive: u64,
        mut read: impl FnMut(u64, &[u8]) -> Result<T, StoreError> + 'r,
    ) -> impl Iterator<Item = Result<T, StoreError>> + 'r {
        let from = from.max(1);
        let end = to_exclusive.min(self.len.saturating_add(1));
        let range = (from < end).then(|| self.blocks.range(from..end).at(&self.path));
        let mut range = match range {
            None => None,
            Some(Ok(range)) => Some(range),
            Some(Err(e)) => return Blocks::Failed(Some(e)),
        };
        let mut next = from;
        Blocks::Reading(std::iter::from_fn(move || {
            let entry = match range.as_mut()?.next() {
                Some(entry) => entry,
                None if next < end => {
                    range = None;
                    return Some(Err(self.missing(next)));
                }
                None => return None,
            };
            let result = entry.at(&self.path).and_then(|(key, value)| {
                if key.value() != next {
                    return Err(self.missing(next));
                }
                read(next, value.value())
            });
            if result.is_err() {
                range = None;
            }
            next += 1;
            Some(result)
        }))
    }

    fn missing(&self, index: u64) -> StoreError {
        StoreError::corrupt(&self.path, format!("block {index} is missing"))
    }

    /// A decoder for blocks read by [`StoreReader::stored_blocks`], for one thread.
    pub fn decoder(&self) -> BlockDecoder<'_> {
        BlockDecoder {
            reader: self,
            known: KnownAddresses::default(),
        }
    }

    /// Decodes the block stored under `index`.
    fn decode(&self, index: u64, bytes: &[u8]) -> Result<Block, StoreError> {
        self.decode_with(index, bytes, &mut Lookup(self))
    }

    fn decode_with(
        &self,
        index: u64,
        bytes: &[u8],
        addresses: &mut impl AddressSource,
    ) -> Result<Block, StoreError> {
        let corrupt = |detail: String| StoreError::corrupt(&self.path, detail);
        let block = codec::decode_block(bytes, addresses)
            .map_err(|e| corrupt(format!("block {index} is unreadable: {e}")))?;
        if block.index != index {
            return Err(corrupt(format!(
                "block {index} is stored with index {} inside",
                block.index
            )));
        }
        Ok(block)
    }
}

/// A block's stored bytes, not yet decoded.
pub struct StoredBytes {
    index: u64,
    bytes: Vec<u8>,
}

/// Decodes stored blocks on one thread, keeping the addresses it has looked
/// up: a restore decodes a million blocks on every core, and the shared
/// address book's lock would be taken three times a block.
pub struct BlockDecoder<'r> {
    reader: &'r StoreReader,
    known: KnownAddresses,
}

impl BlockDecoder<'_> {
    /// The block `stored` holds.
    pub fn decode(&mut self, stored: &StoredBytes) -> Result<Block, StoreError> {
        let reader = self.reader;
        reader.decode_with(stored.index, &stored.bytes, self)
    }
}

impl AddressSource for BlockDecoder<'_> {
    fn address(&mut self, id: u32) -> Result<Address, String> {
        let reader = self.reader;
        self.known.get_or_look_up(id, || Lookup(reader).address(id))
    }
}

/// The iterator [`StoreReader::entries`] returns: an error before the first entry, or the entries.
enum Blocks<I> {
    Failed(Option<StoreError>),
    Reading(I),
}

impl<T, I: Iterator<Item = Result<T, StoreError>>> Iterator for Blocks<I> {
    type Item = Result<T, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Blocks::Failed(error) => error.take().map(Err),
            Blocks::Reading(blocks) => blocks.next(),
        }
    }
}

/// A reader's addresses: the shared book, else its own snapshot's table.
struct Lookup<'r>(&'r StoreReader);

impl AddressSource for Lookup<'_> {
    fn address(&mut self, id: u32) -> Result<Address, String> {
        if let Some(found) = self.0.book.get(id) {
            return found;
        }
        // Committed after the book was last extended: rare, so not cached.
        let stored = self
            .0
            .addresses
            .get(id)
            .map_err(|e| format!("address {id} cannot be read: {e}"))?
            .ok_or_else(|| format!("address {id} is not in the addresses table"))?;
        codec::parse_address(id, stored.value())
    }
}

#[cfg(test)]
mod tests;
