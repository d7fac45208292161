//! The writer thread: it drains queued requests into one commit (group commit), refusing requests that do not fit the stored chain; a commit of pool changes only is a frame appended to the pending journal, any other is a redb write transaction that applies each [`Op`] to the tables and folds the journal in; after a failed commit it refuses writes until the stored state was reloaded and a probe passes.

mod recover;
mod sinks;

pub use recover::PROBE_FILE;
use sinks::{add_pending, remove_pending, JournalSink, Tables};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::Database;

use tokio::sync::oneshot;
use wallet::Signature;

use super::arrivals::Arrivals;
use super::journal::{self, Frame, Journal};
use super::read::Live;
use super::schema::{self, At, NetworkId, BLOCKS, JOURNAL_EPOCH, META, PEERS, PENDING};
use super::{codec, Loaded, StoreError};
use crate::chain::{Block, Transaction};

/// One change to the stored state. A [`Store::submit`](super::Store::submit) call's ops are applied in order.
#[derive(Debug, Clone)]
pub enum Op {
    /// Appends `block` at the tip (its index must be the tip's plus one) and
    /// removes the pool entries with these signatures.
    AppendBlock { block: Block, mined: Vec<Signature> },
    /// Adds a signed transaction to the pool (an existing entry with the same signature is replaced).
    AddPending(Transaction),
    /// Removes pool entries by signature; absent ones are ignored.
    RemovePending(Vec<Signature>),
    /// Truncates the chain to its first `keep` blocks (at least genesis), appends
    /// `blocks` (indexed from `keep + 1`), and replaces the whole pool with `pool`.
    /// Written in one commit like every request: after a crash the file holds
    /// the old chain or the new one, never a mix.
    ReplaceChain {
        keep: u64,
        blocks: Vec<Block>,
        pool: Vec<Transaction>,
    },
    /// Replaces the peer list.
    SetPeers(Vec<String>),
}

/// One queued request; the writer answers them in queue order.
pub(super) enum Request {
    /// Ops to commit.
    Write(Write),
    /// A recovery step, run after every write queued before it.
    Control(Control),
}

/// Submitted ops and where their answer goes.
pub(super) struct Write {
    pub(super) ops: Vec<Op>,
    pub(super) done: oneshot::Sender<Result<(), StoreError>>,
}

/// The recovery steps of [`Store::reload`](super::Store::reload) and [`Store::probe`](super::Store::probe).
pub(super) enum Control {
    /// Read everything stored, from the file opened afresh if a commit failed.
    Reload(oneshot::Sender<Result<Loaded, StoreError>>),
    /// Check that writes can resume, and resume them.
    Probe(oneshot::Sender<Result<(), StoreError>>),
}

/// What the writer tells every [`Store`](super::Store) handle without being asked through the queue.
#[derive(Default)]
pub(super) struct Shared {
    /// Write transactions committed since open.
    pub(super) commits: AtomicU64,
    /// Commits that failed since open.
    pub(super) failures: AtomicU64,
    /// The failure writes are refused for, while they are.
    pub(super) degraded: Mutex<Option<String>>,
    /// Told of each commit (the node's metrics), once set.
    pub(super) observer: OnceLock<CommitObserver>,
}

