//! The node's data directory: chain, pending pool and peers in one crash-safe redb file, written by one group-committing thread.
//!
//! # Layout of a data directory
//!
//! - `LOCK`: held with an exclusive lock while a node uses the directory; holds its process id.
//! - `chain.redb`: the redb database (tables below).
//! - `node.key`: the node's wallet secret, mode 0600 (see [`load_or_create_wallet`]).
//!
//! # Tables of `chain.redb`
//!
//! - `meta`: `format`, `genesis` (hex hash) and `difficulty`, as text: what network the file is for.
//! - `addresses`: number → wallet address text. Blocks and pool entries refer
//!   to addresses by these numbers (see `codec` for why).
//! - `blocks`: block index (1 = genesis) → the block's JSON, addresses numbered.
//! - `pool`: signature text → (arrival sequence number, the transaction's JSON,
//!   addresses numbered), so a transaction is removed by its signature and the
//!   pool loads in arrival order.
//! - `peers`: peer address → its position in the list (registration order).
//!
//! The store never decides validity: the node checks what it loads and what it
//! submits. Every commit is durable when it returns (redb's default
//! `Durability::Immediate`) and uses two-phase commit, so after a crash the
//! file holds exactly the last acknowledged commit, and a committed page that
//! fails its checksum later can only mean outside damage, which is reported
//! instead of being silently rolled back. Every open verifies the checksums
//! of the whole file (redb's integrity check), so a damaged file is refused
//! with an error rather than trusted.

mod codec;
mod error;
mod keyfile;

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};
use tokio::sync::oneshot;
use wallet::Signature;

use crate::chain::{Block, BlockHash, Transaction};

pub use error::StoreError;
pub use keyfile::{load_or_create_wallet, KEY_FILE};

/// The database file's name inside the data directory.
pub const STORE_FILE: &str = "chain.redb";
/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "LOCK";
/// The layout of the tables; a file recording another number is refused.
pub const FORMAT_VERSION: u32 = 1;
/// redb's page cache. Its default (1 GiB) would keep every page read at
/// start-up in memory (66 MiB at 100,000 blocks); the node keeps the chain in
/// its own structures and the writer only touches the tip of each table.
const CACHE_BYTES: usize = 4 << 20;

const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const ADDRESSES: TableDefinition<u32, &str> = TableDefinition::new("addresses");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const POOL: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("pool");
const PEERS: TableDefinition<&str, u64> = TableDefinition::new("peers");

/// What network a data directory belongs to: a node refuses a store made for another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkId {
    /// The hash of the configured genesis block.
    pub genesis: BlockHash,
    /// The configured proof-of-work difficulty.
    pub difficulty: u32,
}

/// Everything stored, as [`Store::open`] read it: not yet checked by the node.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The chain, genesis first; never empty.
    pub blocks: Vec<Block>,
    /// The pending pool, in arrival order.
    pub pool: Vec<Transaction>,
    /// The peer list, in the order it was given to [`Op::SetPeers`].
    pub peers: Vec<String>,
}

/// One change to the stored state. A [`Store::submit`] call's ops are applied in order.
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
    commits: Arc<AtomicU64>,
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

