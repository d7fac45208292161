//! Tests of the data directory store: round trips, atomic chain replacement (also under SIGKILL), locking, network and corruption checks, the key file and group commit.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use node::chain::{Block, BlockHash, PreviousHash, Sender, Timestamp, Transaction};
use node::store::{
    is_journal_error, load_or_create_wallet, Loaded, LostJournal, NetworkId, Op, Store, StoreError,
    StoreReader, KEY_FILE, STORE_FILE,
};
use wallet::{Amount, Nonce, Signature, Wallet};

/// Two wallets and one real signature, made once: RSA key generation is the slow part.
struct Keys {
    alice: Wallet,
    bob: Wallet,
    signature: Signature,
}

/// Held (shared) by every test that opens stores, and (exclusively) around
/// spawning the crash test's child: a child forked while a test drops and
/// reopens a store would briefly hold a copy of its `LOCK` descriptor, and the
/// reopen would see the directory "in use" (the node itself never forks).
static FORK: RwLock<()> = RwLock::new(());

fn no_fork() -> RwLockReadGuard<'static, ()> {
    FORK.read().unwrap_or_else(|p| p.into_inner())
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let (alice, bob) = match std::env::var("STORE_TEST_SECRETS") {
            // The crash test's child process reuses the parent's keys instead of making new ones.
            Ok(secrets) => {
                let (a, b) = secrets
                    .split_once(' ')
                    .expect("the parent passes two secrets");
                let parse = |s| Wallet::from_secret(s).expect("the parent passes valid secrets");
                (parse(a), parse(b))
            }
            Err(_) => (Wallet::generate(), Wallet::generate()),
        };
        let one = Amount::new(1).unwrap();
        let signature = Transaction::sign(&alice, bob.address(), one, None)
            .signature()
            .expect("a signed transfer")
            .clone();
        Keys {
            alice,
            bob,
            signature,
        }
    })
}

/// A distinct, well-formed signature text for number `n` (the store never verifies signatures).
/// Its first characters are `n` in base64 digits, least significant first.
fn signature(n: u32) -> Signature {
    const DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = keys().signature.as_str().as_bytes().to_vec();
    for (at, slot) in text[..6].iter_mut().enumerate() {
        *slot = DIGITS[((n >> (6 * at)) & 63) as usize];
    }
    Signature::parse(std::str::from_utf8(&text).unwrap()).unwrap()
}

/// Transfer number `n`: from alice to bob when `n` is even, to herself when odd.
fn transfer(n: u32) -> Transaction {
    let keys = keys();
    let recipient = if n.is_multiple_of(2) {
        &keys.bob
    } else {
        &keys.alice
    };
    // A stand-in signature (the store checks form, not signatures), made
    // through the chain's one constructor.
    Transaction::from_parts(
        Sender::Address(keys.alice.address().clone()),
        recipient.address().clone(),
        Amount::new(u64::from(n) + 1).unwrap(),
        Some(Nonce::new(u64::from(n)).unwrap()),
        Some(signature(n)),
    )
    .unwrap()
}

fn genesis() -> Block {
    Block::genesis(1_700_000_000.5)
}

fn network(difficulty: u32) -> NetworkId {
    NetworkId {
        genesis: genesis().hash(),
        difficulty,
    }
}

/// A block with one transfer and a reward; no valid proof (the store does not check).
fn block(index: u64, proof: u64, transfer_number: u32) -> Block {
    Block {
        index,
        previous_hash: PreviousHash::Hash(BlockHash([index as u8; 32])),
        proof,
        timestamp: Timestamp::from_secs_f64(1_700_000_000.0 + index as f64).unwrap(),
        transactions: vec![
            transfer(transfer_number),
            Transaction::Reward {
                recipient: keys().bob.address().clone(),
                amount: Amount::new(1).unwrap(),
            },
        ],
    }
}

/// What a store holds after opening: the loaded pool and peers, and its
/// blocks as a reader gives them (they are not loaded at open).
#[derive(Debug, PartialEq)]
struct Stored {
    blocks: Vec<Block>,
    length: u64,
    pool: Vec<Transaction>,
    peers: Vec<String>,
}

fn stored(store: &Store, loaded: Loaded) -> Stored {
    let reader = store.reader().expect("a reader opens");
    let blocks = reader
        .blocks(1, reader.len() + 1)
        .collect::<Result<Vec<_>, _>>()
        .expect("every stored block reads");
    Stored {
        blocks,
        length: loaded.length,
        pool: loaded.pool,
        peers: loaded.peers,
    }
}

fn open(dir: &Path) -> (Store, Stored) {
    let (store, loaded) = Store::open(dir, &network(4), &genesis()).expect("the store opens");
    let stored = stored(&store, loaded);
    assert_eq!(stored.length, stored.blocks.len() as u64);
    (store, stored)
}

fn open_err(dir: &Path) -> StoreError {
    match Store::open(dir, &network(4), &genesis()) {
        Ok(_) => panic!("opening {} should fail", dir.display()),
        Err(e) => e,
    }
}

fn signatures(pool: &[Transaction]) -> Vec<Signature> {
    pool.iter()
        .map(|tx| tx.signature().unwrap().clone())
        .collect()
}

#[test]
fn store_handles_can_be_shared_between_threads() {
    fn shared<T: Send + Sync + Clone>() {}
    shared::<Store>();
    fn sent<T: Send>() {}
    sent::<node::store::Ticket>();
}

