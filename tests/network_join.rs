//! A fresh node joins (`/register_with`) a network whose chain has 20,000 blocks: it fetches the chain in pages, never whole in one answer, and its peak memory stays bounded.
//!
//! The long chain is written straight into a data directory through the
//! node's store (difficulty 1, reward-only blocks), as `node/benches/startup.rs`
//! does, so building it takes seconds; a real node then serves it.
//! Run `cargo build --workspace` first.

mod net;
mod support;

use std::path::Path;
use std::time::Duration;

use node::chain::pow::PowTarget;
use node::chain::{Block, PreviousHash, Rules, Timestamp, Transaction};
use node::store::{NetworkId, Op, Store};
use serde_json::json;
use support::{wait_until, NodeOptions, TestNode};
use wallet::{Amount, Wallet};

/// The length of the long chain.
const LENGTH: u64 = 20_000;
/// The most blocks a sync page holds (the node's page size).
const PAGE: u64 = 500;
/// Bound on the joiner's peak resident memory (VmHWM). Measured: about
/// 70 MiB on x86-64 Linux in a debug build, most of it the 20,000 blocks
/// the node keeps in memory once synced; the bound leaves room for a loaded
/// machine and a different allocator, while a sync holding whole-chain
/// answers (about 16 MB of JSON each, several times that parsed) would
/// exceed it.
const PEAK_RSS_KIB: u64 = 128 * 1024;
/// How long the whole sync may take in a debug build on a loaded 2-core machine.
const SYNC: Duration = Duration::from_secs(300);

/// Writes a valid chain of `count` blocks (difficulty 1, default genesis and reward) into `dir`.
fn build(dir: &Path, count: u64) {
    let rules = Rules::new(1, Amount::new(1).expect("1 is a valid amount"), 0.0, 1000);
    let miner = Wallet::generate();
    let network = NetworkId {
        genesis: rules.genesis_hash,
        difficulty: 1,
    };
    let (store, _) = Store::open(dir, &network, &rules.genesis).expect("a new store opens");
    let mut previous = rules.genesis.clone();
    let mut ops = Vec::new();
    for index in 2..=count {
        let proof = PowTarget::after(&previous, 1)
            .first_valid_in(0..=u64::MAX)
            .expect("difficulty 1 has proofs among the first few dozen numbers");
        let block = Block {
            index,
            previous_hash: PreviousHash::Hash(previous.hash()),
            proof,
            timestamp: Timestamp::from_secs_f64(1_763_769_600.25 + index as f64)
                .expect("a finite timestamp"),
            transactions: vec![Transaction::Reward {
                recipient: miner.address().clone(),
                amount: rules.mining_reward,
            }],
        };
        previous = block.clone();
        ops.push(Op::AppendBlock {
            block,
            mined: Vec::new(),
        });
        if ops.len() == 1000 || index == count {
            store
                .write(std::mem::take(&mut ops))
                .expect("the store accepts blocks");
        }
    }
}

/// A `VmHWM:`-style field of /proc/PID/status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("Linux has /proc/PID/status")
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("the field is in /proc/PID/status")
}

fn options() -> NodeOptions {
    NodeOptions {
        difficulty: 1,
        env: vec![("SIGCHAIN_SYNC_INTERVAL_MS".into(), "1000".into())],
        ..NodeOptions::default()
    }
}

#[test]
fn a_node_joins_a_long_chain_in_pages_with_bounded_memory() {
    let tmp = tempfile::tempdir().expect("a temporary directory can be made");
    let data = tmp.path().join("long");
    build(&data, LENGTH);
    // The chain was written without a node key: the serving node makes one.
    let mut serving = options();
    serving.args.push("--new-key".into());
    let server = TestNode::start_in(&data, serving).expect("the long chain's node starts");
    let joiner = TestNode::start_with(options());
    let (status, body) = net::post(
        &joiner.url,
        "/register_with",
        &json!({ "node_address": server.url }),
    );
    assert_eq!(status, 200, "register_with: {body}");

    let mut last = None;
    let synced = wait_until(SYNC, || {
        last = net::length_tip(&joiner.url);
        last.as_ref().is_some_and(|(l, _)| *l == LENGTH)
    });
    assert!(
        synced,
        "the joiner did not reach {LENGTH} blocks within {SYNC:?}: {last:?}"
    );
    assert_eq!(net::length_tip(&joiner.url), net::length_tip(&server.url));

    let peak = status_kib(joiner.pid().expect("the joiner runs"), "VmHWM:");
    // Every /chain request the server logged: at least one per page, so no
    // answer held the whole chain.
    let log = server.log_text();
    let chain_requests = log
        .lines()
        .filter(|l| l.contains("path=/chain ") || l.contains("path=\"/chain\""))
        .count() as u64;
    println!("joined {LENGTH} blocks: {chain_requests} /chain requests, peak RSS {peak} KiB");
    assert!(
        chain_requests >= (LENGTH - 1) / PAGE,
        "{chain_requests} /chain requests for {LENGTH} blocks: some answer held more than a page"
    );
    assert!(
        peak <= PEAK_RSS_KIB,
        "the joiner's peak RSS is {peak} KiB, over the bound of {PEAK_RSS_KIB} KiB"
    );
}
