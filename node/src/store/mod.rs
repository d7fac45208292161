//! The node's data directory: chain, pending pool and peers in a crash-safe redb file and the pool's recent changes in an append-only journal, written by one group-committing thread.
//!
//! # Layout of a data directory
//!
//! - `LOCK`: held with an exclusive lock while a node uses the directory; holds its process id.
//! - `chain.redb`: the redb database (tables below).
//! - `pending-E.journal`: the pending journal of epoch E (the one `meta`
//!   records): the pool's changes since the last redb commit, a checksummed
//!   frame per commit (see `journal.rs`).
//! - `node.key`: the node's wallet secret, mode 0600 (see [`load_or_create_wallet`]).
//! - `space-probe`: only while writes are refused after a failed commit: the
//!   file [`Store::probe`] writes and removes to see whether the disk has room.
//!
//! # Tables of `chain.redb`
//!
//! - `meta`: `format`, `genesis` (hex hash) and `difficulty`, as text: what
//!   network the file is for; `journal`: the epoch of the pending journal.
//! - `addresses`: number → wallet address text. Blocks and pool entries refer
//!   to addresses by these numbers (see `codec` for why).
//! - `blocks`: block index (1 = genesis) → the block's JSON, addresses numbered.
//! - `pending`: arrival number → the pending transaction's JSON, addresses
//!   numbered, as of the last redb commit (the journal holds the changes
//!   since): new entries go at the table's end and the pool loads in
//!   arrival order. The writer finds an entry's number from its signature in
//!   memory (`arrivals.rs`). (Format 1 keyed this table, then named `pool`,
//!   by signature; `migrate.rs` upgrades such a file at open.)
//! - `peers`: peer address → its position in the list (registration order).
//!
//! The store never decides validity: the node checks what it loads and what it
//! submits. Every commit is durable when it is acknowledged. A commit that
//! only changes the pool is one journal frame and one `fdatasync`; every
//! other commit is a redb transaction (redb's default `Durability::Immediate`,
//! two-phase commit) that also folds the journal into the `pending` table
//! and starts the next epoch's journal. After a crash the directory holds
//! exactly the last acknowledged commit, and a committed page that
//! fails its checksum later can only mean outside damage, which is reported
//! instead of being silently rolled back. Every open verifies the checksums
//! of the whole file (redb's integrity check), so a damaged file is refused
//! with an error rather than trusted.
//!
//! A commit that fails (the disk is full or failing) degrades the store: it
//! refuses writes until the caller has [reloaded](Store::reload) the stored
//! state and a [probe](Store::probe) finds room again; no restart is needed.
//!
//! # Layout of this module
//!
//! - `mod.rs`: the [`Store`] handle and its [`Ticket`]s.
//! - `dir.rs`: creating the data directory, syncing it, and its `LOCK` file.
//! - `schema.rs`: the tables, [`FORMAT_VERSION`], [`NetworkId`], creating a
//!   new store and checking the `meta` table of an existing one.
//! - `migrate.rs`: upgrading a store of an older format at open.
//! - `arrivals.rs`: the writer's map from a pending signature to its arrival number.
//! - `journal.rs`: the pending journal's file format, appending and reading it.
//! - `load.rs`: reading everything stored into [`Loaded`] at start-up.
//! - `read.rs`: [`StoreReader`], a snapshot of what is committed, read beside
//!   the writer (the database handle and address book they share).
//! - `writer.rs`: the group-committing writer thread; `writer/sinks.rs`:
//!   applying each [`Op`] to the tables or the journal's frame;
//!   `writer/recover.rs`: its way back from a failed commit.
//! - `codec.rs`: the stored byte form of blocks and pool entries.
//! - `error.rs`: [`StoreError`].
//! - `keyfile.rs`: the node's wallet key file.

mod arrivals;
mod codec;
mod dir;
mod error;
mod journal;
mod keyfile;
mod load;
mod migrate;
mod read;
mod schema;
mod writer;

use std::fs::File;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::chain::Block;
use writer::{Control, Request, Shared, Write};

pub use dir::LOCK_FILE;
pub(crate) use dir::{create_dir, sync_dir};
pub use error::StoreError;
pub use keyfile::{create_wallet, load_or_create_wallet, load_wallet, KEY_FILE};
pub use load::{Loaded, LostJournal};
pub use read::{BlockDecoder, StoreReader, StoredBytes};
pub use schema::{NetworkId, FORMAT_VERSION};
pub use writer::{CommitObserver, Op, PROBE_FILE};

/// The database file's name inside the data directory.
pub const STORE_FILE: &str = "chain.redb";

/// Whether `error` is about the pending journal (missing, or not readable),
/// which [`LostJournal::StartWithout`] would set aside.
pub fn is_journal_error(error: &StoreError) -> bool {
    matches!(error, StoreError::Corrupt { path, .. } if journal::is_journal(path))
}

