//! A soak run, not part of CI: a five-node network under mixed load with random SIGKILLs, a malicious peer and a filling disk, checked at the end for lost transfers and invalid chains.
//!
//! Run it (as root, for the tmpfs) with
//! `cargo build --workspace && SOAK_MINUTES=10 cargo test --test soak -- --ignored --nocapture`.
//! It prints what happened and fails if any acknowledged transfer is missing
//! from any node's chain or pool, or any chain is invalid.

mod fake_peer;
mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_peer::{response, FakePeer, Reply};
use node::chain::{Block, Chain, Rules, Transaction};
use serde_json::{json, Value};
use support::{bin, http, start_command, Process, Start, Tmpfs};
use wallet::{Amount, Nonce, Wallet};

const NODES: usize = 5;
const DIFFICULTY: u32 = 2;

/// One node of the soak network: a fixed port, so peers find it again after a restart.
struct SoakNode {
    port: u16,
    dir: PathBuf,
    log: PathBuf,
    process: Option<Process>,
}

impl SoakNode {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(&mut self, first: Option<u16>) {
        let mut command = Command::new(bin("sigchain-node"));
        command
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--data-dir")
            .arg(&self.dir)
            .args([
                "--difficulty",
                &DIFFICULTY.to_string(),
                "--miner-threads",
                "1",
            ])
            .args(["--public-url", &self.url()])
            .env("SIGCHAIN_SYNC_INTERVAL_MS", "500")
            .env("SIGCHAIN_TIMEOUT_MS", "2000")
            .env("RUST_LOG", "info")
            .current_dir(self.dir.parent().expect("a parent directory"));
        if let Some(first) = first {
            command.args(["--peer", &format!("http://127.0.0.1:{first}")]);
        }
        match start_command(command, &self.log) {
            Start::Listening { process, .. } => self.process = Some(process),
            Start::Exited { stderr, .. } => panic!("node {} did not start:\n{stderr}", self.port),
        }
    }

