//! End-to-end tests of the live network against peers that are not honest sigchain nodes: an announcer of blocks breaking each rule, a flood of announcements of unknown blocks, and a peer that behaves as the seed-002 Python node (whole-chain `/chain` only, Flask's HTML 404 elsewhere).
//!
//! Run `cargo build --workspace` first: the tests start `target/debug/sigchain-node`.

mod net;
mod support;

use std::sync::Arc;
use std::time::Duration;

use net::fake::{flask_404, Answer, RoutedPeer};
use net::{get, post};
use node::chain::pow::PowTarget;
use node::chain::{Block, PreviousHash, Timestamp, Transaction};
use serde_json::{json, Value};
use support::{NodeOptions, TestNode};
use wallet::{Address, Amount, Nonce, Wallet};

/// Proof-of-work difficulty of these networks.
const DIFFICULTY: u32 = 2;
/// The mining reward (the default).
const REWARD: u64 = 1;
/// The victim's `chain.max_block_transactions`, low so a too-large block is small.
const MAX_BLOCK_TRANSACTIONS: usize = 3;

fn options(env: &[(&str, &str)], args: &[&str]) -> NodeOptions {
    let mut all = vec![
        ("SIGCHAIN_SYNC_INTERVAL_MS", "500"),
        ("SIGCHAIN_TIMEOUT_MS", "2000"),
    ];
    all.extend_from_slice(env);
    NodeOptions {
        difficulty: DIFFICULTY,
        env: all
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..NodeOptions::default()
    }
}

fn amount(n: u64) -> Amount {
    Amount::new(n).expect("test amounts are small and positive")
}

fn signed(from: &Wallet, to: &Address, value: u64, nonce: u64) -> Transaction {
    let nonce = Nonce::new(nonce).expect("test nonces are small");
    Transaction::sign(from, to, amount(value), Some(nonce))
}

/// The block after `previous` holding `transactions` and a reward of `reward`, with a valid proof.
fn next_block(
    previous: &Block,
    mut transactions: Vec<Transaction>,
    reward: u64,
    miner: &Address,
) -> Block {
    transactions.push(Transaction::Reward {
        recipient: miner.clone(),
        amount: amount(reward),
    });
    let proof = PowTarget::after(previous, DIFFICULTY)
        .first_valid_in(0..=u64::MAX)
        .expect("a proof exists at a low difficulty");
    Block {
        index: previous.index + 1,
        previous_hash: PreviousHash::Hash(previous.hash()),
        proof,
        timestamp: Timestamp::now(),
        transactions,
    }
}

/// The node's chain as blocks.
fn blocks(node: &TestNode) -> Vec<Block> {
    node.chain()
        .iter()
        .map(|v| Block::from_value(v).expect("a node's blocks parse"))
        .collect()
}

fn announce(node: &TestNode, block: &Block) -> (u16, Value) {
    post(
        &node.url,
        "/add_block",
        &serde_json::to_value(block).expect("a block serializes"),
    )
}

