//! End-to-end tests of the live network on loopback: five nodes started by `testnet 5` agree by themselves (announce, relay, background sync, never resolve), and a partition heals by itself without losing an accepted transfer.
//!
//! Run `cargo build --workspace` first: the tests start `target/debug/sigchain-node`
//! (directly and through `client-scripts/testnet`). Needs bash and curl.

mod net;
mod support;

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use net::{get, node_address, node_wallet, post, signed_transfer, wait_converged};
use support::{bin, workspace_root, NodeOptions, TestNode};

/// A small deterministic generator (xorshift), seeded from the clock and
/// printed, so a failing run can be replayed by setting `NETWORK_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("NETWORK_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        println!("NETWORK_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The first of `count` consecutive loopback ports that were all free a
/// moment ago, below the ephemeral range (port-0 binds do not take them).
fn free_port_range(count: u16) -> u16 {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    for attempt in 0..500u32 {
        let base = 20_000 + (seed.wrapping_add(attempt.wrapping_mul(7_919)) % 12_000) as u16;
        let held: Vec<TcpListener> = (base..base + count)
            .map_while(|port| TcpListener::bind(("127.0.0.1", port)).ok())
            .collect();
        if held.len() == usize::from(count) {
            return base;
        }
    }
    panic!("no {count} consecutive free ports in 20000..32000");
}

/// A testnet started by the `testnet` client; stopped (by the client) when dropped.
struct Testnet {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
    urls: Vec<String>,
}

impl Testnet {
    fn command(dir: &std::path::Path, args: &[&str]) -> Command {
        let mut command = Command::new(workspace_root().join("client-scripts/testnet"));
        command
            .args(args)
            .arg("--dir")
            .arg(dir)
            .current_dir(dir.parent().expect("the testnet directory has a parent"))
            .env("SIGCHAIN_NODE_BIN", bin("sigchain-node"))
            .env("SIGCHAIN_TESTNET_WAIT", "60")
            .env_remove("SC_HOST")
            .stdin(Stdio::null());
        command
    }

