//! Render time and size of the explorer's pages at 100,000 blocks: the overview, a block page and an address page (`cargo bench -p node --bench web`).
//!
//! Builds the chain directly into a store (difficulty 1, reward 1): every
//! block pays its reward to one miner, so the miner's address page pages
//! through 100,000 entries, and every 100th block also holds a signed
//! transfer from the miner to a second wallet. The state is then restored
//! from the store as a node's start-up does, so pages of old blocks read
//! them from the store. Each page is rendered `RENDERS` times with the same
//! code the handlers run under the state's lock; p50 and p99 are printed
//! with the page's size. `WEB_BENCH_BLOCKS` overrides the block count.

mod common;

use std::time::{Duration, Instant};

use std::path::Path;

use node::chain::pow::PowTarget;
use node::chain::{Rules, Signatures, Timestamp};
use node::service::restore_state;
use node::state::State;
use node::store::{NetworkId, Op, Store};
use node::web::explorer::render;
use wallet::{Amount, Wallet};

const RENDERS: usize = 500;

/// Mines `blocks` blocks into a store in `dir`, then restores the state from it.
fn build(dir: &Path, blocks: u64, miner: &Wallet, friend: &Wallet) -> State {
    let rules = Rules::new(1, Amount::ONE, 0.0, 1000);
    let network = NetworkId {
        genesis: rules.genesis_hash,
        difficulty: rules.difficulty,
    };
    let (store, _) = Store::open(dir, &network, &rules.genesis).expect("a new store opens");
    let mut state = State::new(rules.clone(), 10_000);
    let mut ops = Vec::new();
    for n in 2..=blocks {
        if n % 100 == 0 {
            let transfer = common::signed(miner, friend, 1, n);
            state.admit(transfer).expect("the miner has coins by then");
        }
        let job = state.mining_job();
        let proof = PowTarget::new(job.last_proof, job.last_hash, 1)
            .first_valid_in(0..=u64::MAX)
            .expect("some proof is valid at difficulty 1");
        let mined = state
            .complete_block(&job, proof, miner.address(), Timestamp::now())
            .expect("nothing else changes the state");
        ops.push(Op::AppendBlock {
            block: mined.block,
            mined: Vec::new(),
        });
        if ops.len() == 1000 {
            store
                .write(std::mem::take(&mut ops))
                .expect("the store takes the blocks");
        }
    }
    store.write(ops).expect("the store takes the blocks");
    let started = Instant::now();
    let (restored, _) = restore_state(&store, rules, 10_000, Vec::new(), Signatures::TrustStored)
        .expect("the stored chain is valid");
    println!(
        "state of {blocks} blocks restored from the store in {:.1?}",
        started.elapsed()
    );
    assert_eq!(restored.chain().hashes(), state.chain().hashes());
    assert_eq!(restored.index(), state.index());
    restored
}

/// Renders `page` `RENDERS` times; prints p50, p99 and the size in bytes.
fn measure(name: &str, mut page: impl FnMut() -> String) {
    let size = page().len();
    let mut times: Vec<Duration> = (0..RENDERS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(page());
            started.elapsed()
        })
        .collect();
    times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<28} p50 {:>9.1?}  p99 {:>9.1?}  size {size:>7} bytes",
        p(0.50),
        p(0.99)
    );
}

fn main() {
    let blocks: u64 = std::env::var("WEB_BENCH_BLOCKS")
        .ok()
        .map(|n| n.parse().expect("WEB_BENCH_BLOCKS is a block count"))
        .unwrap_or(100_000);
    let (miner, friend) = (Wallet::generate(), Wallet::generate());
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let state = build(dir.path(), blocks, &miner, &friend);
    println!(
        "state of {blocks} blocks built in {:.1?} ({RENDERS} renders per page)",
        started.elapsed()
    );
    let peers: Vec<String> = (1..=8).map(|p| format!("10.0.0.{p}:5000")).collect();
    measure("overview", || {
        render::overview(&state, miner.address(), peers.clone()).expect("blocks read back")
    });
    let tip = state.chain().tip_hash().to_hex();
    measure("block page (by hash)", || {
        render::block(&state, &tip, None)
            .expect("the tip exists")
            .expect("blocks read back")
    });
    let middle = (blocks / 2 / 100 * 100).to_string();
    measure("block page (by index)", || {
        render::block(&state, &middle, None)
            .expect("the block exists")
            .expect("blocks read back")
    });
    measure("address page 1 (miner)", || {
        render::address(&state, miner.address(), None).expect("blocks read back")
    });
    measure("address page 2000 (miner)", || {
        render::address(&state, miner.address(), Some("2000")).expect("blocks read back")
    });
    measure("address page 1 (payee)", || {
        render::address(&state, friend.address(), None).expect("blocks read back")
    });
}
