//! Persistence end to end: chain, pool, peers and key survive a stop or a crash; damaged stores, another network's store and a busy data directory are refused at start-up.
//!
//! Every node here is the real `node` binary on a free loopback port. The
//! crash test kills it with SIGKILL at random moments under load; set
//! `SIGCHAIN_CRASH_ROUNDS` for more rounds than the default 20, and
//! `SIGCHAIN_CRASH_SEED` to replay a run's random delays.

mod support;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use node::chain::{BlockHash, Chain, Rules, Transaction};
use serde_json::{json, Value};
use support::{http, urlencode, NodeOptions, TestNode, HTTP_TIMEOUT, START_TIMEOUT};
use wallet::{Amount, Nonce, Wallet};

const STORE_FILE: &str = "chain.redb";
const KEY_FILE: &str = "node.key";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A signed transfer as `POST /transactions/new` takes it, with its signature.
fn signed(from: &Wallet, to: &Wallet, amount: u64, nonce: u64) -> (String, Value) {
    let amount = Amount::new(amount).expect("test amounts are in range");
    let nonce = Nonce::new(nonce).expect("test nonces are in range");
    let transaction = Transaction::sign(from, to.address(), amount, Some(nonce));
    let signature = transaction
        .signature()
        .expect("a signed transfer")
        .to_string();
    let body = serde_json::to_value(&transaction).expect("a transaction is JSON");
    (signature, body)
}

fn submit(node: &TestNode, body: &Value) {
    let (status, answer) = node.post("/transactions/new", body);
    assert_eq!(status, 201, "submitting a funded transfer: {answer}");
}

/// Everything a restart must keep, as the API serves it.
#[derive(Debug, PartialEq)]
struct Snapshot {
    chain: Value,
    pool: Value,
    peers: Value,
    wallet: Value,
}

fn snapshot(node: &TestNode) -> Snapshot {
    let get = |path: &str| {
        let (status, body) = node.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    };
    Snapshot {
        chain: get("/chain"),
        pool: get("/transactions"),
        peers: get("/nodes"),
        wallet: get("/wallet"),
    }
}

/// The signatures of the signed transactions in a list of transactions.
fn signatures(transactions: &Value) -> Vec<String> {
    transactions
        .as_array()
        .expect("transactions are a list")
        .iter()
        .filter_map(|tx| tx["signature"].as_str().map(str::to_owned))
        .collect()
}

/// How a start attempt ended: listening, or exited with its stderr.
enum Attempt {
    Started { node: Running, url: String },
    Exited { status: ExitStatus, stderr: String },
}

