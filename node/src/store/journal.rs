//! The pending journal: an append-only file of the pool's changes since the last redb commit, one checksummed frame and one `fdatasync` per group commit.
//!
//! Why: a transfer's commit used to be a redb two-phase commit, about eight
//! 4 KiB pages and two `fdatasync`s, and on a disk those syncs were the
//! limit of ingest. A commit that only adds and removes pool entries (the
//! great majority) now appends one frame to `pending-E.journal` and syncs it
//! once. Every other commit (a block, a chain replacement, the peers) goes
//! through redb and *folds* the journal in: the same redb transaction writes
//! the journal's entries into the `pending` table, removes the entries the
//! journal removed, and records the next epoch E+1 in `meta`; a new, empty
//! `pending-(E+1).journal` was created and synced before that commit. So the
//! stored pool is always the `pending` table of the recorded epoch plus the
//! changes in that epoch's journal, and a crash at any step leaves exactly
//! that: before the commit the old epoch's journal still counts (the new file
//! is ignored and removed at the next open); after it the new one does.
//!
//! # File layout
//!
//! - header: [`MAGIC`], then the epoch as a little-endian `u64`;
//! - frames, one per commit: [`FRAME_MAGIC`], the payload's length (`u32`
//!   LE), the first 8 bytes of the payload's SHA-256, the payload;
//! - a payload is records: `+`, arrival number (`u64` LE), JSON length
//!   (`u32` LE), the transaction's JSON (addresses as text: their numbers
//!   are only stored by redb commits); or `-` and an arrival number;
//! - zeros: room written ahead, [`GROW`] at a time, so that appending a
//!   frame overwrites blocks the file already has and its `fdatasync`
//!   writes no metadata (on ext4 here: 0.13 ms a sync instead of 0.21 ms).
//!
//! A frame is written whole and synced before its commit is acknowledged.
//! A crash during the write leaves some of its pages on disk and others not:
//! a frame that fails its checksum, with no whole frame anywhere after it,
//! is that write, never acknowledged, and is cut off at open (and logged).
//! A bad frame with a whole frame after it is damage, and the store is
//! refused. (Damage to the very last frame looks like an interrupted write;
//! redb's page checksums have the same limit for its last commit without
//! two-phase commit, which is why the database keeps that on.)

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{sync_dir, StoreError};
use crate::chain::Transaction;

/// The first bytes of every journal file.
const MAGIC: &[u8; 24] = b"sigchain pending log 1\n\0";
/// Header: the magic and the epoch.
const HEADER: usize = MAGIC.len() + 8;
/// The first bytes of every frame: what a reader looks for after a bad frame.
/// Bytes of 0x80 and above never occur in the JSON of a payload.
const FRAME_MAGIC: [u8; 8] = [0xf7, 0x5c, 0x9d, 0x22, 0xb1, 0x0e, 0x6a, 0xc3];
/// Frame head: the magic, the payload's length and checksum.
const FRAME_HEAD: usize = FRAME_MAGIC.len() + 4 + 8;
/// How much room (zeros) the journal writes ahead of its frames at a time.
const GROW: u64 = 2 << 20;
/// A journal past this size is folded into redb at the next commit, so a
/// fold (and the journal read at open) stays bounded whatever the pool holds.
pub(super) const FOLD_AT: u64 = 8 << 20;

/// A journal's file name is `PREFIX`, its epoch, `SUFFIX`.
const PREFIX: &str = "pending-";
const SUFFIX: &str = ".journal";
/// The suffix of store format 3 (see `migrate.rs`), which renames it.
const OLD_SUFFIX: &str = ".log";

/// The journal file of `epoch` in the data directory `dir`.
pub(super) fn path(dir: &Path, epoch: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{epoch}{SUFFIX}"))
}

/// The epoch of a journal file named `name`, under its name or the old one.
fn epoch_of(name: &str) -> Option<u64> {
    let epoch = name.strip_prefix(PREFIX)?;
    let epoch = epoch
        .strip_suffix(SUFFIX)
        .or_else(|| epoch.strip_suffix(OLD_SUFFIX))?;
    epoch.parse().ok()
}

/// Gives the journal of `epoch` its name if it still has the old one.
pub(super) fn rename_old(dir: &Path, epoch: u64) -> Result<(), StoreError> {
    let old = dir.join(format!("{PREFIX}{epoch}{OLD_SUFFIX}"));
    let new = path(dir, epoch);
    if new.exists() || !old.exists() {
        return Ok(());
    }
    fs::rename(&old, &new).map_err(|e| StoreError::io(&old, e))?;
    tracing::info!(from = %old.display(), to = %new.display(), "renamed the pending journal");
    sync_dir(dir)
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
        self.bytes.push(b'+');
        self.bytes.extend_from_slice(&seq.to_le_bytes());
        // The JSON goes straight into the frame; its length is filled in after.
        let at = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);
        serde_json::to_writer(&mut self.bytes, tx).expect("a transaction serializes");
        let len = u32::try_from(self.bytes.len() - at - 4)
            .expect("a transaction's JSON is far below 4 GiB");
        self.bytes[at..at + 4].copy_from_slice(&len.to_le_bytes());
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
        let (magic, head) = self.bytes[..FRAME_HEAD].split_at_mut(FRAME_MAGIC.len());
        magic.copy_from_slice(&FRAME_MAGIC);
        head[..4].copy_from_slice(&len.to_le_bytes());
        head[4..].copy_from_slice(&sum);
        &self.bytes
    }
}

/// Writes `room` zeros at `at` and syncs them with the file's new size.
fn grow(file: &File, at: u64, room: u64) -> std::io::Result<()> {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    let mut written = 0;
    while written < room {
        let n = (room - written).min(ZEROS.len() as u64);
        file.write_all_at(&ZEROS[..n as usize], at + written)?;
        written += n;
    }
    file.sync_data()
}

