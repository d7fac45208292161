//! Store start-up cost: open+load time, RSS and disk bytes per block for 10,000 and 100,000 stored blocks (`cargo bench -p node --bench store`).
//!
//! Each block holds one signed transfer and a reward, like a busy chain. The
//! stores are built once (in `STORE_BENCH_DIR`, default a temporary directory),
//! then each is opened by a fresh child process of this binary, so the RSS
//! figure is that of a process that did nothing but load the store.
//! `STORE_BENCH_SIZES=1000,5000` overrides the sizes.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use node::chain::{Block, BlockHash, PreviousHash, Timestamp, Transaction};
use node::store::{NetworkId, Op, Store, STORE_FILE};
use wallet::{Amount, Nonce, Wallet};

const DIFFICULTY: u32 = 4;
const BLOCKS_PER_COMMIT: u64 = 1_000;

fn genesis() -> Block {
    Block::genesis(1_763_769_600.0)
}

fn network() -> NetworkId {
    NetworkId {
        genesis: genesis().hash(),
        difficulty: DIFFICULTY,
    }
}

/// Resident and peak memory of this process, in KiB, from /proc/self/status.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux has /proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time this thread has used (from /proc/thread-self/schedstat): the
/// machine is shared, so wall time alone says little.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// Builds a store of `count` blocks in `dir` (unless one is already there).
fn build(dir: &Path, count: u64) {
    if dir.join(STORE_FILE).exists() {
        return;
    }
    let alice = Wallet::generate();
    let miner = Wallet::generate();
    // One signed template; blocks differ in index, previous hash, proof, nonce
    // and timestamp, which is all a store's size depends on.
    // (The store does not verify, so one signature serves every nonce.)
    let Transaction::Signed {
        transfer,
        signature,
    } = common::signed(&alice, &miner, 5, 1)
    else {
        unreachable!("common::signed makes a signed transfer")
    };
    let (store, _) = Store::open(dir, &network(), &genesis()).expect("a new store opens");
    let mut previous = genesis().hash();
    let started = Instant::now();
    let mut index = 2;
    while index <= count {
        let last = (index + BLOCKS_PER_COMMIT - 1).min(count);
        let ops = (index..=last)
            .map(|i| {
                let mut transfer = transfer.clone();
                transfer.nonce = Some(Nonce::new(i).expect("block indexes are small"));
                let block = Block {
                    index: i,
                    previous_hash: PreviousHash::Hash(previous),
                    proof: i * 7_919,
                    timestamp: Timestamp::from_secs_f64(1_763_769_600.123_456 + i as f64)
                        .expect("finite"),
                    transactions: vec![
                        Transaction::Signed {
                            transfer,
                            signature: signature.clone(),
                        },
                        Transaction::Reward {
                            recipient: miner.address().clone(),
                            amount: Amount::new(1).expect("1 is a valid amount"),
                        },
                    ],
                };
                // A cheap stand-in for the real hash; the store does not check links.
                previous = BlockHash([(i % 251) as u8; 32]);
                Op::AppendBlock {
                    block,
                    mined: Vec::new(),
                }
            })
            .collect();
        store.write(ops).expect("the bench store accepts blocks");
        index = last + 1;
    }
    eprintln!(
        "built {count} blocks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Child process: open and load one store, print one line of figures.
fn measure(dir: &Path) {
    let (rss_before, _) = memory_kib();
    let started = Instant::now();
    let cpu_before = thread_cpu();
    let (store, loaded) = Store::open(dir, &network(), &genesis()).expect("the bench store opens");
    // Blocks are not read at open: read and decode them all, as a start-up does.
    let reader = store.reader().expect("a reader opens");
    let mut read = 0u64;
    for block in reader.blocks(1, loaded.length + 1) {
        block.expect("every bench block reads");
        read += 1;
    }
    assert_eq!(read, loaded.length);
    drop(reader);
    let open_load_cpu = thread_cpu() - cpu_before;
    let open_load = started.elapsed();
    let (rss_after, peak) = memory_kib();
    let blocks = loaded.length;
    drop(store);

    // redb's share: opening with the integrity check the store asks for, and without.
    let file = dir.join(STORE_FILE);
    let raw_open = |check: bool| {
        let cpu_before = thread_cpu();
        let db = redb::Database::builder()
            .set_cache_size(4 << 20)
            .set_check_integrity_on_open(check)
            .open(&file)
            .expect("the bench store is a redb file");
        let cpu = thread_cpu() - cpu_before;
        drop(db);
        cpu
    };
    let checked = raw_open(true);
    let unchecked = raw_open(false);

    let metadata = std::fs::metadata(&file).expect("the store file exists");
    // redb grows the file ahead of use; allocated blocks are what the disk holds.
    let allocated = metadata.blocks() * 512;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "{blocks:>7} blocks: open+load {:>5.0} ms wall / {:>5.0} ms CPU \
         (redb open: {:.0} ms CPU with its integrity check, {:.0} ms without); \
         RSS {:.1} MiB after load ({:.1} before, peak {:.1}); \
         file {:.1} MiB, {:.1} MiB allocated = {} / {} bytes per block",
        open_load.as_secs_f64() * 1e3,
        open_load_cpu.as_secs_f64() * 1e3,
        checked.as_secs_f64() * 1e3,
        unchecked.as_secs_f64() * 1e3,
        rss_after as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0,
        mib(metadata.len()),
        mib(allocated),
        metadata.len() / blocks,
        allocated / blocks,
    );
    drop(loaded);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--measure") {
        measure(Path::new(&args[at + 1]));
        return;
    }
    let sizes = common::sizes_from_env("STORE_BENCH_SIZES");
    let temporary;
    let root: PathBuf = match std::env::var_os("STORE_BENCH_DIR") {
        Some(dir) => dir.into(),
        None => {
            temporary = tempfile::tempdir().expect("a temporary directory");
            temporary.path().to_owned()
        }
    };
    let me = std::env::current_exe().expect("the bench knows its own path");
    for count in sizes {
        let dir = root.join(format!("blocks-{count}"));
        build(&dir, count);
        for _ in 0..2 {
            let status = Command::new(&me)
                .arg("--measure")
                .arg(&dir)
                .status()
                .expect("the bench can run itself");
            assert!(status.success(), "measuring {} failed", dir.display());
        }
    }
}
