//! Ingest throughput of a real optimized node over HTTP (`cargo build --release -p node && cargo bench -p node --bench ingest`): distinct pre-signed transfers posted to `/transactions/new` on 16 keep-alive connections for a fixed time; accepted (201, durable) per second, p50/p99 latency and errors by status.
//!
//! The data directory holds a chain that funds [`SENDERS`] wallets (one
//! reward block each, the reward large enough for every transfer), so each
//! transfer passes the node's balance check. The transfers (one coin each,
//! nonces 0..N) are signed on every core before the node starts and cached
//! under `target/ingest-bench/` by N, since signing 200,000 takes minutes on
//! two cores; the cache holds only public data (addresses and signed bodies).
//! Each run starts from a new data directory, so the cached transfers are
//! new to every node.
//!
//! The node runs with its default logging (one line per request) written to
//! a file, as an operator would run it. The load generator is one thread
//! (tokio's current-thread runtime, hyper's HTTP/1.1 client), so it takes at
//! most one of the machine's cores from the node. At the end the node's
//! `/health` must count every accepted transfer as pending, or the bench
//! fails.
//!
//! `INGEST_SECONDS` (default 10) sets how long to drive; `INGEST_TRANSFERS`
//! (default 200,000) how many transfers to pre-sign: the run stops early
//! (and says how long it ran) if the node takes them all. `INGEST_DIR` sets
//! where the node's data directory is made (default: the system's temporary
//! folder); `INGEST_DIR=/dev/shm` (memory, where fsync costs nothing) shows
//! what the node does when the disk is not the limit.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use wallet::{Address, Wallet};

/// Concurrent keep-alive connections, as the goal states.
const CONNECTIONS: usize = 16;
/// Funded sender wallets the transfers are spread over.
const SENDERS: usize = 64;
/// Each sender's balance: far more than the one coin per transfer it sends.
const REWARD: u64 = 1_000_000_000_000;
/// Difficulty of the bench chain: low, so building it is instant.
const DIFFICULTY: u32 = 1;

/// The pre-signed transfers: the funded senders and one JSON body per transfer.
struct Transfers {
    senders: Vec<Address>,
    bodies: Vec<Bytes>,
}

fn env_number(var: &str, default: u64) -> u64 {
    std::env::var(var).map_or(default, |v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var} is a whole number, got {v:?}"))
    })
}

/// `target/` of this build: the bench runs from `target/release/deps/`.
fn target_dir() -> PathBuf {
    let me = std::env::current_exe().expect("the bench knows its own path");
    me.ancestors()
        .nth(3)
        .expect("benches live in target/release/deps")
        .to_owned()
}

/// The cached transfers for `count`, else signs them (on every core) and caches them.
fn transfers(count: usize) -> Transfers {
    let cache = target_dir()
        .join("ingest-bench")
        .join(format!("transfers-{SENDERS}x-{count}.jsonl"));
    if let Some(cached) = read_cache(&cache, count) {
        return cached;
    }
    let started = Instant::now();
    let signed = sign(count);
    eprintln!(
        "signed {count} transfers in {:.1} s; caching them in {}",
        started.elapsed().as_secs_f64(),
        cache.display()
    );
    write_cache(&cache, &signed);
    signed
}

/// Reads a cache file: the senders as a JSON array on the first line, then one body per line.
fn read_cache(path: &Path, count: usize) -> Option<Transfers> {
    let text = std::fs::read(path).ok()?;
    let mut lines = text.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let senders: Vec<String> = serde_json::from_slice(lines.next()?).ok()?;
    let senders = senders
        .iter()
        .map(|s| Address::parse(s).ok())
        .collect::<Option<Vec<_>>>()?;
    let bodies: Vec<Bytes> = lines.map(Bytes::copy_from_slice).collect();
    (bodies.len() == count && senders.len() == SENDERS).then_some(Transfers { senders, bodies })
}

fn write_cache(path: &Path, transfers: &Transfers) {
    std::fs::create_dir_all(path.parent().expect("the cache file has a folder"))
        .expect("target/ is writable");
    let partial = path.with_extension("partial");
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(&partial).expect("target/ is writable"));
    let senders: Vec<&str> = transfers.senders.iter().map(Address::as_str).collect();
    serde_json::to_writer(&mut out, &senders).expect("the cache can be written");
    out.write_all(b"\n").expect("the cache can be written");
    for body in &transfers.bodies {
        out.write_all(body).expect("the cache can be written");
        out.write_all(b"\n").expect("the cache can be written");
    }
    out.flush().expect("the cache can be written");
    drop(out);
    // Renamed whole, so an interrupted run never leaves a short cache.
    std::fs::rename(&partial, path).expect("the cache can be renamed");
}