#[test]
fn a_new_store_holds_genesis_and_everything_survives_a_reopen() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").join("node-5000");
    let (store, loaded) = open(&data);
    assert_eq!(loaded.blocks, vec![genesis()]);
    assert!(loaded.pool.is_empty() && loaded.peers.is_empty());
    let mode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the data directory is private");

    // Arrival order deliberately differs from signature order.
    for n in [5, 3, 9, 1, 7] {
        store.write(vec![Op::AddPending(transfer(n))]).unwrap();
    }
    store
        .write(vec![
            Op::AppendBlock {
                block: block(2, 11, 100),
                mined: vec![signature(3)],
            },
            Op::RemovePending(vec![signature(9), signature(4242)]),
            Op::SetPeers(vec![
                "http://127.0.0.1:5002".into(),
                "http://127.0.0.1:5001".into(),
            ]),
        ])
        .unwrap();
    store
        .write(vec![Op::AppendBlock {
            block: block(3, 12, 101),
            mined: vec![],
        }])
        .unwrap();
    let path = store.path().to_owned();
    assert_eq!(path, data.join(STORE_FILE));
    drop(store);

    let (store, loaded) = open(&data);
    assert_eq!(
        loaded.blocks,
        vec![genesis(), block(2, 11, 100), block(3, 12, 101)]
    );
    assert_eq!(signatures(&loaded.pool), [5, 1, 7].map(signature));
    assert_eq!(loaded.pool[0], transfer(5));
    // Peers come back in the order they were given, not sorted.
    assert_eq!(
        loaded.peers,
        ["http://127.0.0.1:5002", "http://127.0.0.1:5001"]
    );

    // Arrival numbers continue after a reopen: the newcomer sorts first by
    // signature but arrived last.
    store.write(vec![Op::AddPending(transfer(0))]).unwrap();
    store.write(vec![Op::SetPeers(vec![])]).unwrap();
    drop(store);
    let (_store, loaded) = open(&data);
    assert_eq!(signatures(&loaded.pool), [5, 1, 7, 0].map(signature));
    assert!(loaded.peers.is_empty());
    assert_eq!(loaded.blocks.len(), 3);
}

#[test]
fn addresses_first_seen_after_a_reopen_are_stored_too() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    // Odd transfers only involve alice.
    store.write(vec![Op::AddPending(transfer(1))]).unwrap();
    drop(store);
    let (store, loaded) = open(dir.path());
    assert_eq!(loaded.pool, [transfer(1)]);
    // Bob appears for the first time, in the pool and in a block.
    store
        .write(vec![
            Op::AddPending(transfer(2)),
            Op::AppendBlock {
                block: block(2, 1, 4),
                mined: vec![],
            },
        ])
        .unwrap();
    store.write(vec![Op::AddPending(transfer(3))]).unwrap();
    drop(store);
    let (_store, loaded) = open(dir.path());
    assert_eq!(loaded.pool, [transfer(1), transfer(2), transfer(3)]);
    assert_eq!(loaded.blocks, [genesis(), block(2, 1, 4)]);
}

/// Everything `reader` holds, read one block at a time and as a range.
fn read_all(reader: &StoreReader) -> Vec<Block> {
    let one_by_one: Vec<Block> = (1..=reader.len())
        .map(|i| {
            reader
                .block(i)
                .unwrap()
                .expect("every index up to len is stored")
        })
        .collect();
    let ranged: Vec<Block> = reader
        .blocks(1, u64::MAX)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(one_by_one, ranged);
    ranged
}

#[test]
fn a_reader_reads_back_what_was_committed_as_one_snapshot() {
    fn sent<T: Send>() {}
    sent::<StoreReader>();
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let written: Vec<Block> = (2..=40).map(|i| block(i, i * 3, i as u32)).collect();
    store
        .write(
            written
                .iter()
                .map(|b| Op::AppendBlock {
                    block: b.clone(),
                    mined: vec![],
                })
                .collect(),
        )
        .unwrap();
    let mut chain = vec![genesis()];
    chain.extend(written);
    let reader = store.reader().unwrap();
    assert_eq!(reader.len(), 40);
    assert_eq!(read_all(&reader), chain);
    assert_eq!(reader.block(0).unwrap(), None);
    assert_eq!(reader.block(41).unwrap(), None);
    let some =
        |from, to| -> Vec<u64> { reader.blocks(from, to).map(|b| b.unwrap().index).collect() };
    assert_eq!(some(38, 100), [38, 39, 40]);
    assert_eq!(some(0, 3), [1, 2]);
    assert!(some(41, 50).is_empty());
    assert!(some(5, 5).is_empty());

    // A block with an address never stored before, committed after the reader began.
    let carol = Wallet::generate();
    let mut to_carol = block(41, 1, 0);
    to_carol.transactions[1] = Transaction::Reward {
        recipient: carol.address().clone(),
        amount: Amount::new(1).unwrap(),
    };
    store
        .write(vec![Op::AppendBlock {
            block: to_carol.clone(),
            mined: vec![],
        }])
        .unwrap();
    assert_eq!(reader.len(), 40, "the first snapshot does not change");
    assert_eq!(reader.block(41).unwrap(), None);
    assert_eq!(read_all(&reader), chain);
    chain.push(to_carol);
    assert_eq!(read_all(&store.reader().unwrap()), chain);

    // After a reopen, the book is rebuilt from the stored addresses.
    drop(reader);
    drop(store);
    let (store, loaded) = open(dir.path());
    assert_eq!(loaded.blocks, chain);
    assert_eq!(read_all(&store.reader().unwrap()), chain);
}

#[test]
fn replace_chain_truncates_appends_and_replaces_the_whole_pool() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let old: Vec<Block> = (2..=5).map(|i| block(i, 1, i as u32)).collect();
    let mut ops: Vec<Op> = old
        .iter()
        .map(|b| Op::AppendBlock {
            block: b.clone(),
            mined: vec![],
        })
        .collect();
    ops.extend([20, 21, 22].map(|n| Op::AddPending(transfer(n))));
    store.write(ops).unwrap();

    let new: Vec<Block> = (3..=7).map(|i| block(i, 2, 50 + i as u32)).collect();
    store
        .write(vec![Op::ReplaceChain {
            keep: 2,
            blocks: new.clone(),
            pool: vec![transfer(22), transfer(30)],
        }])
        .unwrap();
    drop(store);
    let (store, loaded) = open(dir.path());
    let mut expected = vec![genesis(), old[0].clone()];
    expected.extend(new.clone());
    assert_eq!(loaded.blocks, expected);
    assert_eq!(signatures(&loaded.pool), [22, 30].map(signature));

    // A shorter replacement drops the tail it does not rewrite.
    store
        .write(vec![Op::ReplaceChain {
            keep: 1,
            blocks: vec![block(2, 3, 60)],
            pool: vec![],
        }])
        .unwrap();
    drop(store);
    let (store, loaded) = open(dir.path());
    assert_eq!(loaded.blocks, vec![genesis(), block(2, 3, 60)]);
    assert!(loaded.pool.is_empty());

    // A malformed request is refused whole, and the next one still works.
    for bad in [
        Op::ReplaceChain {
            keep: 0,
            blocks: vec![genesis()],
            pool: vec![],
        },
        Op::ReplaceChain {
            keep: 3,
            blocks: vec![],
            pool: vec![],
        },
        Op::ReplaceChain {
            keep: 1,
            blocks: vec![block(2, 4, 61), block(4, 4, 62)],
            pool: vec![],
        },
        Op::ReplaceChain {
            keep: 1,
            blocks: vec![block(2, 4, 61)],
            pool: vec![Transaction::Reward {
                recipient: keys().bob.address().clone(),
                amount: Amount::new(1).unwrap(),
            }],
        },
    ] {
        let refused = store.submit(vec![Op::AddPending(transfer(70)), bad]);
        let fine = store.submit(vec![Op::AddPending(transfer(71))]);
        let err = refused.wait().unwrap_err();
        assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
        assert!(err.to_string().contains(STORE_FILE), "{err}");
        fine.wait().unwrap();
    }
    let err = store
        .write(vec![Op::AppendBlock {
            block: block(5, 1, 1),
            mined: vec![],
        }])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("block 5 cannot be appended to a chain of 2 blocks"),
        "{err}"
    );
    drop(store);
    let (_store, loaded) = open(dir.path());
    assert_eq!(loaded.blocks, vec![genesis(), block(2, 3, 60)]);
    assert_eq!(signatures(&loaded.pool), [signature(71)]);
}