    /// `testnet N` at test difficulty, with `env` for every node.
    fn start(count: u16, env: &[(&str, &str)]) -> Testnet {
        let tmp = tempfile::tempdir().expect("a temporary directory can be made");
        let dir = tmp.path().join("net");
        let base = free_port_range(count);
        let mut command = Testnet::command(
            &dir,
            &[&count.to_string(), "--base-port", &base.to_string()],
        );
        command.args(["--", "--difficulty", "2", "--miner-threads", "1"]);
        for (key, value) in env {
            command.env(key, value);
        }
        let net = Testnet {
            dir,
            _tmp: tmp,
            urls: (base..base + count)
                .map(|p| format!("http://127.0.0.1:{p}"))
                .collect(),
        };
        let output = command.output().expect("testnet runs");
        assert!(
            output.status.success(),
            "testnet {count} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        net
    }

    /// `testnet status`'s output.
    fn status(&self) -> String {
        let output = Testnet::command(&self.dir, &["status"])
            .output()
            .expect("testnet status runs");
        assert!(output.status.success(), "testnet status: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        let _ = Testnet::command(&self.dir, &["stop"]).output();
    }
}

/// Environment of every node of these tests: rewards big enough for the
/// transfers, a short sync interval so a test waits seconds, not minutes.
const NODE_ENV: [(&str, &str); 2] = [
    ("SIGCHAIN_MINING_REWARD", "100"),
    ("SIGCHAIN_SYNC_INTERVAL_MS", "500"),
];

#[test]
fn five_nodes_of_testnet_agree_without_resolve() {
    let net = Testnet::start(5, &NODE_ENV);
    let urls = &net.urls;
    for url in urls {
        let (status, body) = get(url, "/nodes");
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["nodes"].as_array().map(Vec::len),
            Some(4),
            "{url} does not know the 4 others: {body}"
        );
    }
    let mut rng = Rng::new();
    // One funded sender, known to every node before transfers start.
    let first = &urls[rng.below(urls.len())];
    let (status, body) = get(first, "/mine");
    assert_eq!(status, 200, "{body}");
    wait_converged(urls, "after the first block");
    let payer = node_wallet(first);
    let recipients: Vec<_> = urls.iter().map(|u| node_address(u)).collect();

    let mut accepted = HashSet::new();
    let mut refused = Vec::new();
    let (mut mined, mut sent) = (1, 0);
    // 20 blocks and 50 transfers, interleaved, each on a random node.
    while mined < 20 || sent < 50 {
        let mine = sent >= 50 || (mined < 20 && rng.below(70) < 20);
        let url = &urls[rng.below(urls.len())];
        if mine {
            let (status, body) = get(url, "/mine");
            assert_eq!(status, 200, "mining on {url}: {body}");
            mined += 1;
            // Equal-length forks only resolve with the next block, so wait
            // (bounded) for this one to reach everyone before mining another.
            wait_converged(urls, &format!("after block {mined}"));
        } else {
            let to = &recipients[rng.below(recipients.len())];
            let (body, signature) = signed_transfer(&payer, to, 1, 1000 + sent);
            let (status, answer) = post(url, "/transactions/new", &body);
            if status == 201 {
                accepted.insert(signature);
            } else {
                refused.push(format!("{url}: {status} {answer}"));
            }
            sent += 1;
        }
    }
    // The payer has 100 coins in every chain: every transfer is admissible.
    assert!(refused.is_empty(), "transfers were refused: {refused:?}");
    let (length, tip) = wait_converged(urls, "after the last action");
    assert_eq!(length, 21, "20 blocks mined on a genesis chain");
    net::wait_everywhere(urls, &accepted, false, "after the last action");
    let status = net.status();
    for url in urls {
        let line = status
            .lines()
            .find(|l| l.starts_with(url.as_str()))
            .unwrap_or_else(|| panic!("testnet status does not list {url}: {status}"));
        assert!(
            line.contains(" up ") && line.contains(" 21 ") && line.ends_with(&tip),
            "testnet status line of {url} lacks state, length or tip: {line}"
        );
    }
}

/// Options of a node of the partition test.
fn options(env: &[(&str, &str)], args: &[&str]) -> NodeOptions {
    NodeOptions {
        difficulty: 2,
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..NodeOptions::default()
    }
}

/// Starts a node joining through `known` (when given), with the test environment.
fn joining(known: Option<&str>, extra: &[(&str, &str)]) -> TestNode {
    let mut env = NODE_ENV.to_vec();
    env.extend_from_slice(extra);
    let args: Vec<&str> = known.map(|k| vec!["--peer", k]).unwrap_or_default();
    TestNode::start_with(options(&env, &args))
}

/// Starts a node on `data_dir`, joining through `known` (when given).
fn restarted(data_dir: &std::path::Path, known: Option<&str>, extra: &[(&str, &str)]) -> TestNode {
    let mut env = NODE_ENV.to_vec();
    env.extend_from_slice(extra);
    let args: Vec<&str> = known.map(|k| vec!["--peer", k]).unwrap_or_default();
    TestNode::start_in(data_dir, options(&env, &args))
        .unwrap_or_else(|e| panic!("node did not restart: {e}"))
}

/// Waits (bounded) until `url` knows `count` peers.
fn wait_peers(url: &str, count: usize) {
    let mut last = serde_json::Value::Null;
    let ok = support::wait_until(net::CONVERGE, || {
        last = get(url, "/nodes").1;
        last["nodes"].as_array().map_or(0, Vec::len) >= count
    });
    assert!(ok, "{url} does not know {count} peers: {last}");
}

/// Submits transfers of 1 from `payer` to `to` (nonces from `nonce`) on `url`, asserting 201; returns their signatures.
fn pay(
    url: &str,
    payer: &wallet::Wallet,
    to: &wallet::Address,
    nonces: std::ops::Range<u64>,
) -> HashSet<String> {
    nonces
        .map(|nonce| {
            let (body, signature) = signed_transfer(payer, to, 1, nonce);
            let (status, answer) = post(url, "/transactions/new", &body);
            assert_eq!(status, 201, "transfer {nonce} on {url}: {answer}");
            signature
        })
        .collect()
}

#[test]
fn a_partition_heals_by_itself_and_loses_nothing() {
    let first = joining(None, &[]);
    let mut nodes = vec![first];
    for _ in 1..5 {
        let known = nodes[0].url.clone();
        nodes.push(joining(Some(&known), &[]));
    }
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    for url in &urls {
        wait_peers(url, 4);
    }
    let payer = node_wallet(&urls[0]);
    let to = node_address(&urls[1]);
    // Each block reaches everyone before the next is mined elsewhere: two
    // blocks of the same height stay a tie until the next block.
    nodes[0].mine();
    wait_converged_len(&urls, 2, "before the partition");
    nodes[3].mine();
    wait_converged_len(&urls, 3, "before the partition");

    // Nodes 3 and 4 go away, and come back apart: restarted (on new ports)
    // without gossip or background sync, they hear nothing and say nothing.
    let mut minority = nodes.split_off(3);
    let mut apart = Vec::new();
    for (i, node) in minority.iter_mut().enumerate() {
        assert!(node.stop(), "node {} stopped cleanly", 3 + i);
        apart.push(restarted(
            &node.data_dir,
            None,
            &[
                ("SIGCHAIN_GOSSIP", "false"),
                ("SIGCHAIN_SYNC_INTERVAL_MS", "0"),
            ],
        ));
    }
    let apart_urls: Vec<String> = apart.iter().map(|n| n.url.clone()).collect();
    let majority_urls = urls[..3].to_vec();

    // Majority: 2 more blocks with transfers.
    let mut accepted = pay(&majority_urls[1], &payer, &to, 100..110);
    net::wait_everywhere(&majority_urls, &accepted, false, "majority pools");
    nodes[2].mine();
    wait_converged_len(&majority_urls, 4, "majority side");
    nodes[1].mine();
    let (majority_length, _) = wait_converged_len(&majority_urls, 5, "majority side");
    // Minority: 4 more blocks (the longer chain), with its own transfers.
    let minority_paid = pay(&apart_urls[0], &payer, &to, 200..205);
    for _ in 0..4 {
        apart[0].mine();
    }
    assert_eq!(apart[0].chain().len(), 7, "the minority chain is longer");
    assert!(majority_length < 7);
    accepted.extend(minority_paid.iter().cloned());

    // Reconnect: the minority restarts with gossip and sync on, joining
    // through a majority node; nobody calls resolve.
    let dirs: Vec<PathBuf> = apart.iter().map(|n| n.data_dir.clone()).collect();
    for node in &mut apart {
        assert!(node.stop(), "an apart node stopped cleanly");
    }
    drop(apart);
    let healed: Vec<TestNode> = dirs
        .iter()
        .map(|d| restarted(d, Some(&majority_urls[0]), &[]))
        .collect();
    let mut all_urls = majority_urls.clone();
    all_urls.extend(healed.iter().map(|n| n.url.clone()));
    let (length, _) = wait_converged_len(&all_urls, 7, "after healing");
    assert_eq!(length, 7, "the longest chain (the minority's) won");
    // The majority's mined transfers are back in its pools; nothing is lost.
    net::wait_everywhere(&majority_urls, &accepted, false, "after healing");
    let (status, body) = get(&majority_urls[0], "/mine");
    assert_eq!(status, 200, "{body}");
    wait_converged_len(&all_urls, 8, "after mining the returned transfers");
    net::wait_everywhere(&all_urls, &accepted, true, "all mined");
}

/// Waits until all nodes agree on a chain of at least `length` blocks.
fn wait_converged_len(urls: &[String], length: u64, what: &str) -> (u64, String) {
    net::wait_converged_at_least(urls, length, what)
}
