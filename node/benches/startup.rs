//! Node start-up cost with a long stored chain: time from spawn to the listening line, RSS after start, and disk bytes per block (`cargo bench -p node --bench startup`).
//!
//! Builds a data directory holding a valid chain of N blocks (difficulty 1,
//! the default genesis and reward; each block after the second holds one
//! signed transfer, alternately between two wallets, and the reward), then
//! starts the real optimized `sigchain-node` binary on it several times, as a
//! normal start (hashes, links, proofs, rewards and balances checked; stored
//! signatures trusted) and with `--reverify` (every signature verified too).
//! The node checks the chain before it listens, so the figures are what an
//! operator waits for.
//!
//! Run `cargo build --release -p node` first: the bench starts
//! `target/release/sigchain-node` (or `NODE_BIN`). `STARTUP_BENCH_SIZES=1000,5000`
//! overrides the sizes (default 10,000 and 100,000); `STARTUP_BENCH_DIR` keeps
//! the built data directories for reuse (building 100,000 blocks signs 100,000
//! transfers, about a minute on two cores).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use node::store::STORE_FILE;

const DIFFICULTY: u32 = 1;
const STARTS: usize = 3;

/// The default network's rules (genesis timestamp 0.0, reward 1) at difficulty 1.
/// Builds a valid chain of `count` blocks in the data directory `dir` (unless one is there).
fn build(dir: &Path, count: u64) {
    if dir.join(STORE_FILE).exists() {
        return;
    }
    let started = Instant::now();
    let signing = common::build_chain(dir, count, DIFFICULTY);
    eprintln!(
        "built {count} blocks in {:.1} s (signing {:.1} s)",
        started.elapsed().as_secs_f64(),
        signing.as_secs_f64()
    );
}

/// One `VmRSS:`-style field of /proc/PID/status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("Linux has /proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Starts the node on `dir`; returns (spawn → listening line, RSS KiB, peak RSS KiB, /chain time).
fn start(node: &Path, dir: &Path, cwd: &Path, extra: &[&str]) -> (Duration, u64, u64, Duration) {
    let started = Instant::now();
    let mut child = Command::new(node)
        .args(["--host", "127.0.0.1", "--port", "0", "--difficulty", "1"])
        // The bench writes the chain through the store, without a node key:
        // the first start makes one (later starts find it and ignore the flag).
        .arg("--new-key")
        .args(extra)
        .arg("--data-dir")
        .arg(dir)
        // No config.toml is read from an empty directory.
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the node binary runs");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("sigchain node listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let Ok(url) = rx.recv_timeout(Duration::from_secs(600)) else {
        let _ = child.kill();
        let status = child.wait();
        panic!("the node did not start on {} ({status:?})", dir.display());
    };
    let listening = started.elapsed();
    let pid = child.id();
    let rss = status_kib(pid, "VmRSS:");
    let peak = status_kib(pid, "VmHWM:");
    // How long the whole chain takes to serve, as a peer's resolve would ask for it.
    let asked = Instant::now();
    let chain = http_get(&url, "/chain");
    let serve = asked.elapsed();
    assert!(chain > 0, "/chain answered");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("the child can be polled").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
    (listening, rss, peak, serve)
}

/// A plain HTTP/1.0 GET over a TCP socket; returns the number of bytes read.
fn http_get(url: &str, path: &str) -> usize {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("the node accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("a timeout can be set");
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request can be sent");
    let mut body = Vec::new();
    stream
        .read_to_end(&mut body)
        .expect("the answer can be read");
    body.len()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let sizes = common::sizes_from_env("STARTUP_BENCH_SIZES");
    let node = common::node_bin();
    let temporary;
    let root: PathBuf = match std::env::var_os("STARTUP_BENCH_DIR") {
        Some(dir) => dir.into(),
        None => {
            temporary = tempfile::tempdir().expect("a temporary directory");
            temporary.path().to_owned()
        }
    };
    let cwd = root.join("cwd");
    std::fs::create_dir_all(&cwd).expect("the bench directory is writable");
    for count in sizes {
        let dir = root.join(format!("startup-{count}"));
        build(&dir, count);
        let metadata = std::fs::metadata(dir.join(STORE_FILE)).expect("the store file exists");
        // redb grows the file by regions it has not written yet: the file is
        // sparse, so its length overstates what it takes on disk.
        let (size, allocated) = (metadata.len(), metadata.blocks() * 512);
        for (mode, extra) in [("normal", &[][..]), ("--reverify", &["--reverify"][..])] {
            for _ in 0..STARTS {
                let (listening, rss, peak, serve) = start(&node, &dir, &cwd, extra);
                println!(
                "{count:>7} blocks, {mode:>10}: spawn to listening {:>7.0} ms, RSS after start {:>6.1} MiB (peak {:.1} MiB), GET /chain {:.0} ms; {} length {:.1} MiB = {} bytes/block, on disk {:.1} MiB = {} bytes/block",
                listening.as_secs_f64() * 1e3,
                rss as f64 / 1024.0,
                peak as f64 / 1024.0,
                serve.as_secs_f64() * 1e3,
                STORE_FILE,
                size as f64 / (1024.0 * 1024.0),
                size / count,
                allocated as f64 / (1024.0 * 1024.0),
                allocated / count,
            );
            }
        }
    }
}