/// Makes the senders and signs `count` one-coin transfers from them to one recipient, on every core.
fn sign(count: usize) -> Transfers {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let wallets: Vec<Wallet> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..SENDERS)
                        .step_by(threads)
                        .map(|i| (i, Wallet::generate()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Wallet)> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("a key-making thread does not panic"))
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, w)| w).collect()
    });
    let recipient = Wallet::generate();
    let done = AtomicUsize::new(0);
    let bodies: Vec<Bytes> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (wallets, recipient, done) = (&wallets, &recipient, &done);
                scope.spawn(move || {
                    (t..count)
                        .step_by(threads)
                        .map(|i| {
                            let transfer =
                                common::signed(&wallets[i % SENDERS], recipient, 1, i as u64);
                            let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                            if finished % (count / 10).max(1) == 0 {
                                eprintln!("signed {finished} of {count} transfers");
                            }
                            let body = serde_json::to_vec(&transfer).expect("JSON");
                            (i, Bytes::from(body))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Bytes)> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("a signing thread does not panic"))
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, b)| b).collect()
    });
    Transfers {
        senders: wallets.iter().map(|w| w.address().clone()).collect(),
        bodies,
    }
}

/// A node process; killed when dropped.
struct Running {
    child: Child,
    address: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the node on `data` (port 0), its log going to `log`, with room in its pool for `pool` transfers.
fn start(bin: &Path, data: &Path, log: &Path, pool: usize) -> Running {
    let log = std::fs::File::create(log).expect("the bench folder is writable");
    let mut child = Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", "0"])
        .args(["--difficulty", &DIFFICULTY.to_string()])
        // The chain was written through the store, without a node key.
        .arg("--new-key")
        .arg("--data-dir")
        .arg(data)
        // No config.toml is read from the bench folder.
        .current_dir(data.parent().expect("a data directory has a parent"))
        .env("SIGCHAIN_MINING_REWARD", REWARD.to_string())
        .env("SIGCHAIN_MAX_POOL", pool.to_string())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("the node binary runs");
    let stdout = child.stdout.take().expect("stdout is piped");
    let url =
        common::listening_url(stdout, Duration::from_secs(120)).expect("the node starts listening");
    Running {
        child,
        address: url.trim_start_matches("http://").to_owned(),
    }
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    /// Latency of every answered request, whatever its status.
    latencies: Vec<Duration>,
    /// Answers by status; 0 counts requests that got no answer (a connection error).
    statuses: BTreeMap<u16, u64>,
}

/// Posts the bodies in order, each once, on [`CONNECTIONS`] connections until
/// `duration` is up or none is left; returns what each saw and how long it took.
fn drive(address: &str, bodies: Arc<Vec<Bytes>>, duration: Duration) -> (Tally, Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let deadline = started + duration;
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let (address, bodies, next) = (address.to_owned(), bodies.clone(), next.clone());
                tokio::spawn(connection(address, bodies, next, deadline))
            })
            .collect();
        let mut total = Tally::default();
        for task in tasks {
            let tally = task.await.expect("a connection task does not panic");
            total.latencies.extend(tally.latencies);
            for (status, n) in tally.statuses {
                *total.statuses.entry(status).or_default() += n;
            }
        }
        (total, started.elapsed())
    })
}

/// One keep-alive connection posting the next unsent body until the deadline.
async fn connection(
    address: String,
    bodies: Arc<Vec<Bytes>>,
    next: Arc<AtomicUsize>,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("the node accepts connections");
    stream.set_nodelay(true).expect("TCP_NODELAY can be set");
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("an HTTP/1.1 connection");
    tokio::spawn(conn);
    while Instant::now() < deadline {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = bodies.get(i) else { break };
        let request = hyper::Request::post("/transactions/new")
            .header(hyper::header::HOST, &address)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
            .expect("a valid request");
        let sent = Instant::now();
        let answered = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                // The whole answer is read before the next request.
                response.into_body().collect().await.ok().map(|_| status)
            }
            Err(_) => None,
        };
        match answered {
            Some(status) => {
                tally.latencies.push(sent.elapsed());
                *tally.statuses.entry(status).or_default() += 1;
            }
            None => {
                *tally.statuses.entry(0).or_default() += 1;
                break;
            }
        }
    }
    tally
}

