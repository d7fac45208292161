//! Benchmark: validating a 1,000-block chain with one signed transfer per block, in full and with a trusted prefix.
//!
//! `cargo bench -p node --bench validate`

mod common;

use std::time::Instant;

use node::chain::pow::PowTarget;
use node::chain::{Block, Chain, PreviousHash, Rules, Timestamp, Transaction};
use serde_json::Value;
use wallet::{Amount, Wallet};

const BLOCKS: usize = 1000;

fn main() {
    let rules = Rules::new(2, Amount::new(10).unwrap(), 0.0, 1000);
    let (alice, bob) = (Wallet::generate(), Wallet::generate());
    let started = Instant::now();
    let mut chain = Chain::new(&rules);
    let now = Timestamp::now().as_secs_f64();
    for n in 0..BLOCKS {
        // Alice mines every block and pays bob 1 from the second block on.
        let mut transactions = Vec::new();
        if n > 0 {
            transactions.push(common::signed(&alice, &bob, 1, n as u64));
        }
        transactions.push(Transaction::Reward {
            recipient: alice.address().clone(),
            amount: rules.mining_reward,
        });
        let tip = chain.tip();
        let block = Block {
            index: tip.index + 1,
            previous_hash: PreviousHash::Hash(*chain.tip_hash()),
            proof: PowTarget::after(tip, rules.difficulty)
                .first_valid_in(0..=u64::MAX)
                .expect("difficulty 2 has proofs"),
            timestamp: Timestamp::now(),
            transactions,
        };
        chain
            .push(block, &rules, now, false)
            .expect("the bench chain is valid");
    }
    println!(
        "built a chain of {} blocks in {:.1} s",
        chain.len(),
        started.elapsed().as_secs_f64()
    );
    let blocks = chain.blocks().to_vec();
    let values: Vec<Value> = blocks
        .iter()
        .map(|b| serde_json::to_value(b).unwrap())
        .collect();

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runs = 3;
    let time = |label: &str, f: &dyn Fn() -> Chain| {
        let mut best = f64::MAX;
        for _ in 0..runs {
            let started = Instant::now();
            let validated = f();
            best = best.min(started.elapsed().as_secs_f64());
            assert_eq!(validated.len(), BLOCKS + 1);
        }
        println!(
            "{label}: {:.1} ms for {} blocks ({:.0} blocks/s, best of {runs}, {threads} threads)",
            best * 1e3,
            BLOCKS + 1,
            (BLOCKS + 1) as f64 / best
        );
    };
    time("full validation", &|| {
        Chain::validate(blocks.clone(), &rules, now, &[]).unwrap()
    });
    time("full validation from JSON", &|| {
        Chain::from_values(&values, &rules, now, &[]).unwrap()
    });
    time("validation with all but the last block trusted", &|| {
        Chain::validate(blocks.clone(), &rules, now, &chain.hashes()[..BLOCKS]).unwrap()
    });
}