struct Request {
    ops: Vec<Op>,
    done: oneshot::Sender<Result<(), StoreError>>,
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
        let lock = lock_dir(dir)?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(true)
            // Opens an existing file, or initializes a missing or empty one;
            // anything else that is not a redb database is an error.
            .create(&path)
            .map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                    dir: dir.to_owned(),
                    lock: path.to_path_buf(),
                    holder: None,
                },
                other => StoreError::redb(&path, other),
            })?;
        let (loaded, next_seq, encoder) = match load(&db, &path, expected)? {
            Some(found) => found,
            None => {
                let encoder = initialize(&db, &path, expected, genesis)?;
                // The new file's directory entry must survive a power cut too.
                sync_dir(dir)?;
                let loaded = Loaded {
                    blocks: vec![genesis.clone()],
                    pool: Vec::new(),
                    peers: Vec::new(),
                };
                (loaded, 0, encoder)
            }
        };
        let writer = Writer {
            tip: loaded.blocks.len() as u64,
            next_seq,
            encoder,
            db,
            path: path.clone(),
            commits: Arc::new(AtomicU64::new(0)),
            failed: None,
        };
        let commits = writer.commits.clone();
        let (queue, requests) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("store-writer".to_owned())
            .spawn(move || writer.run(requests))
            .map_err(|e| StoreError::io(&path, format!("cannot start the writer thread: {e}")))?;
        let store = Store {
            inner: Arc::new(Inner {
                path,
                queue: Some(queue),
                commits,
                writer: Some(handle),
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
    /// unaffected. If a commit fails, every request in it gets the error and
    /// the store refuses all later writes ([`StoreError::Failed`]): memory may
    /// then hold changes the disk does not, and only a restart (which loads
    /// the disk) reconciles them.
    pub fn submit(&self, ops: Vec<Op>) -> Ticket {
        let (done, answer) = oneshot::channel();
        let queue = self
            .inner
            .queue
            .as_ref()
            .expect("the queue is only taken when the last handle is dropped");
        if let Err(mpsc::SendError(request)) = queue.send(Request { ops, done }) {
            // The writer has exited, which only a panic in it makes happen.
            let _ = request.done.send(Err(StoreError::WriterGone {
                path: self.inner.path.to_path_buf(),
            }));
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

    /// How many redb write transactions the writer has committed since open.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

/// Creates the data directory, and any missing parents, with mode 0700.
pub(crate) fn create_dir(dir: &Path) -> Result<(), StoreError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StoreError::io(dir, format!("cannot create the data directory: {e}")))
}

/// Makes the directory's entries (a newly created file) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Takes the data directory's lock, or says who holds it.
fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StoreError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path)
                .ok()
                .map(|text| text.trim().to_owned())
                .filter(|pid| !pid.is_empty());
            return Err(StoreError::InUse {
                dir: dir.to_owned(),
                lock: path,
                holder,
            });
        }
        Err(TryLockError::Error(e)) => return Err(StoreError::io(&path, e)),
    }
    // Only a diagnostic for the "in use" message; the lock is what counts.
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(|e| StoreError::io(&path, e))?;
    Ok(file)
}

/// Writes the tables, the network id and genesis into a new store; returns the address numbering.
fn initialize(
    db: &Database,
    path: &Path,
    network: &NetworkId,
    genesis: &Block,
) -> Result<codec::Encoder, StoreError> {
    let redb = |e: redb::Error| StoreError::redb(path, e);
    let mut encoder = codec::Encoder::default();
    let mut txn = db.begin_write().map_err(|e| redb(e.into()))?;
    txn.set_two_phase_commit(true);
    {
        let mut meta = txn.open_table(META).map_err(|e| redb(e.into()))?;
        for (key, value) in [
            ("format", FORMAT_VERSION.to_string()),
            ("genesis", network.genesis.to_hex()),
            ("difficulty", network.difficulty.to_string()),
        ] {
            meta.insert(key, value.as_str())
                .map_err(|e| redb(e.into()))?;
        }
        let mut blocks = txn.open_table(BLOCKS).map_err(|e| redb(e.into()))?;
        blocks
            .insert(genesis.index, encoder.block(genesis).as_slice())
            .map_err(|e| redb(e.into()))?;
        store_addresses(&txn, &encoder).map_err(redb)?;
        txn.open_table(POOL).map_err(|e| redb(e.into()))?;
        txn.open_table(PEERS).map_err(|e| redb(e.into()))?;
    }
    txn.commit().map_err(|e| redb(e.into()))?;
    encoder.committed();
    Ok(encoder)
}

/// Writes the addresses numbered for this commit's entries (the table always exists, maybe empty).
fn store_addresses(
    txn: &redb::WriteTransaction,
    encoder: &codec::Encoder,
) -> Result<(), redb::Error> {
    let mut addresses = txn.open_table(ADDRESSES)?;
    for (id, text) in encoder.unstored() {
        addresses.insert(*id, text.as_str())?;
    }
    Ok(())
}

