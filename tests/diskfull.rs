//! A full data disk end to end: the real node on a 4 MiB tmpfs refuses writes with 503 while reads show only what is on disk, recovers by itself once there is room, and keeps exactly what it acknowledged across a restart.
//!
//! Mounting needs root; without it the test prints that it was not run,
//! except under `CI=true`, where that fails it.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use node::chain::Transaction;
use serde_json::{json, Value};
use support::{wait_until, NodeOptions, TestNode, Tmpfs};
use wallet::{Amount, Nonce, Wallet};

/// How long the node may take to accept writes again once the disk has room.
const RECOVERY: Duration = Duration::from_secs(10);

/// A transfer of 1 from the node's own wallet to `to`, as `/transactions/new` takes it, with its signature.
fn transfer(from: &Wallet, to: &Wallet, nonce: u64) -> (String, Value) {
    let transaction = Transaction::sign(
        from,
        to.address(),
        Amount::new(1).expect("1 is an amount"),
        Some(Nonce::new(nonce).expect("test nonces are in range")),
    );
    let signature = transaction
        .signature()
        .expect("a signed transfer")
        .to_string();
    let body = serde_json::to_value(&transaction).expect("a transaction is JSON");
    (signature, body)
}

/// What the node shows of its chain, pool and peers.
#[derive(Debug, PartialEq)]
struct Shown {
    chain: Value,
    pool: Value,
    peers: Value,
}

fn shown(node: &TestNode) -> Shown {
    let get = |path: &str| {
        let (status, body) = node.get(path);
        assert_eq!(status, 200, "reads are served: GET {path}: {body}");
        body
    };
    Shown {
        chain: get("/chain"),
        pool: get("/transactions"),
        peers: get("/nodes"),
    }
}

fn signatures(pool: &Value) -> Vec<String> {
    pool["transactions"]
        .as_array()
        .expect("transactions are a list")
        .iter()
        .filter_map(|tx| tx["signature"].as_str().map(str::to_owned))
        .collect()
}

/// A write refused for the disk: 503 with a JSON error naming the cause.
fn assert_refused(what: &str, (status, body): (u16, Value)) {
    assert_eq!(status, 503, "{what} while the disk is full: {body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("data disk is full or failing") && error.contains("No space left"),
        "{what}: the error names the cause: {body}"
    );
}

/// How many transfers one submitter tries before it calls the disk not full:
/// four of them send far more than the room the pending journal writes
/// ahead (2 MiB, about 1,700 transfers) and the 4 MiB disk together.
const TRIES: u64 = 1_500;

/// Submits transfers (nonces from `first`) until one is refused; returns the
/// signatures acknowledged before it, and the refused one with its body.
fn submit_until_refused(
    node: &TestNode,
    own: &Wallet,
    payee: &Wallet,
    first: u64,
) -> (Vec<String>, (String, Value)) {
    let mut acknowledged = Vec::new();
    for nonce in first..first + TRIES {
        let (signature, body) = transfer(own, payee, nonce);
        let answer = node.post("/transactions/new", &body);
        if answer.0 == 201 {
            acknowledged.push(signature);
        } else {
            assert_refused("a transfer whose commit failed", answer);
            return (acknowledged, (signature, body));
        }
    }
    panic!("{TRIES} transfers were stored on a full disk");
}