#[test]
fn announced_blocks_breaking_a_rule_are_refused_and_change_nothing() {
    let max = MAX_BLOCK_TRANSACTIONS.to_string();
    let victim = TestNode::start_with(options(&[("SIGCHAIN_MAX_BLOCK_TRANSACTIONS", &max)], &[]));
    let owner = Wallet::from_secret(&victim.secret()).expect("a node's secret loads");
    let other = Wallet::generate();
    for _ in 0..4 {
        victim.mine();
    }
    // A transfer in the chain, for the replay.
    let paid = signed(&owner, other.address(), 1, 1);
    let (status, body) = post(
        &victim.url,
        "/transactions/new",
        &serde_json::to_value(&paid).expect("a transaction serializes"),
    );
    assert_eq!(status, 201, "{body}");
    victim.mine();
    let base = blocks(&victim);
    let tip = base.last().expect("a chain has a genesis block").clone();
    let miner = other.address();
    let to_owner = owner.address();
    let before = (victim.chain(), get(&victim.url, "/transactions").1);

    let broken = |transactions: Vec<Transaction>, reward: u64, tamper: &dyn Fn(&mut Block)| {
        let mut block = next_block(&tip, transactions, reward, miner);
        tamper(&mut block);
        block
    };
    let future = Timestamp::from_secs_f64(Timestamp::now().as_secs_f64() + 3.0 * 3600.0)
        .expect("a timestamp in three hours is valid");
    let cases: Vec<(&str, Block, &str)> = vec![
        (
            "bad proof",
            broken(Vec::new(), REWARD, &|b| {
                let target = PowTarget::after(&tip, DIFFICULTY);
                b.proof = (b.proof + 1..)
                    .find(|p| !target.check(*p))
                    .expect("most proofs are invalid");
            }),
            "proof",
        ),
        (
            "reward too high",
            broken(Vec::new(), REWARD + 1, &|_| {}),
            "reward is 2",
        ),
        (
            "bad signature",
            broken(vec![signed(&owner, miner, 2, 2)], REWARD, &|b| {
                if let Transaction::Signed { transfer, .. } = &mut b.transactions[0] {
                    transfer.amount = amount(1);
                }
            }),
            "signature",
        ),
        (
            "overspend",
            broken(vec![signed(&owner, miner, 1000, 3)], REWARD, &|_| {}),
            "cannot pay 1000",
        ),
        (
            "replay",
            broken(vec![paid.clone()], REWARD, &|_| {}),
            "replay",
        ),
        (
            "timestamp in the future",
            broken(Vec::new(), REWARD, &|b| b.timestamp = future.clone()),
            "2 hours ahead",
        ),
        (
            "too many transactions",
            broken(
                (0..MAX_BLOCK_TRANSACTIONS as u64)
                    .map(|n| signed(&owner, miner, 1, 10 + n))
                    .collect(),
                REWARD,
                &|_| {},
            ),
            "at most 3",
        ),
    ];
    for (name, block, needle) in &cases {
        let (status, body) = announce(&victim, block);
        assert_eq!(status, 422, "{name}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(needle),
            "{name}: {error:?} should say {needle:?}"
        );
    }
    let after = (victim.chain(), get(&victim.url, "/transactions").1);
    assert_eq!(
        after, before,
        "refused blocks changed the chain or the pool"
    );

    // The control: the same block with nothing broken is appended, once.
    let good = broken(vec![signed(&owner, to_owner, 1, 4)], REWARD, &|_| {});
    let (status, body) = announce(&victim, &good);
    assert_eq!(status, 201, "the unbroken block: {body}");
    let (status, body) = announce(&victim, &good);
    assert_eq!(status, 200, "the same block again: {body}");
    assert_eq!(victim.chain().len(), base.len() + 1);
}

/// `/health` of a peer at length `length` whose tip is made up.
fn health_of(length: u64) -> Answer {
    let body = json!({
        "status": "ok",
        "length": length,
        "tip": "00".repeat(32),
        "id": "a-fake-peer",
    });
    Answer::json("200 OK", body.to_string().into_bytes())
}

