//! The multi-threaded, cancellable proof-of-work search.
//!
//! The search blocks the calling thread until a proof is found or it is
//! cancelled, and runs its workers on scoped OS threads: call it from
//! `spawn_blocking`, never on an async runtime thread.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::chain::pow::{PowTarget, MAX_DIFFICULTY};

/// How many consecutive proofs a worker takes at a time. Workers look at the
/// cancel flag between chunks: at about 10 M tries/s per core that is every
/// 0.4 ms, while the cost of handing out a chunk is negligible.
pub const CHUNK: u64 = 4096;

/// A proof-of-work search with a fixed number of threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Miner {
    threads: NonZeroUsize,
}

impl Miner {
    /// A miner with `threads` workers; 0 means one per available core.
    pub fn new(threads: usize) -> Self {
        Miner {
            threads: worker_count(threads),
        }
    }

    /// How many threads a search uses.
    pub fn threads(&self) -> usize {
        self.threads.get()
    }

    /// Searches for a proof valid against `target`; see [`mine`].
    pub fn search(&self, target: &PowTarget, cancel: &AtomicBool) -> Option<u64> {
        mine(target, self.threads.get(), cancel)
    }
}

/// The outcome of a search, with the work it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MineReport {
    /// A valid proof, or `None` if the search was cancelled first (or the
    /// difficulty is above [`MAX_DIFFICULTY`], where no proof exists).
    pub proof: Option<u64>,
    /// How many proofs were tried, over all threads.
    pub tries: u64,
}

/// Searches for a proof valid against `target` on `threads` threads (0: one
/// per available core), blocking until one is found or `cancel` is set.
///
/// Returns `None` if cancelled before a proof was found. Any valid proof may
/// be returned, not necessarily the smallest: workers take chunks of
/// [`CHUNK`] consecutive proofs in increasing order from 0.
pub fn mine(target: &PowTarget, threads: usize, cancel: &AtomicBool) -> Option<u64> {
    mine_with_report(target, threads, cancel).proof
}

/// [`mine`], also reporting how many proofs were tried (for benchmarks and logs).
pub fn mine_with_report(target: &PowTarget, threads: usize, cancel: &AtomicBool) -> MineReport {
    if target.difficulty() > MAX_DIFFICULTY {
        return MineReport {
            proof: None,
            tries: 0,
        };
    }
    let threads = worker_count(threads).get();
    let search = Search {
        target,
        cancel,
        next_chunk: AtomicU64::new(0),
        found: OnceLock::new(),
        tries: AtomicU64::new(0),
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| search.work());
        }
        // The calling thread is blocked anyway; let it be one of the workers.
        search.work();
    });
    MineReport {
        proof: search.found.get().copied(),
        tries: search.tries.into_inner(),
    }
}

fn worker_count(threads: usize) -> NonZeroUsize {
    NonZeroUsize::new(threads)
        .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
}

/// The state the workers of one search share.
struct Search<'a> {
    target: &'a PowTarget,
    cancel: &'a AtomicBool,
    /// The next chunk to hand out; chunk `k` is proofs `k * CHUNK ..= k * CHUNK + CHUNK - 1`.
    next_chunk: AtomicU64,
    /// The first proof found; set once, which also tells the others to stop.
    found: OnceLock<u64>,
    tries: AtomicU64,
}

impl Search<'_> {
    fn work(&self) {
        let mut tries = 0u64;
        // Relaxed is enough: the flags only tell workers to stop early, and
        // the result is read after the scope has joined every worker.
        while !self.cancel.load(Ordering::Relaxed) && self.found.get().is_none() {
            let chunk = self.next_chunk.fetch_add(1, Ordering::Relaxed);
            // 2^52 chunks cover every u64 proof; past them the search is over.
            let Some(first) = chunk.checked_mul(CHUNK) else {
                break;
            };
            let last = first + (CHUNK - 1);
            match self.target.first_valid_in(first..=last) {
                Some(proof) => {
                    tries += proof - first + 1;
                    // Another worker may have won the race; either proof is valid.
                    let _ = self.found.set(proof);
                }
                None => tries += CHUNK,
            }
        }
        self.tries.fetch_add(tries, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::pow::valid_proof;
    use crate::chain::BlockHash;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn target(difficulty: u32) -> PowTarget {
        PowTarget::new(100, BlockHash([0x3b; 32]), difficulty)
    }

    #[test]
    fn finds_a_valid_proof_on_one_and_several_threads() {
        let cancel = AtomicBool::new(false);
        for threads in [1, 2, 3, 0] {
            let target = target(3);
            let report = mine_with_report(&target, threads, &cancel);
            let proof = report
                .proof
                .expect("difficulty 3 has proofs and nobody cancels");
            assert!(valid_proof(100, proof, target.last_hash(), 3));
            assert!(report.tries >= 1);
        }
    }

    #[test]
    fn one_thread_finds_the_smallest_proof() {
        let target = target(3);
        let smallest = (0..).find(|&p| target.check(p)).expect("a proof exists");
        let report = mine_with_report(&target, 1, &AtomicBool::new(false));
        assert_eq!(report.proof, Some(smallest));
        assert_eq!(report.tries, smallest + 1);
    }

    #[test]
    fn cancelling_stops_an_impossible_search() {
        let cancel = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let canceller = {
            let cancel = Arc::clone(&cancel);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                cancel.store(true, Ordering::Relaxed);
            })
        };
        let report = mine_with_report(&target(MAX_DIFFICULTY), 2, &cancel);
        canceller
            .join()
            .expect("the canceller thread does not panic");
        assert_eq!(report.proof, None);
        assert!(report.tries > 0, "it searched before being cancelled");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "cancel took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn an_already_cancelled_search_tries_nothing() {
        let report = mine_with_report(&target(4), 2, &AtomicBool::new(true));
        assert_eq!(
            report,
            MineReport {
                proof: None,
                tries: 0
            }
        );
    }

    #[test]
    fn impossible_difficulty_returns_at_once() {
        let report = mine_with_report(&target(MAX_DIFFICULTY + 1), 2, &AtomicBool::new(false));
        assert_eq!(report.proof, None);
    }

    #[test]
    fn zero_threads_means_every_core() {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(Miner::new(0).threads(), cores);
        assert_eq!(Miner::new(3).threads(), 3);
        let proof = Miner::new(2)
            .search(&target(2), &AtomicBool::new(false))
            .expect("difficulty 2 has proofs");
        assert!(target(2).check(proof));
    }
}