    fn kill(&mut self) {
        self.process = None;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn get(url: &str, path: &str) -> Option<(u16, Value)> {
    let url = format!("{url}{path}");
    std::panic::catch_unwind(|| http("GET", &url, None, Duration::from_secs(10))).ok()
}

fn post(url: &str, path: &str, body: &Value) -> Option<(u16, Value)> {
    let url = format!("{url}{path}");
    let body = serde_json::to_vec(body).expect("JSON");
    std::panic::catch_unwind(|| http("POST", &url, Some(body), Duration::from_secs(10))).ok()
}

#[derive(Default)]
struct Tally {
    acknowledged: Mutex<HashSet<String>>,
    refused: AtomicU64,
    unavailable: AtomicU64,
    blocks: AtomicU64,
    kills: AtomicU64,
    disk_fills: AtomicU64,
}

#[test]
#[ignore = "a soak run of several minutes; run it by hand (see the file's doc)"]
fn a_network_under_load_kills_and_a_full_disk_loses_nothing() {
    let minutes: f64 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(2.0);
    let root = tempfile::tempdir().expect("a temporary directory");
    let disk_dir = root.path().join("disk");
    let Some(disk) = Tmpfs::mount(&disk_dir, "16m") else {
        return;
    };
    let mut nodes: Vec<SoakNode> = (0..NODES)
        .map(|n| {
            let dir = if n == NODES - 1 {
                disk_dir.join("data")
            } else {
                root.path().join(format!("node-{n}"))
            };
            SoakNode {
                port: free_port(),
                log: root.path().join(format!("node-{n}.log")),
                dir,
                process: None,
            }
        })
        .collect();
    let first = nodes[0].port;
    for (n, node) in nodes.iter_mut().enumerate() {
        node.start((n > 0).then_some(first));
    }
    // A malicious peer every node knows: its chain is a list of zeros.
    let mut junk = br#"{"chain": ["#.to_vec();
    for _ in 0..100_000 {
        junk.extend_from_slice(b"0,");
    }
    junk.extend_from_slice(br#"0], "length": 100001}"#);
    let hostile = FakePeer::start(Reply::Bytes(Arc::new(response("200 OK", &junk, true))));
    for node in &nodes {
        post(
            &node.url(),
            "/nodes/register",
            &json!({ "nodes": [hostile.url()] }),
        );
    }
    let urls: Vec<String> = nodes.iter().map(SoakNode::url).collect();
    let wallets: Vec<Wallet> = urls
        .iter()
        .map(|url| {
            let (_, body) = get(url, "/secret").expect("the node answers");
            Wallet::from_secret(body["secret"].as_str().expect("a secret")).expect("a valid secret")
        })
        .collect();

    // Requests to killed or full nodes fail by design; their panics in the
    // bounded HTTP helper are caught and counted, not printed.
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let nodes = Arc::new(Mutex::new(nodes));
    std::thread::scope(|scope| {
        // Miners: one block a second on a random node.
        scope.spawn(|| {
            let mut n = 0usize;
            while Instant::now() < deadline {
                n = (n * 7 + 3) % NODES;
                if let Some((200, _)) = get(&urls[n], "/mine") {
                    tally.blocks.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(700));
            }
        });
        // Submitters: each node's wallet pays small amounts to the others.
        for payer in 0..2 {
            let (tally, wallets, urls) = (&tally, &wallets, &urls);
            scope.spawn(move || {
                let mut nonce = payer as u64 * 1_000_000_000;
                while Instant::now() < deadline {
                    nonce += 1;
                    let from = (nonce as usize) % NODES;
                    let to = wallets[(from + 1) % NODES].address();
                    let tx = Transaction::sign(
                        &wallets[from],
                        to,
                        Amount::ONE,
                        Some(Nonce::new(nonce).unwrap()),
                    );
                    let body = serde_json::to_value(&tx).expect("JSON");
                    let target = &urls[(nonce as usize * 3) % NODES];
                    match post(target, "/transactions/new", &body) {
                        Some((201, _)) => {
                            let signature = tx.signature().expect("signed").to_string();
                            tally.acknowledged.lock().unwrap().insert(signature);
                        }
                        Some((503, _)) | None => {
                            tally.unavailable.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(_) => {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        // Chaos: every 20 s SIGKILL a random node (never the first, the join point) and restart it.
        scope.spawn(|| {
            let mut n = 1usize;
            while Instant::now() + Duration::from_secs(25) < deadline {
                std::thread::sleep(Duration::from_secs(20));
                n = n % (NODES - 1) + 1;
                let mut nodes = nodes.lock().unwrap();
                nodes[n].kill();
                tally.kills.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(500));
                nodes[n].start(Some(first));
            }
        });
        // The last node's disk fills for 5 s every 30 s.
        scope.spawn(|| {
            while Instant::now() + Duration::from_secs(35) < deadline {
                std::thread::sleep(Duration::from_secs(25));
                let filler = disk.fill("filler");
                tally.disk_fills.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_secs(5));
                let _ = std::fs::remove_file(&filler);
            }
        });
    });

    std::panic::set_hook(quiet);
    // Let the network settle: the same tip everywhere.
    let settled = support::wait_until(Duration::from_secs(120), || {
        let tips: HashSet<String> = urls
            .iter()
            .filter_map(|url| get(url, "/health").map(|(_, h)| h["tip"].to_string()))
            .collect();
        tips.len() == 1
    });
    let acknowledged = tally.acknowledged.lock().unwrap().clone();
    let rules = Rules::new(DIFFICULTY, Amount::ONE, 0.0, 1000);
    let mut missing = 0;
    for url in &urls {
        let (_, chain) = get(url, "/chain").expect("the node answers");
        let blocks: Vec<Block> = serde_json::from_value(chain["chain"].clone()).expect("blocks");
        let length = blocks.len();
        let chain = Chain::validate(blocks, &rules, f64::MAX, &[])
            .unwrap_or_else(|e| panic!("{url}: invalid chain: {e}"));
        let mut seen: HashSet<String> = chain
            .blocks()
            .iter()
            .flat_map(|b| b.transactions.iter())
            .filter_map(|t| t.signature().map(ToString::to_string))
            .collect();
        let (_, pool) = get(url, "/transactions").expect("the node answers");
        for t in pool["transactions"].as_array().expect("a list") {
            seen.insert(t["signature"].as_str().unwrap_or_default().to_owned());
        }
        let lost = acknowledged.difference(&seen).count();
        missing += lost;
        println!("{url}: {length} blocks, valid; {lost} acknowledged transfers missing");
    }
    println!(
        "soak {minutes} min: {} transfers acknowledged, {} refused (4xx), {} unavailable (503 or no answer), {} blocks mined, {} SIGKILLs, {} disk fills; settled on one tip: {settled}",
        acknowledged.len(),
        tally.refused.load(Ordering::Relaxed),
        tally.unavailable.load(Ordering::Relaxed),
        tally.blocks.load(Ordering::Relaxed),
        tally.kills.load(Ordering::Relaxed),
        tally.disk_fills.load(Ordering::Relaxed),
    );
    drop(nodes);
    assert!(settled, "the nodes did not agree on one tip within 120 s");
    assert_eq!(missing, 0, "acknowledged transfers went missing");
}
