//! The pending journal: an append-only file of the pool's changes since the last redb commit, one checksummed frame and one `fdatasync` per group commit.
//!
//! Why: a transfer's commit used to be a redb two-phase commit, about eight
//! 4 KiB pages and two `fdatasync`s, and on a disk those syncs were the
//! limit of ingest. A commit that only adds and removes pool entries (the
//! great majority) now appends one frame to `pending-E.log` and syncs it
//! once. Every other commit (a block, a chain replacement, the peers) goes
//! through redb and *folds* the journal in: the same redb transaction writes
//! the journal's entries into the `pending` table, removes the entries the
//! journal removed, and records the next epoch E+1 in `meta`; a new, empty
//! `pending-(E+1).log` was created and synced before that commit. So the
//! stored pool is always the `pending` table of the recorded epoch plus the
//! changes in that epoch's journal, and a crash at any step leaves exactly
//! that: before the commit the old epoch's journal still counts (the new file
//! is ignored and removed at the next open); after it the new one does.
//!
//! # File layout
//!
//! - header: [`MAGIC`], then the epoch as a little-endian `u64`;
//! - frames, one per commit: the payload's length (`u32` LE), the first 8
//!   bytes of the payload's SHA-256, the payload;
//! - a payload is records: `+`, arrival number (`u64` LE), JSON length
//!   (`u32` LE), the transaction's JSON (addresses as text: their numbers
//!   are only stored by redb commits); or `-` and an arrival number.
//!
//! A frame is written whole before its commit is acknowledged. A frame cut
//! short or failing its checksum at the end of the file (with nothing but
//! zeros after it) is a write that a crash interrupted, never acknowledged:
//! it is dropped at open. Anywhere else it is damage, and the store is refused.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{sync_dir, StoreError};
use crate::chain::Transaction;

/// The first bytes of every journal file.
const MAGIC: &[u8; 24] = b"sigchain pending log 1\n\0";
/// Header: the magic and the epoch.
const HEADER: usize = MAGIC.len() + 8;
/// Frame head: the payload's length and checksum.
const FRAME_HEAD: usize = 4 + 8;
/// A journal past this size is folded into redb at the next commit, so a
/// fold (and the journal read at open) stays bounded whatever the pool holds.
pub(super) const FOLD_AT: u64 = 8 << 20;

/// The journal file of `epoch` in the data directory `dir`.
pub(super) fn path(dir: &Path, epoch: u64) -> PathBuf {
    dir.join(format!("pending-{epoch}.log"))
}

/// One commit's records, encoded as they are appended.
#[derive(Default)]
pub(super) struct Frame {
    bytes: Vec<u8>,
}

impl Frame {
    /// Starts a new frame, keeping the buffer.
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.bytes.resize(FRAME_HEAD, 0);
    }

    /// Whether no record was added since [`Frame::clear`].
    pub(super) fn is_empty(&self) -> bool {
        self.bytes.len() <= FRAME_HEAD
    }

    /// Records `tx` entering the pool under arrival number `seq`.
    pub(super) fn add(&mut self, seq: u64, tx: &Transaction) {
        let json = serde_json::to_vec(tx).expect("a transaction serializes");
        self.bytes.push(b'+');
        self.bytes.extend_from_slice(&seq.to_le_bytes());
        let len = u32::try_from(json.len()).expect("a transaction's JSON is far below 4 GiB");
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(&json);
    }

    /// Records the entry under `seq` leaving the pool.
    pub(super) fn remove(&mut self, seq: u64) {
        self.bytes.push(b'-');
        self.bytes.extend_from_slice(&seq.to_le_bytes());
    }

    /// The whole frame, its head filled in.
    fn finish(&mut self) -> &[u8] {
        let payload = &self.bytes[FRAME_HEAD..];
        let len = u32::try_from(payload.len()).expect("a commit's frame is far below 4 GiB");
        let sum = checksum(payload);
        self.bytes[..4].copy_from_slice(&len.to_le_bytes());
        self.bytes[4..FRAME_HEAD].copy_from_slice(&sum);
        &self.bytes
    }
}

fn checksum(payload: &[u8]) -> [u8; 8] {
    let digest = Sha256::digest(payload);
    digest[..8].try_into().expect("SHA-256 has 32 bytes")
}

/// The open journal the writer appends to.
pub(super) struct Journal {
    file: File,
    path: PathBuf,
    /// Bytes in the file: where the next frame goes.
    len: u64,
}

