//! Shared by the node benches: a signed transfer fixture, chains written straight into a store, the block counts to measure and the node binary.
#![allow(dead_code)] // Each bench uses its own part.

use std::path::{Path, PathBuf};

use node::chain::pow::PowTarget;
use node::chain::{Block, PreviousHash, Rules, Timestamp, Transaction};
use node::store::{NetworkId, Op, Store};
use wallet::{Address, Amount, Nonce, Wallet};

/// `from` pays `to` `amount` coins, signed, with `nonce` (which keeps each such transfer distinct).
pub fn signed(from: &Wallet, to: &Wallet, amount: u64, nonce: u64) -> Transaction {
    let amount = Amount::new(amount).expect("bench amounts are in range");
    let nonce = Nonce::new(nonce).expect("bench nonces are small");
    Transaction::sign(from, to.address(), amount, Some(nonce))
}

/// Block counts given as arguments (`cargo bench --bench NAME -- 1000 5000`),
/// else from the comma-separated list in `var`, else 10,000 and 100,000.
pub fn sizes_from_args_or_env(var: &str) -> Vec<u64> {
    // `cargo bench` adds `--bench`; any other flag is not a size either.
    let given: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .map(|arg| {
            arg.replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("arguments are block counts, got {arg:?}"))
        })
        .collect();
    if given.is_empty() {
        sizes_from_env(var)
    } else {
        given
    }
}

/// Block counts from the comma-separated list in `var`, else 10,000 and 100,000.
pub fn sizes_from_env(var: &str) -> Vec<u64> {
    std::env::var(var)
        .ok()
        .map(|list| {
            list.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{var} lists block counts, got {n:?}"))
                })
                .collect()
        })
        .unwrap_or_else(|| vec![10_000, 100_000])
}

/// The rules the store-built chains follow: `difficulty`, a reward of 1, genesis at 0.
pub fn chain_rules(difficulty: u32) -> Rules {
    Rules::new(
        difficulty,
        Amount::new(1).expect("1 is a valid amount"),
        0.0,
        1000,
    )
}

/// Transfers signed (in parallel) and written per batch: bounds memory at
/// about 1 KB per block of the batch, whatever the chain's length.
const BUILD_BATCH: u64 = 20_000;

/// Signs the transfers of blocks `from..to` (one per block, alternately
/// between `a` and `b`, nonce = block index) on every core, in block order.
fn sign_batch(a: &Wallet, b: &Wallet, from: u64, to: u64) -> Vec<Transaction> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (from..to)
                        .filter(|i| i % threads == t)
                        .map(|i| {
                            let (payer, payee) = if i % 2 == 1 { (a, b) } else { (b, a) };
                            (i, signed(payer, payee, 1, i))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(u64, Transaction)> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("a signing thread does not panic"))
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, t)| t).collect()
    })
}