fn checksum(payload: &[u8]) -> [u8; 8] {
    let digest = Sha256::digest(payload);
    digest[..8].try_into().expect("SHA-256 has 32 bytes")
}

/// The open journal the writer appends to.
pub(super) struct Journal {
    file: File,
    path: PathBuf,
    /// The end of the last frame: where the next one goes.
    len: u64,
    /// The file's size: zeros from `len` on.
    allocated: u64,
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
            allocated: HEADER as u64,
        })
    }

    /// Opens the journal `read` came from for appending after its last whole
    /// frame, cutting off (durably) an interrupted write after it.
    pub(super) fn resume(read: &Read) -> Result<Journal, StoreError> {
        let io = |e: std::io::Error| StoreError::io(&read.path, e);
        let file = OpenOptions::new()
            .write(true)
            .open(&read.path)
            .map_err(io)?;
        let mut allocated = read.size;
        if read.torn > 0 {
            tracing::warn!(
                file = %read.path.display(),
                bytes = read.torn,
                "dropping an interrupted write at the end of the pending journal (it was never acknowledged)"
            );
            // Cut off with the room after it, which is written again as zeros.
            file.set_len(read.whole).map_err(io)?;
            file.sync_all().map_err(io)?;
            allocated = read.whole;
        }
        Ok(Journal {
            file,
            path: read.path.clone(),
            len: read.whole,
            allocated,
        })
    }

    /// Appends `frame` and syncs it: durable when this returns `Ok`.
    pub(super) fn append(&mut self, frame: &mut Frame) -> Result<(), StoreError> {
        let bytes = frame.finish();
        let end = self.len + bytes.len() as u64;
        let io = |e: std::io::Error| StoreError::io(&self.path, e);
        if end > self.allocated {
            let room = (end - self.allocated).max(GROW);
            grow(&self.file, self.allocated, room).map_err(io)?;
            self.allocated += room;
        }
        self.file
            .write_all_at(bytes, self.len)
            .and_then(|()| self.file.sync_data())
            .map_err(io)?;
        self.len = end;
        Ok(())
    }

    /// Where its frames end (room written ahead not counted).
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
    /// Bytes from there to the last byte that is not zero: an interrupted write.
    pub(super) torn: u64,
    /// The file's size.
    pub(super) size: u64,
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
            // Room written ahead, or the write a crash interrupted.
            if let Some(next) = whole_frame_after(&bytes, at) {
                return Err(corrupt(format!(
                    "the frame at byte {at} is damaged (it fails its checksum, and a whole frame follows at byte {next})"
                )));
            }
            let used = bytes
                .iter()
                .rposition(|&b| b != 0)
                .map_or(0, |last| last + 1);
            read.torn = used.saturating_sub(at) as u64;
            break;
        };
        apply(&mut read, payload).map_err(|e| corrupt(format!("the frame at byte {at}: {e}")))?;
        at += FRAME_HEAD + payload.len();
    }
    read.whole = at.min(bytes.len()) as u64;
    read.size = bytes.len() as u64;
    Ok(read)
}

/// The payload of the whole, checksummed frame at `at`, if there is one.
fn frame_at(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let head = bytes.get(at..at + FRAME_HEAD)?;
    let (magic, head) = head.split_at(FRAME_MAGIC.len());
    if magic != FRAME_MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    let payload = bytes.get(at + FRAME_HEAD..at + FRAME_HEAD + len)?;
    (checksum(payload) == head[4..]).then_some(payload)
}

/// Where the first whole frame after the bad one at `at` starts, if any.
fn whole_frame_after(bytes: &[u8], at: usize) -> Option<usize> {
    (at + 1..bytes.len().saturating_sub(FRAME_HEAD - 1))
        .filter(|&next| bytes[next..].starts_with(&FRAME_MAGIC))
        .find(|&next| frame_at(bytes, next).is_some())
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

/// Whether `path` names a pending journal (under its name or the old one).
pub(super) fn is_journal(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .and_then(epoch_of)
        .is_some()
}

/// Moves the journal of `epoch`, which could not be read (`why`), aside to a
/// free name ending in `.damaged` (never overwriting one), and starts an empty
/// journal of the same epoch in its place; returns what that one holds.
/// The changes the old one held are no longer part of the pool.
pub(super) fn set_aside(dir: &Path, epoch: u64, why: &str) -> Result<Read, StoreError> {
    let path = path(dir, epoch);
    let kept = if path.exists() {
        let aside = (1..)
            .map(|n| match n {
                1 => path.with_extension("journal.damaged"),
                n => path.with_extension(format!("journal.damaged-{n}")),
            })
            .find(|aside| !aside.exists())
            .expect("some name is free");
        fs::rename(&path, &aside).map_err(|e| StoreError::io(&path, e))?;
        aside.display().to_string()
    } else {
        "nothing: it is missing".to_owned()
    };
    Journal::create(dir, epoch)?;
    tracing::warn!(
        journal = %path.display(),
        kept = %kept,
        error = why,
        "started without the pending journal, as asked: the pool's changes it held since the database was last written are dropped"
    );
    read(dir, epoch)
}

/// Removes the journals of other epochs from `dir`: left by a fold that a
/// crash or a failure interrupted (before or after its commit).
pub(super) fn remove_others(dir: &Path, epoch: u64) -> Result<(), StoreError> {
    let entries = fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        let Some(other) = name.to_str().and_then(epoch_of) else {
            continue;
        };
        if other != epoch {
            fs::remove_file(entry.path()).map_err(|e| StoreError::io(&entry.path(), e))?;
        }
    }
    Ok(())
}
