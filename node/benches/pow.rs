//! Proof-of-work throughput: tries per second on one thread and on all threads (`cargo bench -p node --bench pow`).
//!
//! Hand-written timing (no harness): each figure is the best of a few runs,
//! since the machine is shared and the best run is the least disturbed.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use node::chain::pow::{PowTarget, MAX_DIFFICULTY};
use node::chain::{Block, BlockHash};
use node::miner::{mine, mine_with_report};

const RUNS: usize = 3;

fn best_rate(mut run: impl FnMut() -> (u64, Duration)) -> f64 {
    (0..RUNS)
        .map(|_| {
            let (tries, took) = run();
            tries as f64 / took.as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// Runs the parallel miner on a target no proof meets for `seconds`.
fn miner_rate(threads: usize, seconds: f64) -> f64 {
    // Difficulty 64 asks for an all-zero digest: never found, so every
    // thread searches until cancelled.
    let target = PowTarget::new(1, BlockHash([0x63; 32]), MAX_DIFFICULTY);
    best_rate(|| {
        let cancel = AtomicBool::new(false);
        let started = Instant::now();
        let report = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_secs_f64(seconds));
                cancel.store(true, Ordering::Relaxed);
            });
            mine_with_report(&target, threads, &cancel)
        });
        assert_eq!(report.proof, None);
        (report.tries, started.elapsed())
    })
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let target = PowTarget::new(1, BlockHash([0x63; 32]), MAX_DIFFICULTY);
    const TRIES: u64 = 10_000_000;

    // One proof at a time, as validation checks them (message laid out per call).
    let check = best_rate(|| {
        let started = Instant::now();
        let mut valid = 0u64;
        for proof in 1_000_000..1_000_000 + TRIES {
            valid += u64::from(target.check(black_box(proof)));
        }
        assert_eq!(valid, 0);
        (TRIES, started.elapsed())
    });
    println!(
        "pow check(), 1 thread:                 {:6.2} M tries/s",
        check / 1e6
    );

    // The search loop one worker runs: digits counted up in place.
    let sequential = best_rate(|| {
        let started = Instant::now();
        let found = target.first_valid_in(black_box(1_000_000..=1_000_000 + TRIES - 1));
        assert_eq!(found, None);
        (TRIES, started.elapsed())
    });
    println!(
        "pow first_valid_in(), 1 thread:        {:6.2} M tries/s",
        sequential / 1e6
    );

    let one = miner_rate(1, 2.0);
    println!(
        "pow mine(), 1 thread:                  {:6.2} M tries/s",
        one / 1e6
    );
    let all = miner_rate(cores, 2.0);
    println!(
        "pow mine(), {cores} threads (all cores):   {:6.2} M tries/s",
        all / 1e6
    );

    // Time to mine real blocks at the default difficulty 4 and at 5.
    for difficulty in [4, 5] {
        let cancel = AtomicBool::new(false);
        let mut previous = Block::genesis(0.0);
        let blocks = 20;
        let started = Instant::now();
        for index in 2..2 + blocks {
            let target = PowTarget::after(&previous, difficulty);
            let proof = mine(&target, cores, &cancel).expect("nobody cancels");
            previous = Block {
                index,
                previous_hash: node::chain::PreviousHash::Hash(previous.hash()),
                proof,
                ..previous
            };
        }
        let mean = started.elapsed() / blocks as u32;
        println!("mine {blocks} blocks at difficulty {difficulty}, {cores} threads: {mean:>9.2?} per block");
    }
}