/// Reads the whole store in one read transaction, with the next pool arrival
/// number and the address numbering; `None` for a database without tables (a new file).
fn load(
    db: &Database,
    path: &Path,
    expected: &NetworkId,
) -> Result<Option<(Loaded, u64, codec::Encoder)>, StoreError> {
    let redb = |e: redb::Error| StoreError::redb(path, e);
    let corrupt = |detail: String| StoreError::corrupt(path, detail);
    let txn = db.begin_read().map_err(|e| redb(e.into()))?;
    if txn
        .list_tables()
        .map_err(|e| redb(e.into()))?
        .next()
        .is_none()
    {
        return Ok(None);
    }
    let open_error = |name: &str, e: redb::TableError| match e {
        redb::TableError::TableDoesNotExist(_) => corrupt(format!(
            "it has no {name} table; it is not a sigchain store, or was damaged"
        )),
        other => redb(other.into()),
    };

    let meta = txn.open_table(META).map_err(|e| open_error("meta", e))?;
    let field = |key: &str| -> Result<String, StoreError> {
        let value = meta.get(key).map_err(|e| redb(e.into()))?;
        value
            .map(|v| v.value().to_owned())
            .ok_or_else(|| corrupt(format!("the meta table has no {key}")))
    };
    let format = field("format")?;
    if format != FORMAT_VERSION.to_string() {
        return Err(StoreError::Format {
            path: path.to_owned(),
            found: format,
            supported: FORMAT_VERSION,
        });
    }
    let stored = NetworkId {
        genesis: field("genesis")?
            .parse()
            .map_err(|e| corrupt(format!("the recorded genesis hash is unreadable: {e}")))?,
        difficulty: field("difficulty")?
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

    let table = txn
        .open_table(ADDRESSES)
        .map_err(|e| open_error("addresses", e))?;
    let mut texts = Vec::new();
    for entry in table.iter().map_err(|e| redb(e.into()))? {
        let (id, text) = entry.map_err(|e| redb(e.into()))?;
        if id.value() as usize != texts.len() {
            return Err(corrupt(format!(
                "address {} is missing (the next stored address is {})",
                texts.len(),
                id.value()
            )));
        }
        texts.push(text.value().to_owned());
    }
    let mut decoder = codec::Decoder::new(texts);
    let table = txn
        .open_table(BLOCKS)
        .map_err(|e| open_error("blocks", e))?;
    let count = table.len().map_err(|e| redb(e.into()))?;
    let mut blocks = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for entry in table.iter().map_err(|e| redb(e.into()))? {
        let (key, value) = entry.map_err(|e| redb(e.into()))?;
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
        Some(first) if first.hash() != stored.genesis => {
            return Err(corrupt(format!(
                "block 1 has hash {}, not the recorded genesis {}",
                first.hash(),
                stored.genesis
            )))
        }
        Some(_) => {}
    }

    let table = txn.open_table(POOL).map_err(|e| open_error("pool", e))?;
    let mut pool = Vec::new();
    for entry in table.iter().map_err(|e| redb(e.into()))? {
        let (key, value) = entry.map_err(|e| redb(e.into()))?;
        let (seq, bytes) = value.value();
        let unreadable = |e: String| {
            let key = key.value();
            let head = &key[..key.len().min(16)];
            corrupt(format!("pending transaction {head}… is unreadable: {e}"))
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
    let pool = pool.into_iter().map(|(_, tx)| tx).collect();

    let table = txn.open_table(PEERS).map_err(|e| open_error("peers", e))?;
    let mut peers: Vec<(u64, String)> = table
        .iter()
        .map_err(|e| redb(e.into()))?
        .map(|entry| entry.map(|(key, at)| (at.value(), key.value().to_owned())))
        .collect::<Result<_, _>>()
        .map_err(|e| redb(e.into()))?;
    peers.sort();
    let peers = peers.into_iter().map(|(_, peer)| peer).collect();

    let loaded = Loaded {
        blocks,
        pool,
        peers,
    };
    let encoder = codec::Encoder::new(decoder.into_texts());
    Ok(Some((loaded, next_seq, encoder)))
}

/// The writer thread's state: the database and what it needs to check and number requests.
struct Writer {
    db: Database,
    path: Arc<Path>,
    /// The stored chain's length (= the tip's index).
    tip: u64,
    /// The arrival number the next pool entry gets.
    next_seq: u64,
    /// The address numbering, as stored.
    encoder: codec::Encoder,
    commits: Arc<AtomicU64>,
    /// Set when a commit failed: no more writes.
    failed: Option<String>,
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
        // Everything that queued up during the previous commit goes into the next one.
        while let Ok(first) = requests.recv() {
            let mut batch = vec![first];
            batch.extend(requests.try_iter());
            self.commit_batch(batch);
        }
    }

    fn commit_batch(&mut self, batch: Vec<Request>) {
        if let Some(detail) = &self.failed {
            for request in batch {
                let _ = request.done.send(Err(StoreError::Failed {
                    path: self.path.to_path_buf(),
                    detail: detail.clone(),
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
            match self.write(&accepted) {
                Ok(()) => {
                    self.commits.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(e) => {
                    self.failed = Some(e.to_string());
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

    /// Applies the accepted requests in one write transaction and commits it.
    fn write(&mut self, accepted: &[&[Op]]) -> Result<(), StoreError> {
        let result = self.try_write(accepted);
        match result {
            Ok(()) => self.encoder.committed(),
            // Numbers given to addresses in the failed commit were not stored.
            Err(_) => self.encoder.forget_unstored(),
        }
        result
    }

    fn try_write(&mut self, accepted: &[&[Op]]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let redb = |e: redb::Error| StoreError::redb(&path, e);
        let encoder = &mut self.encoder;
        let mut tip = self.tip;
        let mut next_seq = self.next_seq;
        let mut txn = self.db.begin_write().map_err(|e| redb(e.into()))?;
        txn.set_two_phase_commit(true);
        {
            let mut blocks = txn.open_table(BLOCKS).map_err(|e| redb(e.into()))?;
            let mut pool = txn.open_table(POOL).map_err(|e| redb(e.into()))?;
            let mut peers = txn.open_table(PEERS).map_err(|e| redb(e.into()))?;
            let mut add_pending = |pool: &mut redb::Table<&str, (u64, &[u8])>,
                                   encoder: &mut codec::Encoder,
                                   tx: &Transaction|
             -> Result<(), StoreError> {
                let signature = tx
                    .signature()
                    .expect("requests with unsigned pending entries were rejected");
                pool.insert(
                    signature.as_str(),
                    (next_seq, encoder.transaction(tx).as_slice()),
                )
                .map_err(|e| redb(e.into()))?;
                next_seq += 1;
                Ok(())
            };
            for op in accepted.iter().flat_map(|ops| ops.iter()) {
                match op {
                    Op::AppendBlock { block, mined } => {
                        blocks
                            .insert(block.index, encoder.block(block).as_slice())
                            .map_err(|e| redb(e.into()))?;
                        tip = block.index;
                        for signature in mined {
                            pool.remove(signature.as_str())
                                .map_err(|e| redb(e.into()))?;
                        }
                    }
                    Op::AddPending(tx) => add_pending(&mut pool, encoder, tx)?,
                    Op::RemovePending(signatures) => {
                        for signature in signatures {
                            pool.remove(signature.as_str())
                                .map_err(|e| redb(e.into()))?;
                        }
                    }
                    Op::ReplaceChain {
                        keep,
                        blocks: new_blocks,
                        pool: new_pool,
                    } => {
                        for index in keep + 1..=tip {
                            blocks.remove(index).map_err(|e| redb(e.into()))?;
                        }
                        tip = *keep;
                        for block in new_blocks {
                            blocks
                                .insert(block.index, encoder.block(block).as_slice())
                                .map_err(|e| redb(e.into()))?;
                            tip = block.index;
                        }
                        pool.retain(|_, _| false).map_err(|e| redb(e.into()))?;
                        for tx in new_pool {
                            add_pending(&mut pool, encoder, tx)?;
                        }
                    }
                    Op::SetPeers(list) => {
                        peers.retain(|_, _| false).map_err(|e| redb(e.into()))?;
                        for (at, peer) in (0u64..).zip(list) {
                            peers
                                .insert(peer.as_str(), at)
                                .map_err(|e| redb(e.into()))?;
                        }
                    }
                }
            }
            store_addresses(&txn, encoder).map_err(redb)?;
        }
        txn.commit().map_err(|e| redb(e.into()))?;
        self.tip = tip;
        self.next_seq = next_seq;
        Ok(())
    }
}