/// The body of `GET path`, on a plain connection.
fn get(address: &str, path: &str) -> Vec<u8> {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(address).expect("the node accepts connections");
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request can be sent");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the answer can be read");
    let start = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer has a head")
        + 4;
    answer.split_off(start)
}

/// `GET /health`'s pending count.
fn pending(address: &str) -> u64 {
    let health: serde_json::Value =
        serde_json::from_slice(&get(address, "/health")).expect("/health answers JSON");
    health["pending"].as_u64().expect("/health counts pending")
}

/// The value of the unlabelled series `name` in `GET /metrics` (0 if absent).
fn metric(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// CPU seconds (user + system) process `pid` has used, from /proc (Linux).
fn cpu_seconds(pid: &str) -> f64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("Linux has /proc/PID/stat");
    // The command name may hold spaces; the fields after it do not.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat names the command") + 2..]
        .split_whitespace()
        .collect();
    // utime and stime, fields 14 and 15 of stat(5), in clock ticks of 1/100 s.
    let ticks: f64 =
        fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let seconds = env_number("INGEST_SECONDS", 10);
    let count = env_number("INGEST_TRANSFERS", 200_000) as usize;
    let bin = common::node_bin();
    let transfers = transfers(count);
    let root = match std::env::var_os("INGEST_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("a temporary directory");
    let data = root.path().join("data");
    common::fund_chain(&data, DIFFICULTY, REWARD, &transfers.senders);
    let node = start(&bin, &data, &root.path().join("node.log"), count);
    let node_pid = node.child.id().to_string();
    let (node_cpu, own_cpu) = (cpu_seconds(&node_pid), cpu_seconds("self"));
    let (mut tally, took) = drive(
        &node.address,
        Arc::new(transfers.bodies),
        Duration::from_secs(seconds),
    );
    let node_cpu = cpu_seconds(&node_pid) - node_cpu;
    let own_cpu = cpu_seconds("self") - own_cpu;
    let accepted = tally.statuses.get(&201).copied().unwrap_or(0);
    let pending = pending(&node.address);
    assert_eq!(
        pending, accepted,
        "every accepted transfer is pending in the node"
    );
    tally.latencies.sort();
    let errors: Vec<String> = tally
        .statuses
        .iter()
        .filter(|(status, _)| **status != 201)
        .map(|(status, n)| format!("{n}x{status}"))
        .collect();
    let error_count: u64 = tally
        .statuses
        .iter()
        .filter(|(status, _)| **status != 201)
        .map(|(_, n)| n)
        .sum();
    println!(
        "ingest: {:.0} accepted/s (201), p50 {:.2} ms, p99 {:.2} ms, {error_count} errors ({}), {CONNECTIONS} connections, {:.1} s",
        accepted as f64 / took.as_secs_f64(),
        percentile(&tally.latencies, 0.50),
        percentile(&tally.latencies, 0.99),
        if errors.is_empty() { "none".to_owned() } else { errors.join(", ") },
        took.as_secs_f64(),
    );
    // How the store grouped the transfers into commits.
    let metrics = String::from_utf8(get(&node.address, "/metrics")).expect("metrics are text");
    let commits = metric(&metrics, "sigchain_store_commits_total");
    let grouped = metric(&metrics, "sigchain_store_commit_batch_requests_sum");
    let commit_seconds = metric(&metrics, "sigchain_store_commit_duration_seconds_sum");
    println!(
        "ingest store: {commits:.0} commits, {:.1} requests and {:.2} ms a commit",
        grouped / commits.max(1.0),
        commit_seconds / commits.max(1.0) * 1e3,
    );
    // Where the machine's cores went: the node's CPU and the load generator's, per answered request.
    let answered = tally.latencies.len().max(1) as f64;
    println!(
        "ingest cpu: node {:.0} us, load generator {:.0} us per request ({:.1} and {:.1} cores busy)",
        node_cpu / answered * 1e6,
        own_cpu / answered * 1e6,
        node_cpu / took.as_secs_f64(),
        own_cpu / took.as_secs_f64(),
    );
}