/// A node process started by `attempt`, killed (SIGKILL) when dropped, so a
/// failing assertion leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `node` on `dir` and waits (bounded) until it listens or exits.
/// stderr goes to a file so a running node never blocks on a full pipe.
fn attempt(dir: &Path, options: &NodeOptions) -> Attempt {
    let log = dir.with_extension(format!(
        "attempt-{}.log",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_nanos()
    ));
    let stderr = fs::File::create(&log).expect("the attempt log can be created");
    let mut child = TestNode::command(dir, options)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the node binary runs");
    let outcome = match support::listening_url(&mut child).recv_timeout(START_TIMEOUT) {
        Ok(url) => Attempt::Started {
            node: Running(child),
            url,
        },
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // stdout closed without a listening line: the node is exiting.
            let deadline = Instant::now() + Duration::from_secs(10);
            let status = loop {
                if let Some(status) = child.try_wait().expect("the child can be polled") {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("node closed stdout but did not exit within 10 s");
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            Attempt::Exited {
                status,
                stderr: fs::read_to_string(&log).unwrap_or_default(),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("node neither listened nor exited within {START_TIMEOUT:?}");
        }
    };
    let _ = fs::remove_file(&log);
    outcome
}

/// Starts a node that must refuse to start; checks the one-line error and returns it.
fn refused(dir: &Path, options: &NodeOptions, what: &str) -> String {
    match attempt(dir, options) {
        Attempt::Started { node, .. } => {
            drop(node);
            panic!("{what}: the node started instead of refusing");
        }
        Attempt::Exited { status, stderr } => {
            assert_clean_refusal(status, &stderr, what);
            let line = stderr
                .lines()
                .find(|l| l.starts_with("sigchain-node: "))
                .expect("checked above")
                .to_owned();
            eprintln!("{what}: {line}");
            line
        }
    }
}

fn assert_clean_refusal(status: ExitStatus, stderr: &str, what: &str) {
    assert_eq!(
        status.code(),
        Some(1),
        "{what}: exit status; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{what}: a panic instead of an error:\n{stderr}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("sigchain-node: "))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "{what}: exactly one `sigchain-node: ` error line expected:\n{stderr}"
    );
    assert_eq!(
        stderr.lines().last(),
        Some(errors[0]),
        "{what}: the error is the last line:\n{stderr}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("the copy's directory can be made");
    for entry in fs::read_dir(from).expect("the data directory is readable") {
        let entry = entry.expect("a directory entry");
        // fs::copy keeps the permission bits, so the key stays 0600.
        fs::copy(entry.path(), to.join(entry.file_name())).expect("a data file can be copied");
    }
}

/// A stopped node's data directory with a few blocks, a pending transfer and a peer,
/// and what the node served before it stopped.
struct StoredNode {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    options: NodeOptions,
    before: Snapshot,
}

fn stored_node() -> StoredNode {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("data");
    let options = NodeOptions {
        env: vec![("SIGCHAIN_MINING_REWARD".into(), "10".into())],
        ..NodeOptions::default()
    };
    let mut node = TestNode::start_in(&dir, options.clone()).expect("a new node starts");
    let me = Wallet::from_secret(&node.secret()).expect("the node's secret is a valid secret");
    let friend = Wallet::generate();
    node.mine();
    for nonce in 0..3 {
        submit(&node, &signed(&me, &friend, 1, nonce).1);
        node.mine();
    }
    submit(&node, &signed(&me, &friend, 2, 3).1);
    let (status, body) = node.post("/nodes/register", &json!({"nodes": ["127.0.0.1:9"]}));
    assert_eq!(status, 201, "{body}");
    let before = snapshot(&node);
    assert!(node.stop(), "the node stops cleanly on SIGTERM");
    StoredNode {
        _tmp: tmp,
        dir,
        options,
        before,
    }
}

impl StoredNode {
    /// A copy of the data directory to damage.
    fn copy(&self, name: &str) -> PathBuf {
        let copy = self.dir.with_file_name(name);
        copy_dir(&self.dir, &copy);
        copy
    }

    /// Starts on `dir`: it must either refuse cleanly, naming the store file,
    /// or serve exactly what was stored. Returns whether it refused.
    fn refuses_or_serves_the_same(&self, dir: &Path, what: &str) -> bool {
        match attempt(dir, &self.options) {
            Attempt::Exited { status, stderr } => {
                assert_clean_refusal(status, &stderr, what);
                let file = dir.join(STORE_FILE);
                assert!(
                    stderr.contains(&file.display().to_string()),
                    "{what}: the error names {}:\n{stderr}",
                    file.display()
                );
                true
            }
            Attempt::Started { node, url } => {
                let get = |path: &str| http("GET", &format!("{url}{path}"), None, HTTP_TIMEOUT).1;
                let served = (get("/chain"), get("/transactions"), get("/nodes"));
                drop(node);
                assert!(
                    served.0 == self.before.chain
                        && served.1 == self.before.pool
                        && served.2 == self.before.peers,
                    "{what}: the node started on a damaged store and serves other data"
                );
                false
            }
        }
    }
}

/// Every offset at which `needle` occurs in `haystack`.
fn occurrences(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, window)| *window == needle)
        .map(|(at, _)| at)
        .collect()
}

/// A small deterministic generator (xorshift64*) for delays and garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------------------
// 1. Restart
// ---------------------------------------------------------------------------

/// Submits, mines, registers peers and leaves transfers pending; stops the
/// node (SIGTERM) or kills it (SIGKILL); starts it on the same directory and
/// checks that chain, pool (in order), peers, address and balance are the
/// same, and that the coins mined before can be spent.
fn restart_keeps_everything(crash: bool) {
    let options = NodeOptions {
        env: vec![("SIGCHAIN_MINING_REWARD".into(), "10".into())],
        ..NodeOptions::default()
    };
    let mut node = TestNode::start_with(options);
    let me = Wallet::from_secret(&node.secret()).expect("the node's secret is a valid secret");
    let friend = Wallet::generate();
    node.mine();
    node.mine();
    for nonce in 0..2 {
        submit(&node, &signed(&me, &friend, 3, nonce).1);
    }
    let block = node.mine();
    assert_eq!(
        signatures(&block["transactions"]).len(),
        2,
        "the mined block holds both transfers: {block}"
    );
    let peers = json!({"nodes": ["127.0.0.1:9", "http://127.0.0.1:10", "localhost:11"]});
    let (status, body) = node.post("/nodes/register", &peers);
    assert_eq!(status, 201, "{body}");
    // Several pending transfers, so the pool's order is tested too.
    let pending: Vec<String> = (2..5)
        .map(|nonce| {
            let (signature, body) = signed(&me, &friend, 1 + nonce, nonce);
            submit(&node, &body);
            signature
        })
        .collect();

    let before = snapshot(&node);
    assert_eq!(before.chain["length"], 4, "{}", before.chain);
    assert_eq!(signatures(&before.pool["transactions"]), pending);
    assert_eq!(before.peers["length"], 3, "{}", before.peers);
    // 3 rewards of 10, minus 2 x 3 mined, minus 3 + 4 + 5 pending.
    assert_eq!(before.wallet["balance"], 24, "{}", before.wallet);
    assert_eq!(before.wallet["available"], 12, "{}", before.wallet);
    let friend_query = format!("/balance?address={}", urlencode(friend.address().as_str()));
    let friend_before = node.get(&friend_query);

    if crash {
        node.kill();
    } else {
        assert!(node.stop(), "the node exits cleanly on SIGTERM");
    }
    node.restart()
        .unwrap_or_else(|e| panic!("restart on the same data directory: {e}"));

    let after = snapshot(&node);
    assert_eq!(after.chain, before.chain, "the chain survives");
    assert_eq!(after.pool, before.pool, "the pool survives, in order");
    // The order is checked in `peer_order_survives_a_restart`.
    assert_eq!(
        sorted_peers(&after.peers),
        sorted_peers(&before.peers),
        "the peers survive"
    );
    assert_eq!(after.wallet, before.wallet, "same address and balance");
    assert_eq!(node.address(), me.address().as_str());
    assert_eq!(node.get(&friend_query), friend_before);
    let mode = fs::metadata(node.data_dir.join(KEY_FILE))
        .expect("the key file exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key file stays private");

    // The coins mined before the restart are spendable: all that is available.
    let (signature, body) = signed(&me, &friend, 12, 5);
    submit(&node, &body);
    let block = node.mine();
    assert!(
        signatures(&block["transactions"]).contains(&signature),
        "the new block holds the transfer of pre-restart rewards: {block}"
    );
    let (status, body) = node.post("/transactions/new", &signed(&me, &friend, 11, 6).1);
    assert_eq!(
        status, 409,
        "only the new reward is left, so 11 coins are too many: {body}"
    );
}

fn sorted_peers(nodes: &Value) -> Vec<String> {
    let mut peers: Vec<String> = nodes["nodes"]
        .as_array()
        .expect("nodes is a list")
        .iter()
        .map(|p| p.as_str().expect("a peer is a string").to_owned())
        .collect();
    peers.sort();
    peers
}

/// `/nodes` lists peers in registration order, and `/nodes/resolve` asks
/// them in that order (the first of equally long chains wins); a restart must
/// not reorder them.
#[test]
fn peer_order_survives_a_restart() {
    let mut node = TestNode::start();
    let peers = json!({"nodes": ["127.0.0.1:9", "http://127.0.0.1:10", "localhost:11"]});
    let (status, body) = node.post("/nodes/register", &peers);
    assert_eq!(status, 201, "{body}");
    let (_, more) = node.post("/nodes/register", &json!({"nodes": ["127.0.0.1:8"]}));
    let before = node.get("/nodes").1;
    assert_eq!(
        before["nodes"],
        json!(["127.0.0.1:9", "127.0.0.1:10", "localhost:11", "127.0.0.1:8"]),
        "registration order: {more}"
    );
    assert!(node.stop());
    node.restart().expect("the node restarts");
    assert_eq!(node.get("/nodes").1, before, "same peers, same order");
}

#[test]
fn restart_after_sigterm_keeps_chain_pool_peers_and_key() {
    restart_keeps_everything(false);
}

#[test]
fn restart_after_sigkill_keeps_chain_pool_peers_and_key() {
    restart_keeps_everything(true);
}

// ---------------------------------------------------------------------------
// 2. Crash
// ---------------------------------------------------------------------------

const CRASH_REWARD: u64 = 1_000_000;
const CRASH_DIFFICULTY: u32 = 2;
/// Transfers signed in advance before each round: more than a round submits
/// (about 60); the ones not sent are kept for the next round.
const TRANSFERS_PER_ROUND: usize = 120;
const SUBMITTERS: usize = 3;
const MINE_PAUSE: Duration = Duration::from_millis(30);

/// What the clients were told in one round: transfers answered 201 and blocks answered 200.
#[derive(Default)]
struct Promises {
    transfers: Vec<String>,
    blocks: Vec<Value>,
    /// The transfers no client sent, for the next round.
    unsent: Vec<(String, Value)>,
    /// Answers other than 201/200, by status, for the report.
    other: HashMap<u16, usize>,
    errors: usize,
}

/// Signs `count` transfers of 1 coin from `from`, nonces from `first`, on two threads.
fn sign_batch(from: &Wallet, to: &Wallet, first: u64, count: usize) -> Vec<(String, Value)> {
    let half = count / 2;
    std::thread::scope(|scope| {
        let low = scope.spawn(|| {
            (0..half)
                .map(|i| signed(from, to, 1, first + i as u64))
                .collect::<Vec<_>>()
        });
        let high: Vec<_> = (half..count)
            .map(|i| signed(from, to, 1, first + i as u64))
            .collect();
        let mut all = low.join().expect("the signing thread does not panic");
        all.extend(high);
        all
    })
}

/// Runs submitters and a miner against `url` until `stop` is set; returns what was promised.
fn load(url: &str, transfers: Vec<(String, Value)>, stop: &AtomicBool) -> Promises {
    let transfers = Arc::new(transfers);
    // A transfer is taken (and maybe sent) only after it is counted here, so
    // those from the final count on were never sent.
    let next = AtomicUsize::new(0);
    let promises = Mutex::new(Promises::default());
    let client = || {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(1))
            .no_proxy()
            .build()
            .expect("a blocking HTTP client can be built")
    };
    let record_other = |status: Option<u16>| {
        let mut promises = promises.lock().expect("no client thread panics");
        match status {
            Some(status) => *promises.other.entry(status).or_default() += 1,
            None => promises.errors += 1,
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..SUBMITTERS {
            scope.spawn(|| {
                let client = client();
                let endpoint = format!("{url}/transactions/new");
                while !stop.load(Ordering::SeqCst) {
                    let at = next.fetch_add(1, Ordering::SeqCst);
                    let Some((signature, body)) = transfers.get(at) else {
                        break;
                    };
                    match client.post(&endpoint).json(body).send() {
                        Ok(response) if response.status().as_u16() == 201 => promises
                            .lock()
                            .expect("no client thread panics")
                            .transfers
                            .push(signature.clone()),
                        Ok(response) => record_other(Some(response.status().as_u16())),
                        Err(_) => {
                            record_other(None);
                            // The node is gone or going; do not spin.
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            });
        }
        scope.spawn(|| {
            let client = client();
            let endpoint = format!("{url}/mine");
            while !stop.load(Ordering::SeqCst) {
                let answer = client
                    .get(&endpoint)
                    .send()
                    .and_then(|r| Ok((r.status().as_u16(), r.json::<Value>()?)));
                match answer {
                    Ok((200, block)) => {
                        promises
                            .lock()
                            .expect("no client thread panics")
                            .blocks
                            .push(block);
                        // Difficulty 2 mines in milliseconds: a pause lets
                        // transfers gather, so blocks hold several and the
                        // chain (which every restart validates) stays short.
                        std::thread::sleep(MINE_PAUSE);
                    }
                    Ok((status, _)) => record_other(Some(status)),
                    Err(_) => {
                        record_other(None);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        });
    });
    let mut promises = promises.into_inner().expect("no client thread panics");
    let sent = next.into_inner().min(transfers.len());
    promises.unsent = transfers[sent..].to_vec();
    promises
}

/// Checks a restarted node against everything promised so far, and that its
/// chain extends the one it served after the previous restart. Returns the chain.
fn check_promises(
    node: &TestNode,
    previous: &[Value],
    transfers: &[String],
    blocks: &[Value],
    round: usize,
) -> Vec<Value> {
    let chain = node.chain();
    for (at, block) in chain.iter().enumerate() {
        assert_eq!(
            block["index"],
            at as u64 + 1,
            "round {round}: /chain is not contiguous at position {}",
            at + 1
        );
    }
    assert!(
        chain.starts_with(previous),
        "round {round}: the chain no longer starts with the {} blocks served before",
        previous.len()
    );
    let (status, pool) = node.get("/transactions");
    assert_eq!(status, 200, "{pool}");

    let mut seen: HashSet<String> = HashSet::new();
    let in_chain = chain.iter().flat_map(|b| signatures(&b["transactions"]));
    for signature in in_chain.chain(signatures(&pool["transactions"])) {
        let head = signature[..16].to_owned();
        assert!(
            seen.insert(signature),
            "round {round}: signature {head}… is stored twice (chain and pool together)"
        );
    }
    let lost: Vec<&String> = transfers.iter().filter(|s| !seen.contains(*s)).collect();
    assert!(
        lost.is_empty(),
        "round {round}: {} of {} transfers answered 201 are in neither chain nor pool, e.g. {}…",
        lost.len(),
        transfers.len(),
        &lost[0][..16]
    );
    for block in blocks {
        let index = block["index"].as_u64().expect("a mined block has an index");
        let stored = chain.get(index as usize - 1).unwrap_or_else(|| {
            panic!(
                "round {round}: block {index} was answered by /mine but the chain has {} blocks",
                chain.len()
            )
        });
        assert!(
            stored["proof"] == block["proof"]
                && stored["previous_hash"] == block["previous_hash"]
                && stored["transactions"] == block["transactions"],
            "round {round}: block {index} differs from what /mine answered"
        );
    }
    chain
}

/// Validates `chain` by this network's rules, as a peer would; `trusted` are
/// the hashes of a prefix validated before (its signatures are not checked
/// again). Returns the chain's hashes.
fn validate(chain: &[Value], rules: &Rules, trusted: &[BlockHash], round: usize) -> Vec<BlockHash> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64();
    let valid = Chain::from_values(chain, rules, now, trusted).unwrap_or_else(|e| {
        panic!("round {round}: the restarted node serves an invalid chain: {e}")
    });
    valid.hashes().to_vec()
}

#[test]
fn crash_under_load_loses_no_promise() {
    let rounds: usize = std::env::var("SIGCHAIN_CRASH_ROUNDS")
        .ok()
        .map(|n| n.parse().expect("SIGCHAIN_CRASH_ROUNDS is a whole number"))
        .unwrap_or(20);
    let seed: u64 = std::env::var("SIGCHAIN_CRASH_SEED")
        .ok()
        .map(|n| n.parse().expect("SIGCHAIN_CRASH_SEED is a whole number"))
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("the clock is after 1970")
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test: {rounds} rounds, SIGCHAIN_CRASH_SEED={seed}");
    let mut rng = Rng(seed);

    let options = NodeOptions {
        difficulty: CRASH_DIFFICULTY,
        env: vec![("SIGCHAIN_MINING_REWARD".into(), CRASH_REWARD.to_string())],
        ..NodeOptions::default()
    };
    let rules = Rules::new(
        CRASH_DIFFICULTY,
        Amount::new(CRASH_REWARD).expect("the reward is in range"),
        0.0,
        1000,
    );
    let mut node = TestNode::start_with(options);
    let me = Wallet::from_secret(&node.secret()).expect("the node's secret is a valid secret");
    let friend = Wallet::generate();
    // Fund the node: a million coins per block, one coin per transfer.
    node.mine();
    node.mine();

    let mut promised: Vec<String> = Vec::new();
    let mut mined: Vec<Value> = Vec::new();
    let mut other: HashMap<u16, usize> = HashMap::new();
    let mut errors = 0;
    let mut nonce = 0;
    let started = Instant::now();
    let mut trusted: Vec<BlockHash> = Vec::new();
    let mut served: Vec<Value> = Vec::new();
    let mut batch: Vec<(String, Value)> = Vec::new();
    let mut timings = [Duration::ZERO; 3];
    for round in 1..=rounds {
        let phase = Instant::now();
        let missing = TRANSFERS_PER_ROUND.saturating_sub(batch.len());
        batch.extend(sign_batch(&me, &friend, nonce, missing));
        nonce += missing as u64;
        timings[0] += phase.elapsed();
        let stop = AtomicBool::new(false);
        let delay = Duration::from_millis(50 + rng.below(700));
        let url = node.url.clone();
        let promises = std::thread::scope(|scope| {
            let clients = scope.spawn(|| load(&url, std::mem::take(&mut batch), &stop));
            std::thread::sleep(delay);
            node.kill();
            stop.store(true, Ordering::SeqCst);
            clients.join().expect("the client threads do not panic")
        });
        batch = promises.unsent;
        promised.extend(promises.transfers);
        mined.extend(promises.blocks);
        for (status, count) in promises.other {
            *other.entry(status).or_default() += count;
        }
        errors += promises.errors;
        let phase = Instant::now();
        node.restart()
            .unwrap_or_else(|e| panic!("round {round}: the node does not restart: {e}"));
        timings[1] += phase.elapsed();
        let phase = Instant::now();
        served = check_promises(&node, &served, &promised, &mined, round);
        // The node validates its chain at every start; the test does too, as a
        // peer would, now and then (address parsing makes it slow in debug builds).
        if round % 5 == 0 || round == rounds {
            trusted = validate(&served, &rules, &trusted, round);
        }
        timings[2] += phase.elapsed();
    }
    eprintln!(
        "crash test: {rounds} rounds in {:.1} s; {} transfers answered 201 and {} blocks answered 200, all found after the crashes; chain of {} blocks; other answers {other:?}; {errors} connection errors; signing {:.1} s, restarts {:.1} s, checks {:.1} s",
        started.elapsed().as_secs_f64(),
        promised.len(),
        mined.len(),
        served.len(),
        timings[0].as_secs_f64(),
        timings[1].as_secs_f64(),
        timings[2].as_secs_f64(),
    );
    assert!(
        !promised.is_empty() && !mined.is_empty(),
        "the load made promises to check"
    );
    let client_errors: usize = other
        .iter()
        .filter(|(status, _)| (400..500).contains(*status))
        .map(|(_, count)| count)
        .sum();
    assert_eq!(
        client_errors, 0,
        "funded, distinct transfers are never refused: {other:?}"
    );
}

// ---------------------------------------------------------------------------
// 3. Corruption
// ---------------------------------------------------------------------------

/// Damages every stored copy of data the node needs (the link hashes of the
/// blocks, the pending transfer's signature, the peer): each start must be
/// refused with one line naming the store file.
#[test]
fn overwritten_data_in_the_store_is_refused() {
    let stored = stored_node();
    let bytes = fs::read(stored.dir.join(STORE_FILE)).expect("the store file is readable");
    let chain = stored.before.chain["chain"]
        .as_array()
        .expect("chain is a list");
    let mut needles: Vec<(String, Vec<u8>)> = chain[1..]
        .iter()
        .map(|block| {
            let hash = block["previous_hash"].as_str().expect("a hash string");
            (
                format!("block {}'s previous_hash", block["index"]),
                hash.as_bytes().to_vec(),
            )
        })
        .collect();
    let pending = signatures(&stored.before.pool["transactions"]);
    needles.push((
        "the pending transfer's signature".to_owned(),
        pending[0].as_bytes().to_vec(),
    ));
    needles.push(("the peer".to_owned(), b"127.0.0.1:9".to_vec()));

    for (n, (what, needle)) in needles.iter().enumerate() {
        let spots = occurrences(&bytes, needle);
        assert!(
            !spots.is_empty(),
            "{what} is stored as plain bytes in {STORE_FILE}"
        );
        let mut damaged = bytes.clone();
        for &at in &spots {
            // One byte in the middle of every copy, live or stale.
            damaged[at + needle.len() / 2] ^= 0x01;
        }
        let dir = stored.copy(&format!("overwrite-{n}"));
        fs::write(dir.join(STORE_FILE), &damaged).expect("the copy is writable");
        let line = refused(&dir, &stored.options, what);
        assert!(
            line.contains(&dir.join(STORE_FILE).display().to_string()),
            "{what}: the error names the store file: {line}"
        );
    }
}

/// Overwrites 16 bytes at spots spread over the whole file, one spot per
/// start: the node either refuses cleanly, naming the file, or (the spot was
/// in a free page) serves exactly the stored data. Never a panic, never
/// other data.
#[test]
fn overwrites_anywhere_are_refused_or_harmless() {
    let stored = stored_node();
    let bytes = fs::read(stored.dir.join(STORE_FILE)).expect("the store file is readable");
    let spots = 24;
    let mut refused_count = 0;
    for k in 0..spots {
        // Page-aligned spots and spots inside pages, across the file.
        let at = (bytes.len() - 16) * k / (spots - 1);
        let at = if k % 2 == 0 { at & !4095 } else { at };
        let mut damaged = bytes.clone();
        for byte in &mut damaged[at..at + 16] {
            *byte ^= 0x5a;
        }
        let dir = stored.copy(&format!("spot-{k}"));
        fs::write(dir.join(STORE_FILE), &damaged).expect("the copy is writable");
        if stored.refuses_or_serves_the_same(&dir, &format!("16 bytes at offset {at}")) {
            refused_count += 1;
        }
        fs::remove_dir_all(&dir).expect("the copy can be removed");
    }
    eprintln!("{refused_count} of {spots} overwrites refused, the others were in unused pages");
    // The file's header is at offset 0, and is always in use.
    assert!(refused_count >= 1, "an overwrite of the header is refused");
}

#[test]
fn a_store_replaced_with_garbage_is_refused() {
    let stored = stored_node();
    let size = fs::metadata(stored.dir.join(STORE_FILE))
        .expect("the store file exists")
        .len() as usize;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let noise: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
    let cases: [(&str, Vec<u8>); 3] = [
        ("random bytes of the same size", noise),
        ("a short text", b"this is not a database\n".to_vec()),
        ("zeros of the same size", vec![0; size]),
    ];
    for (n, (what, garbage)) in cases.into_iter().enumerate() {
        let dir = stored.copy(&format!("garbage-{n}"));
        fs::write(dir.join(STORE_FILE), garbage).expect("the copy is writable");
        let line = refused(&dir, &stored.options, what);
        assert!(
            line.contains(&dir.join(STORE_FILE).display().to_string()),
            "{what}: the error names the store file: {line}"
        );
    }
}

#[test]
fn a_truncated_store_is_refused() {
    let stored = stored_node();
    let bytes = fs::read(stored.dir.join(STORE_FILE)).expect("the store file is readable");
    // Lengths redb's region layout never allows, or that cut off the header or
    // everything: always refused.
    let broken = [
        ("one byte short", bytes.len() - 1),
        ("the first page", 4096),
        ("100 bytes", 100),
        ("empty", 0),
    ];
    for (n, (what, length)) in broken.into_iter().enumerate() {
        let dir = stored.copy(&format!("truncated-{n}"));
        fs::write(dir.join(STORE_FILE), &bytes[..length]).expect("the copy is writable");
        let line = refused(&dir, &stored.options, &format!("store truncated to {what}"));
        assert!(
            line.contains(&dir.join(STORE_FILE).display().to_string()),
            "{what}: the error names the store file: {line}"
        );
    }
    // redb grows its file ahead of use, so a cut at a page boundary may only
    // drop unused space: then the node may start, but must serve exactly the
    // stored data (checked inside); otherwise it refuses naming the file.
    for (n, (what, length)) in [
        ("one page short", bytes.len() - 4096),
        ("half", bytes.len() / 2),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = stored.copy(&format!("cut-{n}"));
        fs::write(dir.join(STORE_FILE), &bytes[..length]).expect("the copy is writable");
        let refused = stored.refuses_or_serves_the_same(&dir, &format!("store cut to {what}"));
        println!(
            "store cut to {what}: {}",
            if refused {
                "refused"
            } else {
                "started, same data"
            }
        );
    }
}

#[test]
fn a_key_file_readable_by_others_is_refused_with_the_chmod_hint() {
    let stored = stored_node();
    let key = stored.dir.join(KEY_FILE);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod works");
    let line = refused(&stored.dir, &stored.options, "key file mode 0644");
    assert!(
        line.contains(&key.display().to_string()) && line.contains("chmod 600"),
        "the error names the key file and says how to fix it: {line}"
    );
    assert!(
        !line.contains(&read_secret(&key)),
        "the error shows no secret"
    );
    // Fixed as told, the node starts with its stored chain.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod works");
    assert!(!stored.refuses_or_serves_the_same(&stored.dir, "key mode fixed"));
}

fn read_secret(key: &Path) -> String {
    fs::read_to_string(key)
        .expect("the key file is readable")
        .trim()
        .to_owned()
}

#[test]
fn a_key_file_with_garbage_is_refused() {
    let stored = stored_node();
    for (n, (what, content)) in [
        ("text", &b"not a key\n"[..]),
        ("empty", &b""[..]),
        ("binary", &[0xff, 0x00, 0x13, 0x37][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = stored.copy(&format!("key-{n}"));
        let key = dir.join(KEY_FILE);
        fs::write(&key, content).expect("the key file is writable");
        let line = refused(&dir, &stored.options, &format!("key file holding {what}"));
        assert!(
            line.contains(&key.display().to_string()),
            "{what}: the error names the key file: {line}"
        );
    }
}

// ---------------------------------------------------------------------------
// 4. One node per data directory
// ---------------------------------------------------------------------------

#[test]
fn a_second_node_on_a_busy_data_directory_is_refused() {
    let mut first = TestNode::start();
    first.mine();
    let line = refused(&first.data_dir, &NodeOptions::default(), "second node");
    assert!(
        line.contains("in use") && line.contains(&first.data_dir.display().to_string()),
        "the error says the directory is in use and names it: {line}"
    );
    let pid = first.pid().expect("the first node runs").to_string();
    assert!(
        line.contains(&pid),
        "the error names the holder {pid}: {line}"
    );
    // The first node is unharmed and, once stopped, frees the directory.
    assert_eq!(first.chain().len(), 2);
    assert!(first.stop());
    let mut again = TestNode::start_in(&first.data_dir, NodeOptions::default())
        .expect("the directory is free once the first node stopped");
    assert_eq!(again.chain().len(), 2);
    again.kill();
}

// ---------------------------------------------------------------------------
// 5. Another network
// ---------------------------------------------------------------------------

#[test]
fn a_store_of_another_network_is_refused() {
    let mut node = TestNode::start_with(NodeOptions {
        difficulty: 3,
        ..NodeOptions::default()
    });
    node.mine();
    let chain = node.chain();
    assert!(node.stop());
    let file = node.data_dir.join(STORE_FILE).display().to_string();

    let harder = NodeOptions {
        difficulty: 4,
        ..NodeOptions::default()
    };
    let line = refused(
        &node.data_dir,
        &harder,
        "difficulty 4 on a difficulty 3 store",
    );
    assert!(
        line.contains(&file) && line.contains("another network") && line.contains("difficulty 3"),
        "the error names the file and the mismatch: {line}"
    );
    let other_genesis = NodeOptions {
        difficulty: 3,
        env: vec![("SIGCHAIN_GENESIS_TIMESTAMP".into(), "12345.5".into())],
        ..NodeOptions::default()
    };
    let line = refused(&node.data_dir, &other_genesis, "another genesis");
    assert!(
        line.contains(&file) && line.contains("another network"),
        "the error names the file and the mismatch: {line}"
    );

    // The refusals changed nothing.
    node.restart().expect("the right network still starts");
    assert_eq!(node.chain(), chain);
}

/// A data directory that cannot be made is refused in the same way (so the
/// refusal checks above see what a failing start looks like).
#[test]
fn a_data_directory_that_is_a_file_is_refused() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let file = tmp.path().join("data");
    fs::write(&file, "a file, not a directory").expect("the temporary directory is writable");
    let line = refused(&file, &NodeOptions::default(), "data directory is a file");
    assert!(line.contains(&file.display().to_string()), "{line}");
}