impl Shared {
    pub(super) fn degraded(&self) -> Option<String> {
        // Only ever set whole, so a panic elsewhere cannot leave it half written.
        self.degraded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set_degraded(&self, reason: Option<String>) {
        *self
            .degraded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = reason;
    }
}

/// The running writer: its queue, what it shares and its thread.
pub(super) struct Started {
    pub(super) queue: mpsc::Sender<Request>,
    pub(super) shared: Arc<Shared>,
    pub(super) live: Arc<Live>,
    pub(super) thread: JoinHandle<()>,
}

/// What the writer needs to open its database again: the data directory and the network.
pub(super) struct Location {
    pub(super) dir: PathBuf,
    pub(super) network: NetworkId,
}

/// Told of each commit: how many requests it grouped, and how long it took.
pub type CommitObserver = Box<dyn Fn(usize, Duration) + Send + Sync>;

/// Where the writer starts: what is stored, as read at open.
pub(super) struct Resume {
    /// The chain's length.
    pub(super) tip: u64,
    /// The arrival numbers of the pool's entries.
    pub(super) arrivals: Arrivals,
    pub(super) encoder: codec::Encoder,
    /// The recorded epoch and its journal, open for appending.
    pub(super) epoch: u64,
    pub(super) journal: Journal,
    /// What that journal holds: entries added, table entries removed.
    pub(super) journaled: BTreeMap<u64, Transaction>,
    pub(super) unbased: Vec<u64>,
}

/// Starts the writer thread on `db`, going on from `resume`.
pub(super) fn spawn(
    db: Database,
    path: Arc<Path>,
    location: Location,
    resume: Resume,
) -> Result<Started, StoreError> {
    let live = Arc::new(Live::new(db, resume.encoder.texts()));
    let writer = Writer {
        live: live.clone(),
        path: path.clone(),
        location,
        tip: resume.tip,
        arrivals: resume.arrivals,
        encoder: resume.encoder,
        epoch: resume.epoch,
        journal: Some(resume.journal),
        journaled: resume.journaled,
        unbased: resume.unbased,
        frame: Frame::default(),
        shared: Arc::new(Shared::default()),
        health: Health::Healthy,
    };
    let shared = writer.shared.clone();
    let (queue, requests) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("store-writer".to_owned())
        .spawn(move || writer.run(requests))
        .map_err(|e| StoreError::io(&path, format!("cannot start the writer thread: {e}")))?;
    Ok(Started {
        queue,
        shared,
        live,
        thread,
    })
}

/// The writer thread's state: the database and what it needs to check and number requests.
struct Writer {
    /// The database (shared with readers): `None` from a failed commit until
    /// the file is opened again, since redb refuses every operation on a
    /// handle once one of its writes failed.
    live: Arc<Live>,
    path: Arc<Path>,
    location: Location,
    /// The stored chain's length (= the tip's index).
    tip: u64,
    /// The arrival numbers of the stored pool entries. Changed as a commit
    /// is written, before it is durable: if the commit fails the writer
    /// refuses writes until [`Writer::reload`] has read them again.
    arrivals: Arrivals,
    /// The address numbering, as stored.
    encoder: codec::Encoder,
    /// The journal epoch recorded in the database.
    epoch: u64,
    /// The journal of `epoch`, open for appending; `None` from a failed
    /// commit on (the end of a failed append is unknown) until a fold
    /// starts the next one.
    journal: Option<Journal>,
    /// Pool entries added in this epoch and still pending: in the journal, not the `pending` table.
    journaled: BTreeMap<u64, Transaction>,
    /// Arrival numbers of `pending` table entries removed in this epoch.
    unbased: Vec<u64>,
    /// The frame being built, its buffer kept between commits.
    frame: Frame,
    shared: Arc<Shared>,
    health: Health,
}

/// Whether the writer commits or refuses writes.
enum Health {
    Healthy,
    /// A commit failed with `reason`; writes are refused. `reloaded` once the
    /// stored state was read since: every write queued after that read rests on
    /// it, and only then may a probe resume writes.
    Degraded {
        reason: String,
        reloaded: bool,
    },
}

/// The counters a request changes; checked on a copy so a refused request leaves no trace.
#[derive(Clone, Copy)]
struct Tip(u64);

impl Tip {
    fn check(&mut self, ops: &[Op]) -> Result<(), String> {
        let mut tip = self.0;
        let signed = |tx: &Transaction| {
            tx.signature()
                .map(|_| ())
                .ok_or_else(|| "a mining reward cannot be a pending transaction".to_owned())
        };
        for op in ops {
            match op {
                Op::AppendBlock { block, .. } => {
                    if block.index != tip + 1 {
                        return Err(format!(
                            "block {} cannot be appended to a chain of {tip} blocks",
                            block.index
                        ));
                    }
                    tip += 1;
                }
                Op::AddPending(tx) => signed(tx)?,
                Op::RemovePending(_) | Op::SetPeers(_) => {}
                Op::ReplaceChain { keep, blocks, pool } => {
                    if *keep == 0 || *keep > tip {
                        return Err(format!(
                            "cannot keep {keep} blocks of a chain of {tip} (genesis always stays)"
                        ));
                    }
                    tip = *keep;
                    for block in blocks {
                        if block.index != tip + 1 {
                            return Err(format!(
                                "block {} cannot follow block {tip} in a replacement chain",
                                block.index
                            ));
                        }
                        tip += 1;
                    }
                    pool.iter().try_for_each(signed)?;
                }
            }
        }
        self.0 = tip;
        Ok(())
    }
}

impl Writer {
    fn run(mut self, requests: mpsc::Receiver<Request>) {
        let mut queued = Vec::new();
        // Waits for a request only when none queued up during the previous
        // commit; then takes everything queued, without waiting for more.
        // (Waiting a little for the submitters the previous commit answered
        // paid when a commit was a redb two-phase commit of 0.4–0.7 ms: now
        // that most are a journal frame of 0.16–0.2 ms, it only leaves the
        // disk idle. With 16 connections on a disk: 14,800–15,400 transfers
        // a second without a wait, 14,000–14,400 waiting a fifth of the
        // last commit, 14,000–14,300 half; alike in memory.)
        while let Ok(first) = requests.recv() {
            queued.push(first);
            queued.extend(requests.try_iter());
            let mut writes = Vec::new();
            for request in queued.drain(..) {
                match request {
                    Request::Write(write) => writes.push(write),
                    Request::Control(control) => {
                        // A control step sees every write queued before it done.
                        self.commit_batch(std::mem::take(&mut writes));
                        self.control(control);
                    }
                }
            }
            self.commit_batch(writes);
        }
        // Every sender is gone: the store was dropped.
        // A store stopped cleanly holds its whole pool in the database.
        let journaled = !self.journaled.is_empty() || !self.unbased.is_empty();
        if matches!(self.health, Health::Healthy) && journaled {
            if let Err(e) = self.write(&[]) {
                tracing::warn!(error = %e, "could not fold the pending journal into the database at shutdown; the next start reads it");
            }
        }
        // Closed now, not when the last reader lets go of the shared handle:
        // the store may be opened again as soon as it is dropped.
        self.live.replace(None);
    }