impl Journal {
    /// Creates (or empties) the journal of `epoch` and makes it and its directory entry durable.
    pub(super) fn create(dir: &Path, epoch: u64) -> Result<Journal, StoreError> {
        let path = path(dir, epoch);
        let io = |e: std::io::Error| StoreError::io(&path, e);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        file.write_all(MAGIC).map_err(io)?;
        file.write_all(&epoch.to_le_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        sync_dir(dir)?;
        Ok(Journal {
            file,
            path,
            len: HEADER as u64,
        })
    }

    /// Opens the journal `read` came from for appending after its last whole
    /// frame, cutting off (durably) an interrupted write after it.
    pub(super) fn resume(read: &Read) -> Result<Journal, StoreError> {
        let io = |e: std::io::Error| StoreError::io(&read.path, e);
        let mut file = OpenOptions::new()
            .write(true)
            .open(&read.path)
            .map_err(io)?;
        if read.torn > 0 {
            tracing::warn!(
                file = %read.path.display(),
                bytes = read.torn,
                "dropping an interrupted write at the end of the pending journal (it was never acknowledged)"
            );
            file.set_len(read.whole).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::Start(read.whole)).map_err(io)?;
        Ok(Journal {
            file,
            path: read.path.clone(),
            len: read.whole,
        })
    }

    /// Appends `frame` and syncs it: durable when this returns `Ok`.
    pub(super) fn append(&mut self, frame: &mut Frame) -> Result<(), StoreError> {
        let bytes = frame.finish();
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| StoreError::io(&self.path, e))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// The file's size.
    pub(super) fn len(&self) -> u64 {
        self.len
    }
}

/// What a journal file holds, read whole.
#[derive(Debug, Default)]
pub(super) struct Read {
    pub(super) path: PathBuf,
    /// Entries added in this epoch and still pending, by arrival number.
    pub(super) added: BTreeMap<u64, Transaction>,
    /// Arrival numbers of entries of the `pending` table removed in this epoch.
    pub(super) removed: Vec<u64>,
    /// Bytes up to the end of the last whole frame.
    pub(super) whole: u64,
    /// Bytes of an interrupted write after it.
    pub(super) torn: u64,
}

/// Reads the journal of `epoch` in `dir`; a missing or damaged one is [`StoreError::Corrupt`].
pub(super) fn read(dir: &Path, epoch: u64) -> Result<Read, StoreError> {
    let path = path(dir, epoch);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::corrupt(
                &path,
                format!("it is missing, and the database records pending journal {epoch}"),
            ))
        }
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let corrupt = |detail: String| StoreError::corrupt(&path, detail);
    if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt(
            "it does not start with a pending journal's header".to_owned(),
        ));
    }
    let stored = u64::from_le_bytes(bytes[MAGIC.len()..HEADER].try_into().expect("8 bytes"));
    if stored != epoch {
        return Err(corrupt(format!(
            "its header names epoch {stored}, not {epoch}"
        )));
    }
    let mut read = Read {
        path: path.clone(),
        ..Read::default()
    };
    let mut at = HEADER;
    while at < bytes.len() {
        let Some(payload) = frame_at(&bytes, at) else {
            if bytes[at..].iter().all(|&b| b == 0) || frame_reaches_end(&bytes, at) {
                read.torn = (bytes.len() - at) as u64;
                break;
            }
            return Err(corrupt(format!(
                "the frame at byte {at} fails its checksum and more follows"
            )));
        };
        apply(&mut read, payload).map_err(|e| corrupt(format!("the frame at byte {at}: {e}")))?;
        at += FRAME_HEAD + payload.len();
    }
    read.whole = (bytes.len() as u64) - read.torn;
    Ok(read)
}

/// The payload of the whole, checksummed frame at `at`, if there is one.
fn frame_at(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let head = bytes.get(at..at + FRAME_HEAD)?;
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    let payload = bytes.get(at + FRAME_HEAD..at + FRAME_HEAD + len)?;
    (checksum(payload) == head[4..]).then_some(payload)
}

/// Whether the frame at `at` claims to run to (or past) the end of the file:
/// the last write, cut short or not all on disk.
fn frame_reaches_end(bytes: &[u8], at: usize) -> bool {
    let Some(head) = bytes.get(at..at + FRAME_HEAD) else {
        return true;
    };
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    at + FRAME_HEAD + len >= bytes.len()
}

/// Applies one frame's records to what was read before it.
fn apply(read: &mut Read, mut payload: &[u8]) -> Result<(), String> {
    fn take<'a>(payload: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if payload.len() < n {
            return Err("a record is cut short".to_owned());
        }
        let (taken, rest) = payload.split_at(n);
        *payload = rest;
        Ok(taken)
    }
    let number = |payload: &mut &[u8]| -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            take(payload, 8)?.try_into().expect("8 bytes"),
        ))
    };
    while let Some((&kind, rest)) = payload.split_first() {
        payload = rest;
        let seq = number(&mut payload)?;
        match kind {
            b'+' => {
                let len = u32::from_le_bytes(take(&mut payload, 4)?.try_into().expect("4 bytes"));
                let tx: Transaction = serde_json::from_slice(take(&mut payload, len as usize)?)
                    .map_err(|e| format!("pending transaction {seq} is unreadable: {e}"))?;
                if tx.signature().is_none() {
                    return Err(format!("pending transaction {seq} is a mining reward"));
                }
                if read.added.insert(seq, tx).is_some() {
                    return Err(format!("pending transaction {seq} is added twice"));
                }
            }
            b'-' => {
                if read.added.remove(&seq).is_none() {
                    read.removed.push(seq);
                }
            }
            other => return Err(format!("unknown record kind {other:#04x}")),
        }
    }
    Ok(())
}

/// Removes the journals of other epochs from `dir`: left by a fold that a
/// crash or a failure interrupted (before or after its commit).
pub(super) fn remove_others(dir: &Path, epoch: u64) -> Result<(), StoreError> {
    let entries = fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        let Some(other) = name
            .to_str()
            .and_then(|n| n.strip_prefix("pending-"))
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if other != epoch {
            fs::remove_file(entry.path()).map_err(|e| StoreError::io(&entry.path(), e))?;
        }
    }
    Ok(())
}