/// Writes a valid chain of `count` blocks into a new store in `dir`, through
/// the store (no node, no HTTP): every block after the second holds one
/// signed transfer, alternately between two wallets, and each a reward.
/// Signing, the slow part, runs on every core, a batch at a time, with a
/// progress line on stderr per batch; returns how long signing took.
pub fn build_chain(dir: &Path, count: u64, difficulty: u32) -> std::time::Duration {
    let rules = chain_rules(difficulty);
    let (a, b) = (Wallet::generate(), Wallet::generate());
    let network = NetworkId {
        genesis: rules.genesis_hash,
        difficulty,
    };
    let (store, _) = Store::open(dir, &network, &rules.genesis).expect("a new store opens");
    let started = std::time::Instant::now();
    let mut signing = std::time::Duration::ZERO;
    let mut previous = rules.genesis.clone();
    let mut batch_from = 2;
    while batch_from <= count {
        let batch_to = (batch_from + BUILD_BATCH).min(count + 1);
        let signing_started = std::time::Instant::now();
        // Block 2 holds only its reward: transfers spend rewards from block 3 on.
        let mut transfers = sign_batch(&a, &b, batch_from.max(3), batch_to).into_iter();
        signing += signing_started.elapsed();
        let mut ops = Vec::with_capacity(1000);
        for index in batch_from..batch_to {
            let mut transactions = Vec::with_capacity(2);
            if index >= 3 {
                transactions.push(transfers.next().expect("one transfer per block from 3"));
            }
            // Rewards go to `a`; `b` only passes on the coin it was sent.
            transactions.push(Transaction::Reward {
                recipient: a.address().clone(),
                amount: rules.mining_reward,
            });
            let block = next_block(&previous, difficulty, transactions);
            previous = block.clone();
            ops.push(Op::AppendBlock {
                block,
                mined: Vec::new(),
            });
            if ops.len() == 1000 || index + 1 == batch_to {
                store
                    .write(std::mem::take(&mut ops))
                    .expect("the bench store accepts blocks");
            }
        }
        eprintln!(
            "building: {} of {count} blocks, {:.0} s",
            batch_to - 1,
            started.elapsed().as_secs_f64()
        );
        batch_from = batch_to;
    }
    signing
}

/// The block after `previous` holding `transactions`, with the first valid proof.
fn next_block(previous: &Block, difficulty: u32, transactions: Vec<Transaction>) -> Block {
    let index = previous.index + 1;
    let proof = PowTarget::after(previous, difficulty)
        .first_valid_in(0..=u64::MAX)
        .expect("a low difficulty has proofs among the first few hundred numbers");
    Block {
        index,
        previous_hash: PreviousHash::Hash(previous.hash()),
        proof,
        timestamp: Timestamp::from_secs_f64(1_763_769_600.25 + index as f64)
            .expect("a finite timestamp"),
        transactions,
    }
}

/// Writes a new store in `dir` whose chain funds each of `recipients`: one
/// block per recipient after genesis, holding only a reward of `reward` to
/// it. A node on this store must be started with that mining reward
/// (`SIGCHAIN_MINING_REWARD`) and `difficulty`, the default genesis otherwise.
pub fn fund_chain(dir: &Path, difficulty: u32, reward: u64, recipients: &[Address]) {
    let rules = Rules::new(
        difficulty,
        Amount::new(reward).expect("the bench reward is in range"),
        0.0,
        1000,
    );
    let network = NetworkId {
        genesis: rules.genesis_hash,
        difficulty,
    };
    let (store, _) = Store::open(dir, &network, &rules.genesis).expect("a new store opens");
    let mut previous = rules.genesis.clone();
    let mut ops = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let reward = Transaction::Reward {
            recipient: recipient.clone(),
            amount: rules.mining_reward,
        };
        let block = next_block(&previous, difficulty, vec![reward]);
        previous = block.clone();
        ops.push(Op::AppendBlock {
            block,
            mined: Vec::new(),
        });
    }
    store.write(ops).expect("the bench store accepts blocks");
}

/// The optimized node binary the benches start: `NODE_BIN`, else
/// `target/release/sigchain-node` beside the bench (`target/release/deps/NAME-HASH`).
pub fn node_bin() -> PathBuf {
    let bin = std::env::var_os("NODE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let me = std::env::current_exe().expect("the bench knows its own path");
            me.parent()
                .and_then(Path::parent)
                .expect("benches live in target/release/deps")
                .join("sigchain-node")
        });
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release -p node` first (or set NODE_BIN)",
        bin.display()
    );
    bin
}

/// The URL in the node's `sigchain node listening on URL` line, read from its
/// `stdout` (taken from the child, and read to its end meanwhile), or `None`
/// if the line did not come within `timeout`.
pub fn listening_url(
    stdout: std::process::ChildStdout,
    timeout: std::time::Duration,
) -> Option<String> {
    use std::io::{BufRead, BufReader};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("sigchain node listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    rx.recv_timeout(timeout).ok()
}