#[test]
fn a_second_open_of_a_data_directory_in_use_is_refused() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = open(dir.path());
    let err = open_err(dir.path());
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("in use by another running node"),
        "{message}"
    );
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(
        message.contains(&format!("process {}", std::process::id())),
        "{message}"
    );
    // Clones share the lock; the last drop releases it.
    let clone = first.clone();
    drop(first);
    assert!(matches!(open_err(dir.path()), StoreError::InUse { .. }));
    drop(clone);
    let (_again, loaded) = open(dir.path());
    assert_eq!(loaded.blocks.len(), 1);
}

#[test]
fn a_store_of_another_network_is_refused() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));

    let err = match Store::open(dir.path(), &network(5), &genesis()) {
        Ok(_) => panic!("a different difficulty must be refused"),
        Err(e) => e,
    };
    let message = err.to_string();
    let hash = genesis().hash().to_hex();
    assert!(matches!(err, StoreError::WrongNetwork { .. }), "{message}");
    assert!(
        message.contains(&format!(
            "{STORE_FILE} belongs to another network: genesis {hash} difficulty 4, this node is configured for genesis {hash} difficulty 5"
        )),
        "{message}"
    );

    let other = Block::genesis(1.0);
    let other_network = NetworkId {
        genesis: other.hash(),
        difficulty: 4,
    };
    let err = match Store::open(dir.path(), &other_network, &other) {
        Ok(_) => panic!("a different genesis must be refused"),
        Err(e) => e,
    };
    assert!(err.to_string().contains(&other.hash().to_hex()), "{err}");
    assert!(matches!(err, StoreError::WrongNetwork { .. }), "{err}");

    // The refusals left the store as it was.
    let (_store, loaded) = open(dir.path());
    assert_eq!(loaded.blocks, vec![genesis()]);
}

/// Rewrites a current store as format 1 wrote it: the pool keyed by signature
/// text (value: arrival number and entry) in a table named `pool`. `arrived`
/// lists the transfer numbers of the pending entries in arrival order.
fn rewrite_as_format_1(file: &Path, arrived: &[u32]) {
    const META: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("meta");
    const PENDING: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("pending");
    const POOL_V1: redb::TableDefinition<&str, (u64, &[u8])> = redb::TableDefinition::new("pool");
    use redb::{ReadableDatabase as _, ReadableTable as _};
    let db = redb::Database::create(file).unwrap();
    let entries: Vec<(u64, Vec<u8>)> = {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(PENDING).unwrap();
        table
            .iter()
            .unwrap()
            .map(|entry| {
                let (seq, bytes) = entry.unwrap();
                (seq.value(), bytes.value().to_vec())
            })
            .collect()
    };
    assert_eq!(entries.len(), arrived.len());
    let txn = db.begin_write().unwrap();
    {
        let mut pool = txn.open_table(POOL_V1).unwrap();
        for ((seq, bytes), n) in entries.iter().zip(arrived) {
            pool.insert(signature(*n).as_str(), (*seq, bytes.as_slice()))
                .unwrap();
        }
        txn.open_table(META).unwrap().insert("format", "1").unwrap();
    }
    txn.delete_table(PENDING).unwrap();
    txn.commit().unwrap();
}

/// The format recorded in a store's `meta` table, and whether it still has format 1's `pool` table.
fn format_of(file: &Path) -> (String, bool) {
    use redb::{ReadableDatabase as _, TableHandle as _};
    let db = redb::Database::create(file).unwrap();
    let txn = db.begin_read().unwrap();
    let meta: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("meta");
    let format = txn
        .open_table(meta)
        .unwrap()
        .get("format")
        .unwrap()
        .unwrap()
        .value()
        .to_owned();
    let has_pool = txn.list_tables().unwrap().any(|t| t.name() == "pool");
    (format, has_pool)
}

#[test]
fn a_format_1_store_is_upgraded_at_open_keeping_the_pool_and_its_order() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    // Arrival order differs from signature order, which format 1 keyed by.
    let arrived = [5, 3, 9, 1];
    let (store, _) = open(dir.path());
    for n in arrived {
        store.write(vec![Op::AddPending(transfer(n))]).unwrap();
    }
    store
        .write(vec![Op::AppendBlock {
            block: block(2, 11, 100),
            mined: vec![],
        }])
        .unwrap();
    let file = store.path().to_owned();
    drop(store);
    rewrite_as_format_1(&file, &arrived);
    assert_eq!(format_of(&file), ("1".to_owned(), true));

    // A node of another network refuses the file and leaves it in format 1.
    let err = match Store::open(dir.path(), &network(5), &genesis()) {
        Ok(_) => panic!("a different difficulty must be refused"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::WrongNetwork { .. }), "{err}");
    assert_eq!(format_of(&file), ("1".to_owned(), true));

    let (store, loaded) = open(dir.path());
    assert_eq!(loaded.blocks, vec![genesis(), block(2, 11, 100)]);
    assert_eq!(
        loaded.pool,
        arrived.map(transfer),
        "the whole pool, in arrival order"
    );
    // The upgraded pool works as a new one: numbers continue after the
    // stored ones, a replaced entry moves to the end, a mined one leaves.
    store.write(vec![Op::AddPending(transfer(0))]).unwrap();
    store.write(vec![Op::AddPending(transfer(3))]).unwrap();
    store
        .write(vec![Op::RemovePending(vec![signature(9)])])
        .unwrap();
    drop(store);
    assert_eq!(
        format_of(&file),
        (node::store::FORMAT_VERSION.to_string(), false)
    );
    let (_store, loaded) = open(dir.path());
    assert_eq!(signatures(&loaded.pool), [5, 1, 0, 3].map(signature));
}

