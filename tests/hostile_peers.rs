//! Hostile peers against a real node: an answer built to exhaust memory is read within a memory limit, named, and its peer demoted then dropped.

mod fake_peer;
mod support;

use std::sync::Arc;
use std::time::Duration;

use fake_peer::{response, FakePeer, Reply};
use serde_json::{json, Value};
use support::{http, NodeOptions, TestNode};

/// `/proc/PID/status` field `name` in KiB.
fn proc_kib(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc is mounted");
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
}

fn resolve(node: &TestNode) -> Value {
    let (status, body) = http(
        "GET",
        &format!("{}/nodes/resolve", node.url),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn a_chain_of_zeros_within_the_size_cap_does_not_exhaust_a_memory_limited_node() {
    // MALLOC_ARENA_MAX keeps glibc from reserving address space per thread,
    // so the limit below measures what the node allocates.
    let node = TestNode::start_with(NodeOptions {
        env: vec![
            ("MALLOC_ARENA_MAX".into(), "2".into()),
            ("SIGCHAIN_TIMEOUT_MS".into(), "20000".into()),
        ],
        ..NodeOptions::default()
    });
    let pid = node.pid().expect("running");
    // 60 MB of `[0,0,0,...]`, under the 64 MiB default cap. Read into a JSON
    // value it took 16 times its size (840 MB) and a node under a 2 GB
    // limit aborted; read block by block it ends at the first zero.
    let mut body = br#"{"chain": ["#.to_vec();
    body.reserve(60_000_000);
    while body.len() < 60_000_000 {
        body.extend_from_slice(b"0,");
    }
    body.extend_from_slice(br#"0], "length": 30000000}"#);
    let peer = FakePeer::start(Reply::Bytes(Arc::new(response("200 OK", &body, true))));
    drop(body);
    let (status, answer) = node.post("/nodes/register", &json!({ "nodes": [peer.url()] }));
    assert_eq!(status, 201, "{answer}");

    // Address space now plus 600 MB: room for the answer itself (and a
    // thread or two), far from room for a JSON value of it.
    let limit = proc_kib(pid, "VmSize:") * 1024 + 600_000_000;
    let prlimit = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--as={limit}")])
        .status()
        .expect("prlimit (util-linux) is installed");
    assert!(prlimit.success(), "prlimit failed");

    for round in 1..=3 {
        let answer = resolve(&node);
        let report = answer["peers"]
            .as_array()
            .and_then(|peers| peers.iter().find(|p| p["peer"] == peer.addr()))
            .unwrap_or_else(|| panic!("round {round}: the peer is reported: {answer}"));
        assert_eq!(report["result"], "invalid", "round {round}: {report}");
        let detail = report["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("block 1"),
            "round {round}: names the block: {detail}"
        );
        let (status, health) = node.get("/health");
        assert_eq!(status, 200, "round {round}: the node is alive: {health}");
    }
    let rss_mib = proc_kib(pid, "VmRSS:") / 1024;
    eprintln!("RSS after three resolves against a 60 MB hostile answer: {rss_mib} MiB");
    // Three bad answers in a row (peers.max_failures) drop the peer.
    let (_, nodes) = node.get("/nodes");
    assert_eq!(nodes["length"], 0, "the peer was dropped: {nodes}");
    assert!(
        node.log_text().contains("dropped a peer"),
        "the drop is logged"
    );
}

#[test]
fn a_node_started_with_a_peer_flag_starts_and_keeps_the_peer() {
    // Start-up stores the configured peers before serving; that write once
    // blocked an async worker and aborted the start.
    let peer = TestNode::start();
    let addr = peer.url.trim_start_matches("http://").to_owned();
    let node = TestNode::start_with(NodeOptions {
        args: vec!["--peer".into(), peer.url.clone()],
        ..NodeOptions::default()
    });
    let (status, nodes) = node.get("/nodes");
    assert_eq!(status, 200);
    assert_eq!(nodes["nodes"], json!([addr]), "{nodes}");
}
