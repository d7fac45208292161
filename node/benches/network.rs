//! The live network's figures with real optimized nodes on loopback (`cargo bench -p node --bench network`): block propagation to five nodes, transfer relay throughput, and a fresh node's paged sync of a long chain against the whole-chain resolve.
//!
//! Run `cargo build --release -p node` first: the bench starts
//! `target/release/sigchain-node` (or `NODE_BIN`). `NETWORK_BENCH_BLOCKS`
//! sets the long chain's length (default 20,000; each block after the
//! second holds one signed transfer, so building it signs that many).

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wallet::Wallet;

/// Difficulty of the bench networks: low, so mining does not dominate.
const DIFFICULTY: u32 = 1;
/// Blocks whose propagation is measured.
const PROPAGATED: usize = 50;
/// Transfers submitted for the relay figure.
const RELAYED: u64 = 500;
/// How long the relayed transfers may take to reach every pool.
const RELAY_WAIT: Duration = Duration::from_secs(60);

/// A node process; killed when dropped.
struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin` on `data` (port 0) with `extra` flags and environment.
fn start(bin: &Path, data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Running {
    let mut command = Command::new(bin);
    command
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--difficulty",
            &DIFFICULTY.to_string(),
        ])
        .args(["--miner-threads", "1"])
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .current_dir(data.parent().expect("a data directory has a parent"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("the node binary runs");
    let stdout = child.stdout.take().expect("stdout is piped");
    let url =
        common::listening_url(stdout, Duration::from_secs(600)).expect("the node starts listening");
    Running { child, url }
}

/// One HTTP/1.0 request; returns the status and the body.
fn request(url: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("the node accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(600)))
        .expect("a timeout can be set");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("the request can be sent");
    stream.write_all(body).expect("the body can be sent");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the answer can be read");
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |p| p + 4);
    let status = std::str::from_utf8(&answer[..head_end.min(answer.len())])
        .ok()
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer[head_end..].to_vec())
}

fn json(url: &str, path: &str) -> serde_json::Value {
    let (status, body) = request(url, "GET", path, b"");
    assert!((200..300).contains(&status), "GET {path}: {status}");
    serde_json::from_slice(&body).expect("the node answers JSON")
}

fn tip(url: &str) -> String {
    json(url, "/health")["tip"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn pool_len(url: &str) -> u64 {
    json(url, "/transactions")["length"].as_u64().unwrap_or(0)
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("Linux has /proc/PID/status")
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Five nodes joined through the first, gossip on.
fn five(bin: &Path, root: &Path) -> Vec<Running> {
    let mut nodes: Vec<Running> = Vec::new();
    for i in 0..5 {
        let data = root.join(format!("five-{i}"));
        let first = nodes.first().map(|n| n.url.clone());
        let extra: Vec<&str> = first
            .as_deref()
            .map(|f| vec!["--peer", f])
            .unwrap_or_default();
        nodes.push(start(
            bin,
            &data,
            &extra,
            &[("SIGCHAIN_MINING_REWARD", "100000")],
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for node in &nodes {
        while json(&node.url, "/health")["peers"].as_u64().unwrap_or(0) < 4 {
            assert!(
                Instant::now() < deadline,
                "the five nodes did not find each other"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    nodes
}

fn propagation(nodes: &[Running]) {
    let mut times = Vec::new();
    for i in 0..PROPAGATED {
        let miner = &nodes[i % nodes.len()];
        let started = Instant::now();
        let (status, _) = request(&miner.url, "GET", "/mine", b"");
        assert_eq!(status, 200, "mining");
        let target = tip(&miner.url);
        let deadline = started + Duration::from_secs(60);
        while nodes.iter().any(|n| tip(&n.url) != target) {
            assert!(
                Instant::now() < deadline,
                "block {i} did not reach every node"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "propagation (/mine on one node to the same tip on all five, {PROPAGATED} blocks): median {:.1} ms, worst {:.1} ms",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}

fn relay(nodes: &[Running]) {
    let secret = json(&nodes[0].url, "/secret")["secret"]
        .as_str()
        .expect("the node's secret")
        .to_owned();
    let payer = Wallet::from_secret(&secret).expect("a node's secret loads");
    let to = Wallet::generate();
    let bodies: Vec<Vec<u8>> = (0..RELAYED)
        .map(|n| serde_json::to_vec(&common::signed(&payer, &to, 1, 1_000_000 + n)).expect("JSON"))
        .collect();
    let before: Vec<u64> = nodes.iter().map(|n| pool_len(&n.url)).collect();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for part in bodies.chunks(bodies.len() / 4) {
            let url = &nodes[0].url;
            scope.spawn(move || {
                for body in part {
                    let (status, _) = request(url, "POST", "/transactions/new", body);
                    assert_eq!(status, 201, "a bench transfer is admitted");
                }
            });
        }
    });
    let submitted = started.elapsed();
    let deadline = Instant::now() + RELAY_WAIT;
    for (node, before) in nodes.iter().zip(&before) {
        while pool_len(&node.url) < before + RELAYED && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let all = started.elapsed();
    let reached: Vec<u64> = nodes
        .iter()
        .zip(&before)
        .map(|(n, b)| pool_len(&n.url) - b)
        .collect();
    if reached.iter().any(|r| *r < RELAYED) {
        println!(
            "relay: {RELAYED} signed transfers submitted to one node in {:.2} s; after {:.0} s the five pools hold {reached:?} of them",
            submitted.as_secs_f64(),
            all.as_secs_f64()
        );
        return;
    }
    println!(
        "relay: {RELAYED} signed transfers submitted to one node in {:.2} s ({:.0}/s); in all five pools after {:.2} s ({:.0}/s)",
        submitted.as_secs_f64(),
        RELAYED as f64 / submitted.as_secs_f64(),
        all.as_secs_f64(),
        RELAYED as f64 / all.as_secs_f64()
    );
}

/// Builds a valid chain of `count` blocks, one signed transfer in each after the second.
fn build(dir: &Path, count: u64) {
    common::build_chain(dir, count, DIFFICULTY);
}

/// A fresh node catches up with `server` through `how` (a request on the fresh node); returns (seconds, peak RSS KiB).
fn catch_up(
    bin: &Path,
    root: &Path,
    name: &str,
    server: &Running,
    length: u64,
    how: &dyn Fn(&Running),
) -> (f64, u64) {
    let fresh = start(
        bin,
        &root.join(name),
        &[],
        &[
            ("SIGCHAIN_SYNC_INTERVAL_MS", "0"),
            ("SIGCHAIN_GOSSIP", "false"),
        ],
    );
    let started = Instant::now();
    how(&fresh);
    let deadline = started + Duration::from_secs(1800);
    while json(&fresh.url, "/health")["length"].as_u64() != Some(length) {
        assert!(Instant::now() < deadline, "{name} did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(tip(&fresh.url), tip(&server.url));
    (elapsed, status_kib(fresh.child.id(), "VmHWM:"))
}

fn sync(bin: &Path, root: &Path) {
    let length: u64 = std::env::var("NETWORK_BENCH_BLOCKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let data = root.join("long");
    let built = Instant::now();
    build(&data, length);
    eprintln!(
        "built {length} blocks in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    // The chain was written without a node key: the serving node makes one.
    let server = start(
        bin,
        &data,
        &["--new-key"],
        &[("SIGCHAIN_SYNC_INTERVAL_MS", "0")],
    );
    let url = server.url.clone();
    let paged = catch_up(bin, root, "paged", &server, length, &|fresh| {
        // Paged: the sync a join starts, asked for now through resolve (the
        // server answers /health, so resolve takes the paged path).
        let body = format!("{{\"nodes\": [\"{url}\"]}}");
        let (status, _) = request(&fresh.url, "POST", "/nodes/register", body.as_bytes());
        assert_eq!(status, 201);
        let (status, _) = request(&fresh.url, "GET", "/nodes/resolve", b"");
        assert_eq!(status, 200);
    });
    let (_, whole) = request(&url, "GET", "/chain", b"");
    println!(
        "sync of {length} blocks (one signed transfer each; whole chain {:.1} MiB of JSON): paged {:.0} blocks/s, peak RSS {:.1} MiB",
        whole.len() as f64 / (1024.0 * 1024.0),
        length as f64 / paged.0,
        paged.1 as f64 / 1024.0
    );
    let whole_bytes = whole.len();
    drop(whole);
    let cap = node::config::Config::default().peers.max_chain_bytes;
    if whole_bytes > cap {
        println!(
            "sync of {length} blocks by whole-chain resolve: not measured, the chain's JSON is over peers.max_chain_bytes ({} MiB), which a node refuses to read whole",
            cap / (1024 * 1024)
        );
        return;
    }
    // The whole-chain path, as against the seed's node: a peer without
    // /health. A proxy is not needed: the node takes that path for any
    // peer whose /health is missing, so ask through a fake that serves
    // only /chain, forwarding to the server.
    let proxy = WholeChainProxy::start(&url);
    let proxy_url = proxy.url.clone();
    let whole_chain = catch_up(bin, root, "whole", &server, length, &|fresh| {
        let body = format!("{{\"nodes\": [\"{proxy_url}\"]}}");
        let (status, _) = request(&fresh.url, "POST", "/nodes/register", body.as_bytes());
        assert_eq!(status, 201);
        let (status, _) = request(&fresh.url, "GET", "/nodes/resolve", b"");
        assert_eq!(status, 200);
    });
    println!(
        "sync of {length} blocks by whole-chain resolve (a peer without /health): {:.0} blocks/s, peak RSS {:.1} MiB",
        length as f64 / whole_chain.0,
        whole_chain.1 as f64 / 1024.0
    );
}

/// A peer that behaves as the seed's node in front of a real one: `GET /chain` is forwarded without its query (the whole chain), everything else is 404.
struct WholeChainProxy {
    url: String,
}

impl WholeChainProxy {
    fn start(upstream: &str) -> WholeChainProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port can be bound");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let upstream = upstream.clone();
                std::thread::spawn(move || serve_whole(stream, &upstream));
            }
        });
        WholeChainProxy { url }
    }
}

fn serve_whole(mut stream: std::net::TcpStream, upstream: &str) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let target = text.split_whitespace().nth(1).unwrap_or("");
    let answer = if text.starts_with("GET ") && target.split('?').next() == Some("/chain") {
        let (_, body) = request(upstream, "GET", "/chain", b"");
        let mut out = format!(
            "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    } else {
        b"HTTP/1.0 404 NOT FOUND\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\nNot Found"
            .to_vec()
    };
    let _ = stream.write_all(&answer);
}

fn main() {
    let bin = common::node_bin();
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = tmp.path();
    {
        let nodes = five(&bin, root);
        propagation(&nodes);
        relay(&nodes);
    }
    sync(&bin, root);
}
