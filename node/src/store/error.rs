//! `StoreError`: every way opening, loading or writing the data directory can fail, each naming the file.

use std::fmt;
use std::path::{Path, PathBuf};

use super::NetworkId;

/// What went wrong with the data directory. Every variant names the file it is about,
/// so that the node's one-line start-up error tells the operator where to look.
///
/// The error is `Clone` because one failed group commit is reported to every
/// submitter in the group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The file or directory could not be created, opened, read or written.
    #[error("{}: {detail}", path.display())]
    Io { path: PathBuf, detail: String },
    /// Another running node (or another `Store` in this process) holds the data directory.
    #[error("{} is in use by another running node ({} is locked{})", dir.display(), lock.display(), holder.as_deref().map(|pid| format!(" by process {pid}")).unwrap_or_default())]
    InUse {
        dir: PathBuf,
        lock: PathBuf,
        /// The process id written into the lock file by the holder, if readable.
        holder: Option<String>,
    },
    /// The file is not a redb database, or redb or the store found damaged contents.
    #[error("{} is unreadable or corrupted: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// The store was made for another genesis block or difficulty.
    #[error("{} belongs to another network: genesis {} difficulty {}, this node is configured for genesis {} difficulty {}", path.display(), stored.genesis, stored.difficulty, expected.genesis, expected.difficulty)]
    WrongNetwork {
        path: PathBuf,
        stored: NetworkId,
        expected: NetworkId,
    },
    /// The store was written in a layout this version does not read.
    #[error("{} uses store format {found}; this node reads format {supported}", path.display())]
    Format {
        path: PathBuf,
        found: String,
        supported: u32,
    },
    /// A submitted request does not fit the stored state (a caller bug); nothing of it was written.
    #[error("{}: refused to write: {detail}", path.display())]
    Rejected { path: PathBuf, detail: String },
    /// A commit failed and writes are refused until [`Store::probe`](super::Store::probe)
    /// finds the disk usable again; `detail` is that failure.
    #[error("{}: writes are refused until the disk recovers; a commit failed: {detail}", path.display())]
    Degraded { path: PathBuf, detail: String },
    /// The background writer is gone (it panicked); the request's fate is unknown.
    #[error("{}: the store's writer thread has stopped", path.display())]
    WriterGone { path: PathBuf },
    /// The node key file can be read by group or others.
    #[error("{} is accessible by group or others (mode {mode:04o}); run `chmod 600 {}` and start again", path.display(), path.display())]
    KeyPermissions { path: PathBuf, mode: u32 },
    /// The node key file does not hold a usable secret.
    #[error("{} does not hold a valid node key: {reason}", path.display())]
    KeyInvalid {
        path: PathBuf,
        reason: wallet::WalletError,
    },
}

impl StoreError {
    /// Whether this is the disk failing (full, an I/O error, damage found while
    /// writing, or writes refused since such a failure) rather than a bug in
    /// the caller or in the store: the node then degrades instead of
    /// reporting an internal error.
    pub fn is_disk_failure(&self) -> bool {
        matches!(
            self,
            StoreError::Io { .. } | StoreError::Corrupt { .. } | StoreError::Degraded { .. }
        )
    }

    /// What went wrong with the disk: for writes refused since a failure, that failure.
    pub fn cause(&self) -> String {
        match self {
            StoreError::Degraded { detail, .. } => detail.clone(),
            other => other.to_string(),
        }
    }

    pub(crate) fn io(path: &Path, error: impl fmt::Display) -> Self {
        StoreError::Io {
            path: path.to_owned(),
            detail: error.to_string(),
        }
    }

    pub(crate) fn corrupt(path: &Path, detail: impl fmt::Display) -> Self {
        StoreError::Corrupt {
            path: path.to_owned(),
            detail: detail.to_string(),
        }
    }

    /// Maps a redb failure: damage reports become `Corrupt`, the rest `Io`.
    pub(crate) fn redb(path: &Path, error: impl Into<redb::Error>) -> Self {
        match error.into() {
            redb::Error::Corrupted(detail) => StoreError::corrupt(path, detail),
            // redb reports a file without its magic number (not a redb file)
            // as invalid data, and a file shorter than its header says as an
            // early end of file.
            redb::Error::Io(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                StoreError::corrupt(path, e)
            }
            redb::Error::UpgradeRequired(version) => StoreError::Format {
                path: path.to_owned(),
                found: format!("redb file format {version}"),
                supported: super::FORMAT_VERSION,
            },
            redb::Error::TableTypeMismatch { table, .. } => {
                StoreError::corrupt(path, format!("table {table} has an unexpected type"))
            }
            other => StoreError::io(path, other),
        }
    }
}