    fn commit_batch(&mut self, batch: Vec<Write>) {
        if batch.is_empty() {
            return;
        }
        if let Health::Degraded { reason, .. } = &self.health {
            for request in batch {
                let _ = request.done.send(Err(StoreError::Degraded {
                    path: self.path.to_path_buf(),
                    detail: reason.clone(),
                }));
            }
            return;
        }
        let mut planned = Tip(self.tip);
        let verdicts: Vec<Result<(), StoreError>> = batch
            .iter()
            .map(|request| {
                planned
                    .check(&request.ops)
                    .map_err(|detail| StoreError::Rejected {
                        path: self.path.to_path_buf(),
                        detail,
                    })
            })
            .collect();
        let accepted: Vec<&[Op]> = batch
            .iter()
            .zip(&verdicts)
            .filter(|(_, verdict)| verdict.is_ok())
            .map(|(request, _)| request.ops.as_slice())
            .collect();
        let outcome = if accepted.iter().all(|ops| ops.is_empty()) {
            Ok(())
        } else {
            let started = Instant::now();
            match self.commit(&accepted) {
                Ok(()) => {
                    self.shared.commits.fetch_add(1, Ordering::Relaxed);
                    if let Some(observe) = self.shared.observer.get() {
                        observe(accepted.len(), started.elapsed());
                    }
                    Ok(())
                }
                Err(e) => {
                    self.fail(&e);
                    Err(e)
                }
            }
        };
        for (request, verdict) in batch.into_iter().zip(verdicts) {
            let answer = verdict.and_then(|()| outcome.clone());
            // A submitter that stopped waiting does not need the answer.
            let _ = request.done.send(answer);
        }
    }