#[test]
fn a_flood_of_unknown_blocks_does_not_start_a_sync_each() {
    // The fake peer is as long as the victim: nothing to fetch, so each sync
    // round costs it exactly one /health request, which is what we count.
    // The node makes at most one asked-for round per second, so the bound
    // below (1% of the announcements) holds for floods of up to 100 s.
    let peer = RoutedPeer::start(Arc::new(|_: &str, path: &str| {
        if path.starts_with("/health") {
            health_of(1)
        } else {
            flask_404()
        }
    }));
    let victim = TestNode::start_with(options(&[("SIGCHAIN_SYNC_INTERVAL_MS", "60000")], &[]));
    let (status, body) = post(
        &victim.url,
        "/nodes/register",
        &json!({ "nodes": [peer.url] }),
    );
    assert_eq!(status, 201, "{body}");
    let tip = blocks(&victim).pop().expect("a chain has a genesis block");
    let miner = Wallet::generate();
    // Blocks that look valid but link to nothing the victim has, each
    // different (its proof), so no two are the same announcement.
    let mut unknown = next_block(&tip, Vec::new(), REWARD, miner.address());
    unknown.index += 5;
    unknown.previous_hash = PreviousHash::Hash(tip.hash());
    let body_of = |n: u64| {
        let mut block = unknown.clone();
        block.proof = n;
        serde_json::to_vec(&block).expect("a block serializes")
    };

    const FLOOD: usize = 10_000;
    const THREADS: usize = 4;
    let url = format!("{}/add_block", victim.url);
    let statuses: Vec<Vec<u16>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (url, body_of) = (&url, &body_of);
                scope.spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(20))
                        .no_proxy()
                        .build()
                        .expect("a client can be built");
                    (0..FLOOD / THREADS)
                        .map(|n| {
                            client
                                .post(url)
                                .header("content-type", "application/json")
                                .body(body_of((thread * FLOOD / THREADS + n) as u64))
                                .send()
                                .map_or(0, |r| r.status().as_u16())
                        })
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a flooding thread does not panic"))
            .collect()
    });
    let accepted = statuses.iter().flatten().filter(|s| **s == 202).count();
    assert_eq!(accepted, FLOOD, "every unknown block is answered 202");
    // Let the last asked-for round run (at most one per second), then count.
    std::thread::sleep(Duration::from_secs(3));
    let rounds = peer.count("/health");
    println!("{FLOOD} announcements of unknown blocks made {rounds} sync rounds");
    assert!(rounds >= 1, "an unknown block asks for a sync");
    assert!(
        rounds <= FLOOD / 100,
        "{FLOOD} announcements started {rounds} sync rounds: {:?}",
        peer.counts()
    );
    assert_eq!(victim.chain().len(), 1, "the flood changed the chain");
}

#[test]
fn a_seed_002_peer_is_resolved_with_and_never_hammered() {
    let a = TestNode::start_with(options(&[], &[]));
    let b = TestNode::start_with(options(&[], &["--peer", &a.url]));
    a.mine();
    let urls = vec![a.url.clone(), b.url.clone()];
    net::wait_converged_at_least(&urls, 2, "the two sigchain nodes");

    // The seed-002 node: a longer chain built on ours, served whole
    // whatever the query; no /health, /add_block or relay (Flask's 404).
    let mut chain = blocks(&a);
    let miner = Wallet::generate();
    for _ in 0..3 {
        let block = next_block(
            chain.last().expect("not empty"),
            Vec::new(),
            REWARD,
            miner.address(),
        );
        chain.push(block);
    }
    let whole = serde_json::to_vec(&json!({ "chain": chain, "length": chain.len() }))
        .expect("a chain serializes");
    let seed = RoutedPeer::start(Arc::new(move |method: &str, path: &str| {
        if method == "GET" && (path == "/chain" || path.starts_with("/chain?")) {
            Answer::json("200 OK", whole.clone())
        } else {
            flask_404()
        }
    }));
    for node in [&a, &b] {
        let (status, body) = post(
            &node.url,
            "/nodes/register",
            &json!({ "nodes": [seed.url] }),
        );
        assert_eq!(status, 201, "{body}");
    }

    // Resolve reaches it through the whole-chain path and adopts its chain.
    let (status, body) = get(&a.url, "/nodes/resolve");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Our chain was replaced", "{body}");
    let length = chain.len() as u64;
    // B learns it from A by itself (announce or background sync).
    let (_, tip) = net::wait_converged_at_least(&urls, length, "after adopting the seed's chain");
    assert_eq!(tip, chain.last().expect("not empty").hash().to_hex());

    // Sigchain nodes keep resolving each other's chains with it around.
    b.mine();
    net::wait_converged_at_least(&urls, length + 1, "after B mines");
    let (status, body) = get(&b.url, "/nodes/resolve");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Our chain is authoritative", "{body}");

    // Neither node retries the seed in a tight loop: over 5 s of ten sync
    // intervals each, the seed sees a handful of requests, not hundreds.
    let before = seed.counts().values().sum::<usize>();
    std::thread::sleep(Duration::from_secs(5));
    let during = seed.counts().values().sum::<usize>() - before;
    println!(
        "the seed-002 peer got {during} requests in 5 s: {:?}",
        seed.counts()
    );
    assert!(
        during <= 60,
        "the seed-002 peer got {during} requests in 5 s: {:?}",
        seed.counts()
    );
    for node in [&a, &b] {
        let (status, body) = get(&node.url, "/health");
        assert_eq!(status, 200, "{body}");
    }
}