/// A handle on an open data directory. Cheap to clone; `Send + Sync`.
///
/// The directory stays locked until the last handle is dropped; dropping it
/// waits for the writer to commit what was already submitted.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: Arc<Path>,
    queue: Option<mpsc::Sender<Request>>,
    shared: Arc<Shared>,
    live: Arc<read::Live>,
    writer: Option<JoinHandle<()>>,
    // Declared after `writer`, and so released after the database is closed.
    _lock: File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish the queued requests and exit.
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            // A writer that panicked has already failed its tickets; nothing more to report here.
            let _ = writer.join();
        }
    }
}

/// The answer to a [`Store::submit`]: wait on it to learn that the ops are durable.
#[must_use = "submitted ops are only known to be durable once the ticket says so"]
pub struct Ticket {
    done: oneshot::Receiver<Result<(), StoreError>>,
    path: Arc<Path>,
}

impl Ticket {
    /// Blocks until the ops are committed to disk, or the commit failed.
    ///
    /// Must not be called from async code (it would block the executor, and
    /// tokio panics); use [`Ticket::wait_async`] there.
    pub fn wait(self) -> Result<(), StoreError> {
        let path = self.path;
        self.done
            .blocking_recv()
            .unwrap_or(Err(StoreError::WriterGone {
                path: path.to_path_buf(),
            }))
    }

    /// Waits, without blocking the executor, until the ops are committed to disk or the commit failed.
    pub async fn wait_async(self) -> Result<(), StoreError> {
        let path = self.path;
        self.done.await.unwrap_or(Err(StoreError::WriterGone {
            path: path.to_path_buf(),
        }))
    }
}

impl Store {
    /// Opens the data directory `dir`, creating it (mode 0700) and its store on first use,
    /// and reads everything stored.
    ///
    /// The directory is locked (`DIR/LOCK`) for as long as the `Store` lives: a
    /// second node on it gets [`StoreError::InUse`]. A new store records
    /// `expected` and `genesis`; an existing one must record `expected`
    /// ([`StoreError::WrongNetwork`] otherwise). The whole file's checksums are
    /// verified and every entry decoded; damage is [`StoreError::Corrupt`],
    /// naming the file and what is wrong. `genesis` must hash to `expected.genesis`.
    pub fn open(
        dir: &Path,
        expected: &NetworkId,
        genesis: &Block,
    ) -> Result<(Store, Loaded), StoreError> {
        Store::open_with(dir, expected, genesis, LostJournal::Refuse)
    }

    /// [`Store::open`], doing with a pending journal that is missing or
    /// unreadable what `lost` says.
    pub fn open_with(
        dir: &Path,
        expected: &NetworkId,
        genesis: &Block,
        lost: LostJournal,
    ) -> Result<(Store, Loaded), StoreError> {
        let path: Arc<Path> = dir.join(STORE_FILE).into();
        if genesis.index != 1 || genesis.hash() != expected.genesis {
            return Err(StoreError::Rejected {
                path: path.to_path_buf(),
                detail: format!(
                    "the genesis block given (index {}, hash {}) does not match the configured genesis {}",
                    genesis.index,
                    genesis.hash(),
                    expected.genesis
                ),
            });
        }
        create_dir(dir)?;
        let lock = dir::lock_dir(dir)?;
        let db = schema::open_database(dir, &path)?;
        migrate::upgrade(&db, &path, dir, expected)?;
        let (loaded, resume) = match load::load(&db, &path, dir, expected, lost)? {
            Some(stored) => {
                let resume = writer::Resume {
                    tip: stored.loaded.length,
                    arrivals: stored.arrivals,
                    encoder: stored.encoder,
                    epoch: stored.epoch,
                    journal: journal::Journal::resume(&stored.journal)?,
                    journaled: stored.journal.added,
                    unbased: stored.journal.removed,
                };
                (stored.loaded, resume)
            }
            None => {
                // The journal first: the database's first commit records it.
                let journal = journal::Journal::create(dir, 0)?;
                let encoder = schema::initialize(&db, &path, expected, genesis)?;
                // The new file's directory entry must survive a power cut too.
                sync_dir(dir)?;
                let loaded = Loaded {
                    length: 1,
                    pool: Vec::new(),
                    peers: Vec::new(),
                };
                let resume = writer::Resume {
                    tip: 1,
                    arrivals: arrivals::Arrivals::default(),
                    encoder,
                    epoch: 0,
                    journal,
                    journaled: Default::default(),
                    unbased: Vec::new(),
                };
                (loaded, resume)
            }
        };
        // Journals of folds that a crash interrupted.
        journal::remove_others(dir, resume.epoch)?;
        let location = writer::Location {
            dir: dir.to_owned(),
            network: *expected,
        };
        let started = writer::spawn(db, path.clone(), location, resume)?;
        let store = Store {
            inner: Arc::new(Inner {
                path,
                queue: Some(started.queue),
                shared: started.shared,
                live: started.live,
                writer: Some(started.thread),
                _lock: lock,
            }),
        };
        Ok((store, loaded))
    }