#[test]
fn a_format_2_store_is_upgraded_at_open_with_an_empty_journal() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    for n in [4, 2, 8] {
        store.write(vec![Op::AddPending(transfer(n))]).unwrap();
    }
    let file = store.path().to_owned();
    // A clean stop folds the journal in: the pool is in the `pending` table.
    drop(store);
    // Format 2 had no journal and no epoch.
    {
        use redb::ReadableTable as _;
        let db = redb::Database::create(&file).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let meta: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("meta");
            let mut meta = txn.open_table(meta).unwrap();
            meta.insert("format", "2").unwrap();
            meta.remove("journal")
                .unwrap()
                .expect("format 3 records an epoch");
            assert!(meta.get("journal").unwrap().is_none());
        }
        txn.commit().unwrap();
    }
    for journal in journals(dir.path()) {
        std::fs::remove_file(journal).unwrap();
    }
    let (store, loaded) = open(dir.path());
    assert_eq!(loaded.pool, [4, 2, 8].map(transfer));
    assert_eq!(journals(dir.path()).len(), 1, "the upgrade made a journal");
    store.write(vec![Op::AddPending(transfer(1))]).unwrap();
    let copy = copy_store(dir.path());
    drop(store);
    assert_eq!(
        format_of(&file),
        (node::store::FORMAT_VERSION.to_string(), false)
    );
    let (_store, loaded) = open(copy.path());
    assert_eq!(loaded.pool, [4, 2, 8, 1].map(transfer));
}

#[test]
fn a_store_of_a_format_this_node_does_not_know_is_refused_and_left_alone() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let file = store.path().to_owned();
    drop(store);
    let unknown = (node::store::FORMAT_VERSION + 1).to_string();
    set_format(&file, &unknown);
    let err = open_err(dir.path());
    assert!(matches!(err, StoreError::Format { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "uses store format {unknown}; this node reads format {}",
            node::store::FORMAT_VERSION
        )),
        "{message}"
    );
    assert_eq!(format_of(&file), (unknown, false));
}

#[test]
fn a_file_that_is_not_a_sigchain_store_is_refused_and_left_alone() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(STORE_FILE);
    let garbage: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &garbage).unwrap();
    let err = open_err(dir.path());
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("{} is unreadable or corrupted", file.display())),
        "{message}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), garbage, "never overwritten");

    std::fs::write(&file, b"[chain]\nthis is a text file\n").unwrap();
    let err = open_err(dir.path());
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");

    // A valid redb database of something else.
    std::fs::remove_file(&file).unwrap();
    {
        let db = redb::Database::create(&file).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("other");
            txn.open_table(table).unwrap().insert("x", 1).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = open_err(dir.path());
    assert!(
        err.to_string()
            .contains("it has no meta table; it is not a sigchain store"),
        "{err}"
    );

    // An empty file (a crash right after the file was created) becomes a new store.
    std::fs::write(&file, b"").unwrap();
    let (_store, loaded) = open(dir.path());
    assert_eq!(loaded.blocks, vec![genesis()]);
}

/// Overwrites 64 bytes at many places of a real store and opens it each time.
///
/// What counts: never a panic, and never different data. Either the open
/// fails with an error naming the file, or (for bytes redb does not use, such
/// as free pages or slack at the end of a page) it loads exactly what was stored.
#[test]
fn overwritten_bytes_are_reported_never_served() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let mut ops: Vec<Op> = (2..=120)
        .map(|i| Op::AppendBlock {
            block: block(i, i, i as u32),
            mined: vec![],
        })
        .collect();
    ops.extend((0..40).map(|n| Op::AddPending(transfer(1000 + n))));
    ops.push(Op::SetPeers(vec!["http://127.0.0.1:5001".into()]));
    store.write(ops).unwrap();
    drop(store);
    let (store, pristine) = open(dir.path());
    drop(store);

    let file = dir.path().join(STORE_FILE);
    let original = std::fs::read(&file).unwrap();
    let length = original.len();
    let mut detected = Vec::new();
    let mut harmless = Vec::new();
    // Inside ten stored blocks (one copy each: they were written once).
    let in_blocks: Vec<usize> = (10..120)
        .step_by(11)
        .map(|proof| {
            let marker = format!("\"proof\":{proof},\"timestamp\"");
            let spots: Vec<usize> = (0..original.len())
                .filter(|&at| original[at..].starts_with(marker.as_bytes()))
                .collect();
            assert_eq!(spots.len(), 1, "block with proof {proof} is stored once");
            spots[0]
        })
        .collect();
    // Every 1/64th of the file, and the blocks.
    let offsets: Vec<usize> = (0..64)
        .map(|k| k * length / 64)
        .chain(in_blocks.iter().copied())
        .collect();
    for &offset in &offsets {
        let mut damaged = original.clone();
        let end = (offset + 64).min(length);
        for byte in &mut damaged[offset..end] {
            *byte ^= 0x5a;
        }
        std::fs::write(&file, &damaged).unwrap();
        match Store::open(dir.path(), &network(4), &genesis()) {
            Err(err) => {
                assert!(err.to_string().contains(STORE_FILE), "{err}");
                detected.push(offset);
            }
            Ok((store, loaded)) => {
                let reader = store.reader().expect("a reader opens");
                match reader
                    .blocks(1, reader.len() + 1)
                    .collect::<Result<Vec<_>, _>>()
                {
                    // Blocks are read after the open: damage they show is detected then.
                    Err(err) => {
                        assert!(err.to_string().contains(STORE_FILE), "{err}");
                        detected.push(offset);
                    }
                    Ok(blocks) => {
                        let stored = Stored {
                            blocks,
                            length: loaded.length,
                            pool: loaded.pool,
                            peers: loaded.peers,
                        };
                        assert_eq!(stored, pristine, "damage at {offset} changed the data");
                        harmless.push(offset);
                    }
                }
            }
        }
    }
    eprintln!(
        "file of {length} bytes: damage detected at {} of {} places; harmless (unused bytes) at {harmless:?}",
        detected.len(),
        offsets.len()
    );
    for spot in in_blocks {
        assert!(
            detected.contains(&spot),
            "damage to a block at {spot} is detected"
        );
    }
    assert!(detected.contains(&0), "damage to the header is detected");
}