#[test]
fn a_full_data_disk_refuses_writes_shows_only_what_is_stored_and_recovers_by_itself() {
    let tmp = tempfile::tempdir().expect("a temporary directory can be made");
    let data = tmp.path().join("data");
    let Some(disk) = Tmpfs::mount(&data, "4m") else {
        return;
    };
    let config = tmp.path().join("node.toml");
    fs::write(&config, "[chain]\nmining_reward = 1000000\n").expect("the config can be written");
    let options = NodeOptions {
        args: vec!["--config".into(), config.display().to_string()],
        ..NodeOptions::default()
    };
    // Declared after the tmpfs, so killed before it is unmounted.
    let mut node = TestNode::start_in(&data, options).expect("the node starts on the tmpfs");
    node.mine();
    let own = Wallet::from_secret(&node.secret()).expect("the node's secret is valid");
    let payee = Wallet::generate();
    // Acknowledged before the disk fills: they must stay through everything.
    let mut acknowledged: Vec<String> = (0..3)
        .map(|nonce| {
            let (signature, body) = transfer(&own, &payee, nonce);
            let (status, answer) = node.post("/transactions/new", &body);
            assert_eq!(status, 201, "{answer}");
            signature
        })
        .collect();

    let filler = disk.fill("filler");
    // Small commits may still fit in pages the store file already holds, and
    // transfers in the room the pending journal wrote ahead: four
    // submitters go on at once until each has a transfer refused, so the
    // failure hits a commit several requests share, and requests queued behind it.
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let submitters: Vec<_> = (0..4)
            .map(|n| {
                let (node, own, payee) = (&node, &own, &payee);
                scope.spawn(move || submit_until_refused(node, own, payee, 1000 + n * TRIES))
            })
            .collect();
        submitters
            .into_iter()
            .map(|s| s.join().expect("a submitter finishes"))
            .collect()
    });
    let mut refused = Vec::new();
    for (stored, failed) in outcomes {
        acknowledged.extend(stored);
        refused.push(failed);
    }
    println!(
        "{} transfers acknowledged on the full disk before writes were refused",
        acknowledged.len() - 3
    );

    let before = shown(&node);
    let mut pending = signatures(&before.pool);
    pending.sort();
    acknowledged.sort();
    assert_eq!(
        pending, acknowledged,
        "exactly the acknowledged transfers are pending"
    );
    let (status, health) = node.get("/health");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["reason"]
            .as_str()
            .is_some_and(|r| r.contains("No space left")),
        "{health}"
    );

    // While degraded every write is refused, and nothing refused shows.
    // (Nonces past every submitter's range: a repeat would be a 409, not a refusal.)
    for nonce in 1000 + 4 * TRIES..1000 + 4 * TRIES + 3 {
        let (_, body) = transfer(&own, &payee, nonce);
        assert_refused("a transfer", node.post("/transactions/new", &body));
        assert_eq!(shown(&node), before);
    }
    assert_refused("/mine", node.get("/mine"));
    assert_eq!(shown(&node), before);
    let peer = json!({ "nodes": ["http://127.0.0.1:9"] });
    assert_refused("/nodes/register", node.post("/nodes/register", &peer));
    assert_eq!(shown(&node), before);
    let (status, wallet) = node.get("/wallet");
    assert_eq!(status, 200, "{wallet}");

    fs::remove_file(&filler).expect("the filler can be removed");
    let freed = Instant::now();
    let recovered = wait_until(RECOVERY, || node.get("/health").1["status"] == "ok");
    assert!(
        recovered,
        "writes resume within {RECOVERY:?}: {}",
        node.get("/health").1
    );
    println!(
        "writes resumed {:?} after the disk had room",
        freed.elapsed()
    );
    assert!(node.get("/health").1.get("reason").is_none());
    // The refused transfers were never stored: they are new to the node.
    for (_, body) in &refused {
        let (status, answer) = node.post("/transactions/new", body);
        assert_eq!(status, 201, "{answer}");
    }
    let length = before.chain["length"].as_u64().expect("the chain's length");
    assert_eq!(node.mine()["index"], length + 1);
    let (status, body) = node.post("/nodes/register", &peer);
    assert_eq!(status, 201, "{body}");

    let log = node.log_text();
    assert!(log.contains("the data disk is full or failing"), "{log}");
    assert!(log.contains("the data disk recovered"), "{log}");

    let acknowledged_state = shown(&node);
    let kept: Vec<String> = acknowledged_state.chain["chain"]
        .as_array()
        .expect("the chain is a list")
        .iter()
        .flat_map(signatures)
        .chain(signatures(&acknowledged_state.pool))
        .collect();
    for signature in acknowledged.iter().chain(refused.iter().map(|(s, _)| s)) {
        assert!(
            kept.contains(signature),
            "an acknowledged transfer was lost"
        );
    }
    node.restart().expect("the node starts again");
    assert_eq!(
        shown(&node),
        acknowledged_state,
        "a restart shows exactly what was acknowledged"
    );
    node.kill();
    assert!(
        !data.join("space-probe").exists(),
        "the probe file is removed"
    );
}