    /// Queues `ops` for the writer and returns at once; [`Ticket::wait`] (or
    /// [`Ticket::wait_async`]) returns once they are durably committed.
    ///
    /// The writer drains everything queued into one redb write transaction
    /// (group commit), so many concurrent submitters share one disk sync.
    /// Requests are applied in submission order, each wholly or not at all.
    ///
    /// # Contract with the caller
    ///
    /// Update the in-memory state and call `submit` while still holding the
    /// lock that orders those updates, so the disk sees changes in the same
    /// order as memory; then release the lock and wait on the ticket before
    /// telling anyone (a 201, a mined block) that the change happened.
    ///
    /// A request that does not fit the stored state (a block index that is not
    /// the next one, a reward in the pool, `keep` of 0) is refused with
    /// [`StoreError::Rejected`] and nothing of it is written; other requests are
    /// unaffected.
    ///
    /// If a commit fails, every request in it gets the error and the store is
    /// [degraded](Store::degraded): it refuses every later write with
    /// [`StoreError::Degraded`], because memory may now hold changes the disk
    /// does not and queued requests may rest on them. To recover: change
    /// nothing in memory while [`Store::degraded`] says so, replace memory
    /// with what [`Store::reload`] returns, then call [`Store::probe`] until
    /// it succeeds.
    pub fn submit(&self, ops: Vec<Op>) -> Ticket {
        let (done, answer) = oneshot::channel();
        if let Err(mpsc::SendError(Request::Write(write))) =
            self.queue().send(Request::Write(Write { ops, done }))
        {
            // The writer has exited, which only a panic in it makes happen.
            let _ = write.done.send(Err(self.writer_gone()));
        }
        Ticket {
            done: answer,
            path: self.inner.path.clone(),
        }
    }

    /// Submits `ops` and blocks until they are durable: `submit(ops).wait()`.
    pub fn write(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.submit(ops).wait()
    }

    /// Reads everything stored, after every write submitted before it; blocks.
    ///
    /// After a failed commit it reads the file opened afresh, exactly what a
    /// restart would load; nothing changes it until [`Store::probe`] resumes
    /// writes, which it only does after a reload. Replace memory with the
    /// result before probing, so that every write accepted again rests on
    /// the stored state.
    ///
    /// Must not be called from async code (it blocks).
    pub fn reload(&self) -> Result<Loaded, StoreError> {
        self.ask(Control::Reload)
    }

    /// Resumes writes after a failed commit if they can succeed again: the
    /// stored state was [reloaded](Store::reload) since the failure, a file of
    /// 1 MiB can be written and synced in the data directory, and the database
    /// commits. Succeeds at once while the store is not degraded; blocks.
    ///
    /// Must not be called from async code (it blocks).
    pub fn probe(&self) -> Result<(), StoreError> {
        self.ask(Control::Probe)
    }

    /// A consistent snapshot of what is committed, read without the writer
    /// (a redb read transaction on the live file): what every write
    /// acknowledged before this call stored, and nothing written after it.
    ///
    /// Fails with [`StoreError::Degraded`] from a failed commit until the
    /// file was opened again ([`Store::reload`]). Cheap (no block is read);
    /// may touch the disk, so call it off the async workers.
    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        read::StoreReader::open(&self.inner.live, self.inner.path.clone(), || {
            StoreError::Degraded {
                path: self.inner.path.to_path_buf(),
                detail: self.degraded().map_or_else(
                    || "the database is closed".to_owned(),
                    |reason| format!("{reason} (the file is being opened again)"),
                ),
            }
        })
    }

    /// Why writes are refused, while they are: the failed commit's error.
    pub fn degraded(&self) -> Option<String> {
        self.inner.shared.degraded()
    }

    /// How many commits have failed since open. It grows before anyone hears
    /// of a failure, so a caller can tell whether it has reloaded since the last one.
    pub fn failures(&self) -> u64 {
        self.inner.shared.failures.load(Ordering::SeqCst)
    }

    /// How many redb write transactions the writer has committed since open.
    pub fn commits(&self) -> u64 {
        self.inner.shared.commits.load(Ordering::Relaxed)
    }

    /// Has `observer` told of every later commit (the node's metrics);
    /// false if one was already set, which is kept.
    pub fn observe_commits(&self, observer: CommitObserver) -> bool {
        self.inner.shared.observer.set(observer).is_ok()
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn queue(&self) -> &mpsc::Sender<Request> {
        self.inner
            .queue
            .as_ref()
            .expect("the queue is only taken when the last handle is dropped")
    }

    fn writer_gone(&self) -> StoreError {
        StoreError::WriterGone {
            path: self.inner.path.to_path_buf(),
        }
    }

    /// Queues a control step and waits for its answer.
    fn ask<T>(
        &self,
        control: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Control,
    ) -> Result<T, StoreError> {
        let (done, answer) = oneshot::channel();
        self.queue()
            .send(Request::Control(control(done)))
            .map_err(|_| self.writer_gone())?;
        answer
            .blocking_recv()
            .unwrap_or_else(|_| Err(self.writer_gone()))
    }
}