#[test]
fn the_node_key_is_created_private_and_reused() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = load_or_create_wallet(&data).unwrap();
    let path = data.join(KEY_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = load_or_create_wallet(&data).unwrap();
    assert_eq!(again.address(), first.address());
    assert_eq!(*again.secret(), *first.secret());
    assert!(!data.join(format!("{KEY_FILE}.new")).exists());

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = load_or_create_wallet(&data).unwrap_err();
    assert!(matches!(
        err,
        StoreError::KeyPermissions { mode: 0o644, .. }
    ));
    let message = err.to_string();
    assert!(
        message.contains(&format!("run `chmod 600 {}`", path.display())),
        "{message}"
    );
    assert!(message.contains("mode 0644"), "{message}");
    assert!(!message.contains(first.secret().as_str()));

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        load_or_create_wallet(&data).unwrap().address(),
        first.address()
    );

    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(other.join(KEY_FILE))
        .unwrap()
        .write_all(b"not a key\n")
        .unwrap();
    let err = load_or_create_wallet(&other).unwrap_err();
    assert!(matches!(err, StoreError::KeyInvalid { .. }), "{err}");
    assert!(
        err.to_string().contains("does not hold a valid node key"),
        "{err}"
    );
}

#[test]
fn concurrent_submitters_share_commits_and_all_writes_persist() {
    let _no_fork = no_fork();
    const THREADS: u32 = 8;
    const EACH: u32 = 200;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let transactions: Vec<Vec<Transaction>> = (0..THREADS)
        .map(|t| (0..EACH).map(|i| transfer(t * EACH + i)).collect())
        .collect();
    std::thread::scope(|scope| {
        for mine in &transactions {
            let store = store.clone();
            scope.spawn(move || {
                for tx in mine {
                    store.write(vec![Op::AddPending(tx.clone())]).unwrap();
                }
            });
        }
    });
    let commits = store.commits();
    eprintln!("{} submissions in {commits} commits", THREADS * EACH);
    assert!(commits >= 1);
    assert!(commits < u64::from(THREADS * EACH), "{commits} commits");
    drop(store);

    let (_store, loaded) = open(dir.path());
    assert_eq!(loaded.pool.len(), (THREADS * EACH) as usize);
    // Each thread's own submissions keep their order.
    for mine in &transactions {
        let order: Vec<&Transaction> = loaded.pool.iter().filter(|tx| mine.contains(tx)).collect();
        assert_eq!(order, mine.iter().collect::<Vec<_>>());
    }
}

#[test]
fn tickets_can_be_awaited_from_async_code() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let first = store.submit(vec![Op::AddPending(transfer(1))]);
        let second = store.submit(vec![Op::AddPending(transfer(2))]);
        tokio::time::timeout(Duration::from_secs(10), first.wait_async())
            .await
            .expect("a commit takes far less than 10 s")
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), second.wait_async())
            .await
            .expect("a commit takes far less than 10 s")
            .unwrap();
    });
    drop(store);
    assert_eq!(open(dir.path()).1.pool.len(), 2);
}

/// Runs the ignored test `child` in a child process on the store in `dir`,
/// waits for its first `acked N` line, kills it (SIGKILL) `pause` later,
/// and returns the first and the last number it acknowledged.
fn run_and_kill(child: &str, dir: &Path, pause: Duration) -> (u64, u64) {
    let secrets = format!(
        "{} {}",
        keys().alice.secret().as_str(),
        keys().bob.secret().as_str()
    );
    let spawning = FORK.write().unwrap_or_else(|p| p.into_inner());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            child,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STORE_CRASH_DIR", dir)
        .env("STORE_TEST_SECRETS", &secrets)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(spawning);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut acked = None;
    for line in lines.by_ref() {
        if let Some(v) = line.unwrap().strip_prefix("acked ") {
            acked = Some(v.parse::<u64>().unwrap());
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "child never wrote"
        );
    }
    let acked = acked.expect("the child writes until killed");
    std::thread::sleep(pause);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut newest = acked;
    for line in lines {
        if let Some(v) = line.unwrap().strip_prefix("acked ") {
            newest = v.parse().unwrap();
        }
    }
    (acked, newest)
}

/// Run as a child process by the journal tests: adds transfers 0, 1, 2, …
/// (continuing after the stored pool) one commit each, and prints each
/// acknowledged number, until killed.
#[test]
#[ignore = "the child process of the pending journal's crash tests, which run it"]
fn pool_child() {
    let dir =
        std::env::var("STORE_CRASH_DIR").expect("run by a crash test, which sets STORE_CRASH_DIR");
    let (store, loaded) = open(Path::new(&dir));
    let mut out = std::io::stdout().lock();
    for n in loaded.pool.len() as u32.. {
        store.write(vec![Op::AddPending(transfer(n))]).unwrap();
        writeln!(out, "acked {n}").unwrap();
        out.flush().unwrap();
    }
}

/// SIGKILLs a process adding transfers (one journal frame each): after each
/// restart the pool holds every acknowledged transfer, in order, and nothing
/// half written.
#[test]
fn acknowledged_transfers_survive_sigkill_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..5u32 {
        let pause = Duration::from_millis(u64::from(5 + round * 11));
        let (_, newest) = run_and_kill("pool_child", dir.path(), pause);
        let _no_fork = no_fork();
        let (store, loaded) = open(dir.path());
        drop(store);
        let held = loaded.pool.len() as u64;
        assert!(
            held == newest + 1 || held == newest + 2,
            "round {round}: {held} pending, last acknowledged {newest}"
        );
        let expected: Vec<Transaction> = (0..held as u32).map(transfer).collect();
        assert_eq!(loaded.pool, expected, "round {round}: the pool in order");
    }
}

