//! Block hashing throughput: canonical JSON plus SHA-256 of a block with one signed transfer and a reward (`cargo bench -p node --bench hashing`).

mod common;

use std::hint::black_box;
use std::time::Instant;

use node::chain::{python_json, Block, BlockHash, PreviousHash, Timestamp, Transaction};
use serde_json::Value;
use sha2::{Digest, Sha256};
use wallet::{Amount, Wallet};

const RUNS: usize = 3;
const HASHES: u32 = 200_000;

fn best_rate(mut run: impl FnMut()) -> f64 {
    (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            run();
            f64::from(HASHES) / started.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn main() {
    let alice = Wallet::generate();
    let miner = Wallet::generate();
    let block = Block {
        index: 2,
        previous_hash: PreviousHash::Hash(Block::genesis(0.0).hash()),
        proof: 42_545,
        timestamp: Timestamp::from_secs_f64(1_763_769_600.123_456).expect("finite"),
        transactions: vec![
            common::signed(&alice, &miner, 5, 1),
            Transaction::Reward {
                recipient: miner.address().clone(),
                amount: Amount::new(1).expect("1 is a valid amount"),
            },
        ],
    };
    let canonical = python_json(&block);
    let value: Value = serde_json::from_slice(&canonical).expect("canonical JSON is JSON");
    println!("block: {} bytes of canonical JSON", canonical.len());

    let typed = best_rate(|| {
        for _ in 0..HASHES {
            black_box(black_box(&block).hash());
        }
    });
    println!("Block::hash (typed block):        {:9.0} blocks/s", typed);

    let digest_only = best_rate(|| {
        for _ in 0..HASHES {
            black_box(Sha256::digest(black_box(&canonical)));
        }
    });
    println!(
        "sha256 of the bytes alone:        {:9.0} blocks/s",
        digest_only
    );

    let generic = best_rate(|| {
        for _ in 0..HASHES {
            let hash = BlockHash(Sha256::digest(python_json(black_box(&value))).into());
            black_box(hash);
        }
    });
    println!("sha256(python_json(Value)):       {:9.0} blocks/s", generic);

    assert_eq!(
        block.hash(),
        BlockHash(Sha256::digest(python_json(&value)).into())
    );
}