    /// Enters the degraded state after the failed commit `error`. Done before
    /// anyone hears of the failure, so whoever does sees the store degraded.
    fn fail(&mut self, error: &StoreError) {
        self.live.replace(None);
        self.journal = None;
        let reason = error.to_string();
        self.shared.set_degraded(Some(reason.clone()));
        self.shared.failures.fetch_add(1, Ordering::SeqCst);
        self.health = Health::Degraded {
            reason,
            reloaded: false,
        };
    }

    /// Commits the accepted requests: appended to the journal if they only
    /// change the pool and the journal is open and not yet due for a fold;
    /// otherwise written to the database.
    fn commit(&mut self, accepted: &[&[Op]]) -> Result<(), StoreError> {
        let pool_only = accepted
            .iter()
            .flat_map(|ops| ops.iter())
            .all(|op| matches!(op, Op::AddPending(_) | Op::RemovePending(_)));
        match &self.journal {
            Some(open) if pool_only && open.len() < journal::FOLD_AT => self.append(accepted),
            _ => self.write(accepted),
        }
    }

    /// Appends the accepted pool changes to the journal as one frame.
    fn append(&mut self, accepted: &[&[Op]]) -> Result<(), StoreError> {
        self.frame.clear();
        let mut sink = JournalSink {
            frame: &mut self.frame,
            journaled: &mut self.journaled,
            unbased: &mut self.unbased,
        };
        for op in accepted.iter().flat_map(|ops| ops.iter()) {
            match op {
                Op::AddPending(tx) => add_pending(&mut self.arrivals, &mut sink, tx)?,
                Op::RemovePending(signatures) => {
                    remove_pending(&mut self.arrivals, &mut sink, signatures)?
                }
                other => unreachable!("only pool changes are journaled, not {other:?}"),
            }
        }
        if self.frame.is_empty() {
            return Ok(());
        }
        self.journal
            .as_mut()
            .expect("commit appends only to an open journal")
            .append(&mut self.frame)
    }

    /// Applies the accepted requests in one write transaction that also folds
    /// the journal in, and commits it (see `journal.rs` for the order of steps).
    fn write(&mut self, accepted: &[&[Op]]) -> Result<(), StoreError> {
        let result = self.try_write(accepted);
        match result {
            // Readers may now meet the new numbers.
            Ok(()) => self.live.book().append(self.encoder.committed()),
            // Numbers given to addresses in the failed commit were not stored.
            Err(_) => self.encoder.forget_unstored(),
        }
        result
    }

    fn try_write(&mut self, accepted: &[&[Op]]) -> Result<(), StoreError> {
        let path = &*self.path;
        let dir = &self.location.dir;
        let next = self.epoch + 1;
        let db = self.live.database();
        let db = db.as_ref().expect("a healthy writer has its database open");
        let next_journal = Journal::create(dir, next)?;
        let mut txn = db.begin_write().at(path)?;
        txn.set_two_phase_commit(true);
        let tip = {
            let mut tables = Tables {
                blocks: txn.open_table(BLOCKS).at(path)?,
                pending: txn.open_table(PENDING).at(path)?,
                peers: txn.open_table(PEERS).at(path)?,
                encoder: &mut self.encoder,
                path,
                tip: self.tip,
            };
            tables.fold(&self.journaled, &self.unbased)?;
            for op in accepted.iter().flat_map(|ops| ops.iter()) {
                tables.apply(op, &mut self.arrivals)?;
            }
            tables.tip
        };
        schema::store_addresses(&txn, &self.encoder, path)?;
        txn.open_table(META)
            .at(path)?
            .insert(JOURNAL_EPOCH, next.to_string().as_str())
            .at(path)?;
        txn.commit().at(path)?;
        self.tip = tip;
        self.epoch = next;
        self.journal = Some(next_journal);
        self.journaled.clear();
        self.unbased.clear();
        // The old journal no longer counts; one left behind is removed at the next open.
        let old = journal::path(dir, next - 1);
        if let Err(e) = std::fs::remove_file(&old) {
            tracing::warn!(file = %old.display(), error = %e, "cannot remove a folded pending journal");
        }
        Ok(())
    }
}