/// The pending journal files in `dir`.
fn journals(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("pending-") && name.ends_with(".journal")
        })
        .collect();
    found.sort();
    found
}

/// Copies the store files of `from` (database and journals, not the lock) into a new directory.
fn copy_store(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for file in journals(from).into_iter().chain([from.join(STORE_FILE)]) {
        std::fs::copy(&file, to.path().join(file.file_name().unwrap())).unwrap();
    }
    to
}

#[test]
fn a_transfer_s_commit_appends_to_the_journal_and_leaves_the_database_alone() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let database = std::fs::read(store.path()).unwrap();
    let journal = journals(dir.path());
    assert_eq!(journal.len(), 1, "one journal: {journal:?}");
    let before = std::fs::metadata(&journal[0]).unwrap().len();
    for n in 0..20 {
        store.write(vec![Op::AddPending(transfer(n))]).unwrap();
    }
    store
        .write(vec![Op::RemovePending(vec![signature(3)])])
        .unwrap();
    assert_eq!(
        std::fs::read(store.path()).unwrap(),
        database,
        "pool changes do not touch the database"
    );
    assert!(std::fs::metadata(&journal[0]).unwrap().len() > before + 20 * 500);
    // A block is written to the database, with the journal folded in: a new, empty journal starts.
    store
        .write(vec![Op::AppendBlock {
            block: block(2, 7, 4),
            mined: vec![signature(4)],
        }])
        .unwrap();
    let folded = journals(dir.path());
    assert_eq!(folded.len(), 1, "the old journal is removed: {folded:?}");
    assert_ne!(folded, journal);
    // Kill-like: the copy is taken while the store is open (no fold at shutdown).
    let copy = copy_store(dir.path());
    let expected: Vec<Transaction> = (0..20)
        .filter(|n| ![3, 4].contains(n))
        .map(transfer)
        .collect();
    let (_copy_store, loaded) = open(copy.path());
    assert_eq!(loaded.pool, expected);
    assert_eq!(loaded.blocks.len(), 2);
}

/// Records `format` as the store format of the (closed) database `file`.
fn set_format(file: &Path, format: &str) {
    let db = redb::Database::create(file).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let meta: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("meta");
        txn.open_table(meta)
            .unwrap()
            .insert("format", format)
            .unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn a_format_3_store_is_upgraded_at_open_renaming_its_journal() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    for n in 0..5 {
        store.write(vec![Op::AddPending(transfer(n))]).unwrap();
    }
    // As format 3 left it: `pending-E.log`, the journal of a fold a crash
    // interrupted beside it.
    let copy = copy_store(dir.path());
    drop(store);
    let [journal] = &journals(copy.path())[..] else {
        panic!("one journal")
    };
    let old = journal.with_extension("log");
    std::fs::rename(journal, &old).unwrap();
    std::fs::write(copy.path().join("pending-9.log"), b"left by a fold").unwrap();
    let file = copy.path().join(STORE_FILE);
    set_format(&file, "3");
    assert!(journals(copy.path()).is_empty());

    let (copy_store, loaded) = open(copy.path());
    assert_eq!(loaded.pool, (0..5).map(transfer).collect::<Vec<_>>());
    assert_eq!(journals(copy.path()), vec![journal.clone()]);
    assert!(!old.exists());
    assert!(!copy.path().join("pending-9.log").exists());
    drop(copy_store);
    assert_eq!(
        format_of(&file),
        (node::store::FORMAT_VERSION.to_string(), false)
    );
}

#[test]
fn a_journal_adding_a_signature_the_database_holds_is_refused_naming_the_journal() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    // Transfer 1 in the `pending` table (a block folds the journal in), under arrival number 0.
    store.write(vec![Op::AddPending(transfer(1))]).unwrap();
    store
        .write(vec![Op::AppendBlock {
            block: block(2, 7, 4),
            mined: vec![],
        }])
        .unwrap();
    let copy = copy_store(dir.path());
    drop(store);
    // A journal whose one frame adds the same transfer again, under number 1,
    // with a valid checksum: no damage to see, but a pool it cannot be.
    let [journal] = &journals(copy.path())[..] else {
        panic!("one journal")
    };
    let header = std::fs::read(journal).unwrap()[..32].to_vec();
    let json = serde_json::to_vec(&transfer(1)).unwrap();
    let mut payload = vec![b'+'];
    payload.extend_from_slice(&1u64.to_le_bytes());
    payload.extend_from_slice(&(json.len() as u32).to_le_bytes());
    payload.extend_from_slice(&json);
    let mut bytes = header;
    bytes.extend_from_slice(&[0xf7, 0x5c, 0x9d, 0x22, 0xb1, 0x0e, 0x6a, 0xc3]);
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&<sha2::Sha256 as sha2::Digest>::digest(&payload)[..8]);
    bytes.extend_from_slice(&payload);
    std::fs::write(journal, &bytes).unwrap();

    let err = open_err(copy.path());
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&journal.display().to_string()),
        "the journal is named: {message}"
    );
    assert!(
        message.contains("pending transaction 1 has the same signature as pending transaction 0"),
        "{message}"
    );
    // Read whole but not fitting the database: set aside too, when asked.
    assert!(is_journal_error(&err));
    let (_store, loaded) = Store::open_with(
        copy.path(),
        &network(4),
        &genesis(),
        LostJournal::StartWithout,
    )
    .expect("the store opens without its journal");
    assert_eq!(loaded.pool, vec![transfer(1)]);
    assert!(journal.with_extension("journal.damaged").exists());
}

#[test]
fn a_lost_or_damaged_journal_is_set_aside_only_when_asked() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    // Transfers 0 and 1 in the database (a block folds them in), 2 to 4 in
    // the journal, a frame each.
    store
        .write(vec![
            Op::AddPending(transfer(0)),
            Op::AddPending(transfer(1)),
        ])
        .unwrap();
    store
        .write(vec![Op::AppendBlock {
            block: block(2, 7, 9),
            mined: vec![],
        }])
        .unwrap();
    for n in 2..5 {
        store.write(vec![Op::AddPending(transfer(n))]).unwrap();
    }
    let in_database: Vec<Transaction> = (0..2).map(transfer).collect();
    let open_dropping = |dir: &Path| {
        let (store, loaded) =
            Store::open_with(dir, &network(4), &genesis(), LostJournal::StartWithout)
                .expect("the store opens without its journal");
        let stored = stored(&store, loaded);
        (store, stored)
    };

    // Damaged: a byte of the first frame changed, whole frames after it.
    let damaged = copy_store(dir.path());
    let [journal] = &journals(damaged.path())[..] else {
        panic!("one journal")
    };
    let mut bytes = std::fs::read(journal).unwrap();
    bytes[32 + 20 + 40] ^= 1;
    std::fs::write(journal, &bytes).unwrap();
    let err = open_err(damaged.path());
    assert!(is_journal_error(&err), "{err}");
    let (store, loaded) = open_dropping(damaged.path());
    assert_eq!(
        loaded.pool, in_database,
        "the database's pool, nothing of the journal"
    );
    assert_eq!(loaded.blocks.len(), 2);
    let aside = journal.with_extension("journal.damaged");
    assert_eq!(std::fs::read(&aside).unwrap(), bytes, "kept as it was");
    assert_eq!(
        journals(damaged.path()),
        vec![journal.clone()],
        "a new journal"
    );
    // Writing goes on, and the next open needs no choice.
    store.write(vec![Op::AddPending(transfer(5))]).unwrap();
    let copy = copy_store(damaged.path());
    drop(store);
    let (_again, loaded) = open(copy.path());
    assert_eq!(
        loaded.pool,
        [in_database.clone(), vec![transfer(5)]].concat()
    );

    // Missing: nothing to keep.
    let missing = copy_store(dir.path());
    std::fs::remove_file(missing.path().join(journal.file_name().unwrap())).unwrap();
    assert!(is_journal_error(&open_err(missing.path())));
    let (_store, loaded) = open_dropping(missing.path());
    assert_eq!(loaded.pool, in_database);

    // Damage to the database is never the journal's to drop.
    let chain = StoreError::Corrupt {
        path: dir.path().join(STORE_FILE),
        detail: "a checksum".to_owned(),
    };
    assert!(!is_journal_error(&chain));
}

#[test]
fn a_long_journal_is_folded_into_the_database() {
    let _no_fork = no_fork();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let first = journals(dir.path());
    // Over 1 KB a transfer: 10,000 pass the 8 MiB at which the journal is folded.
    for batch in 0..20u32 {
        let ops = (batch * 500..(batch + 1) * 500)
            .map(|n| Op::AddPending(transfer(n)))
            .collect();
        store.write(ops).unwrap();
    }
    let now = journals(dir.path());
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, first, "a later epoch's journal");
    let copy = copy_store(dir.path());
    let (_copy_store, loaded) = open(copy.path());
    assert_eq!(loaded.pool, (0..10_000).map(transfer).collect::<Vec<_>>());
}

#[test]
fn an_interrupted_journal_write_is_dropped_and_damage_or_a_missing_journal_refused() {
    let dir = tempfile::tempdir().unwrap();
    run_and_kill("pool_child", dir.path(), Duration::from_millis(20));
    let _no_fork = no_fork();
    let pristine = {
        let copy = copy_store(dir.path());
        open(copy.path()).1
    };
    assert!(pristine.pool.len() >= 2, "at least two frames");
    let journal = journals(dir.path()).pop().expect("a journal");
    let name = journal.file_name().unwrap().to_owned();
    let bytes = std::fs::read(&journal).unwrap();

    // The file: a 32-byte header, frames of a 20-byte head (magic, length,
    // checksum) and a payload ending in a transfer's JSON, then zeros.
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    assert_eq!(
        bytes[end - 1],
        b'}',
        "the last frame ends with a transfer's JSON"
    );
    assert!(bytes.len() > end + 8192, "room is written ahead");

    // A write a crash interrupted after the last frame: some of its pages on
    // disk (a head and part of its payload, and a piece a page later).
    // Never acknowledged: dropped, and appending goes on after the last frame.
    let torn = copy_store(dir.path());
    let mut tail = bytes.clone();
    tail.copy_within(32..52, end);
    tail[end + 20..end + 80].fill(7);
    tail[end + 4096..end + 4196].fill(9);
    std::fs::write(torn.path().join(&name), &tail).unwrap();
    let (store, loaded) = open(torn.path());
    assert_eq!(loaded, pristine);
    store
        .write(vec![Op::AddPending(transfer(100_000))])
        .unwrap();
    let copy = copy_store(torn.path());
    drop(store);
    let (_again, loaded) = open(copy.path());
    assert_eq!(loaded.pool.last(), Some(&transfer(100_000)));
    assert_eq!(loaded.pool[..pristine.pool.len()], pristine.pool[..]);

    // A byte changed in the first frame, with more after it: damage.
    let damaged = copy_store(dir.path());
    let mut flipped = bytes.clone();
    flipped[32 + 20 + 40] ^= 1;
    std::fs::write(damaged.path().join(&name), &flipped).unwrap();
    let err = open_err(damaged.path());
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&damaged.path().join(&name).display().to_string()),
        "{message}"
    );
    assert!(message.contains("checksum"), "{message}");

    // The journal the database names is gone: refused, not an empty pool.
    let missing = copy_store(dir.path());
    std::fs::remove_file(missing.path().join(&name)).unwrap();
    let message = open_err(missing.path()).to_string();
    assert!(message.contains("is missing"), "{message}");
}

/// The chain a crash-test writer stores as version `v`: genesis, then 1 to 4
/// blocks all carrying proof `v`, and a pool holding transfer `v`.
fn version(v: u64) -> (Vec<Block>, Vec<Transaction>) {
    let blocks = (2..=2 + v % 4).map(|i| block(i, v, i as u32)).collect();
    (blocks, vec![transfer(v as u32)])
}

/// Run as a child process by the crash test: replaces the chain with ever newer
/// versions and prints each acknowledged version, until killed.
#[test]
#[ignore = "the child process of chain_replacement_is_atomic_and_durable_across_sigkill, which runs it"]
fn crash_child() {
    let dir = std::env::var("STORE_CRASH_DIR")
        .expect("run by the crash test, which sets STORE_CRASH_DIR");
    let (store, loaded) = open(Path::new(&dir));
    let mut v = loaded.blocks.get(1).map_or(0, |b| b.proof) + 1;
    let mut out = std::io::stdout().lock();
    loop {
        let (blocks, pool) = version(v);
        store
            .write(vec![Op::ReplaceChain {
                keep: 1,
                blocks,
                pool,
            }])
            .unwrap();
        writeln!(out, "acked {v}").unwrap();
        out.flush().unwrap();
        v += 1;
    }
}

/// SIGKILLs a process in the middle of chain replacements: after each restart
/// the store holds exactly one whole version, at least the last acknowledged.
/// `STORE_CRASH_ROUNDS` raises the number of rounds (default 10).
#[test]
fn chain_replacement_is_atomic_and_durable_across_sigkill() {
    let rounds: u32 = std::env::var("STORE_CRASH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let mut last_acked = 0;
    let mut total_acks = 0;
    for round in 0..rounds {
        let pause = Duration::from_millis(u64::from(round * 7 % 40));
        let (acked, newest) = run_and_kill("crash_child", dir.path(), pause);
        total_acks += newest + 1 - acked;

        let (store, loaded) = open(dir.path());
        drop(store);
        let v = loaded.blocks[1].proof;
        assert!(
            v == newest || v == newest + 1,
            "round {round}: stored version {v}, last acknowledged {newest}"
        );
        let (blocks, pool) = version(v);
        assert_eq!(
            loaded.blocks[1..],
            blocks[..],
            "round {round}: a mixed chain"
        );
        assert_eq!(loaded.pool, pool, "round {round}: a mixed pool");
        assert!(v > last_acked || round == 0);
        last_acked = v;
    }
    eprintln!("{rounds} SIGKILL rounds, {total_acks} acknowledged replacements, all intact");
}

/// A 4 MiB tmpfs mounted over a directory, unmounted when dropped (even when
/// the test fails). Mounting needs root: without it the test is skipped with
/// one printed line, except under `CI=true`, where that is a failure.
struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = {
            let _spawning = FORK.write().unwrap_or_else(|p| p.into_inner());
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
                .arg(dir)
                .stderr(Stdio::piped())
                .output()
        };
        match mounted {
            Ok(output) if output.status.success() => Some(Tmpfs {
                dir: dir.to_owned(),
            }),
            failed => {
                let why = match failed {
                    Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "cannot mount a tmpfs (CI runs as root): {why}"
                );
                println!("not run: cannot mount a tmpfs (needs root): {why}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _spawning = FORK.write().unwrap_or_else(|p| p.into_inner());
        let unmounted = Command::new("umount").arg(&self.dir).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            eprintln!("cannot unmount {}", self.dir.display());
        }
    }
}

/// Fills the file system of `dir` with a file until a write fails; returns its path.
fn fill(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xA5u8; 16 * 1024];
    while file.write_all(&chunk).is_ok() {}
    // A last partial chunk may have gone in; nothing more fits.
    while file.write_all(&chunk[..512]).is_ok() {}
    path
}

#[test]
fn a_failed_commit_degrades_the_store_until_it_is_reloaded_and_the_disk_has_room() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let Some(_tmpfs) = Tmpfs::mount(&data) else {
        return;
    };
    // Dropped before the tmpfs (which takes the fork lock to unmount).
    let _no_fork = no_fork();
    let (store, _) = open(&data);
    store
        .write(vec![Op::AppendBlock {
            block: block(2, 7, 0),
            mined: vec![],
        }])
        .unwrap();
    assert_eq!(store.degraded(), None);
    let filler = fill(&data);

    // Small commits may still fit in pages the file already holds: go on until one fails.
    let mut acknowledged = Vec::new();
    let (refused, error) = (1..2000)
        .find_map(|n| match store.write(vec![Op::AddPending(transfer(n))]) {
            Ok(()) => {
                acknowledged.push(transfer(n));
                None
            }
            Err(e) => Some((transfer(n), e)),
        })
        .expect("a commit fails on a full disk");
    assert!(matches!(error, StoreError::Io { .. }), "{error:?}");
    // Until the file is opened again, no snapshot can begin.
    assert!(matches!(store.reader(), Err(StoreError::Degraded { .. })));
    assert!(error.is_disk_failure());
    assert!(error.to_string().contains("No space left"), "{error}");
    assert_eq!(store.failures(), 1);
    assert_eq!(store.degraded(), Some(error.to_string()));

    // Every later write is refused, even a tiny one, naming the failure.
    match store.write(vec![Op::SetPeers(vec!["http://127.0.0.1:1".into()])]) {
        Err(StoreError::Degraded { detail, .. }) => assert_eq!(detail, error.to_string()),
        other => panic!("a write after the failure: {other:?}"),
    }
    // Writes cannot resume before the stored state was reloaded.
    assert!(matches!(store.probe(), Err(StoreError::Degraded { .. })));

    // The reload reads exactly what was acknowledged, even with the disk still full.
    let loaded = store
        .reload()
        .expect("the store reads again on a full disk");
    let loaded = stored(&store, loaded);
    assert_eq!(loaded.blocks.len(), 2);
    assert_eq!(loaded.pool, acknowledged);
    // Reads are served again from the reopened file while writes are refused.
    assert_eq!(read_all(&store.reader().unwrap()), loaded.blocks);
    assert!(!loaded.pool.contains(&refused));
    assert!(loaded.peers.is_empty());

    // No room: the probe fails and writes stay refused.
    assert!(store.probe().is_err());
    assert!(store.degraded().is_some());
    assert!(store.write(vec![Op::AddPending(transfer(5000))]).is_err());

    std::fs::remove_file(&filler).unwrap();
    store.probe().expect("the disk has room again");
    assert_eq!(store.degraded(), None);
    assert_eq!(store.failures(), 1);
    assert!(!data.join(node::store::PROBE_FILE).exists());
    // The writer's counters are the reloaded ones: the next block is 3.
    store
        .write(vec![
            Op::AddPending(transfer(5000)),
            Op::AppendBlock {
                block: block(3, 7, 1),
                mined: vec![signature(1)],
            },
        ])
        .unwrap();
    assert_eq!(
        store.reader().unwrap().block(3).unwrap(),
        Some(block(3, 7, 1))
    );
    drop(store);

    let (_store, loaded) = open(&data);
    assert_eq!(loaded.blocks.len(), 3);
    let mut expected: Vec<Transaction> = acknowledged.into_iter().skip(1).collect();
    expected.push(transfer(5000));
    assert_eq!(loaded.pool, expected);
}
