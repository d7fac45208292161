//! Node start-up cost with a long stored chain: time from spawn to the listening line, RSS after start, the store's size on disk, and how soon `/chain` starts answering (`cargo bench -p node --bench startup -- 100000 1000000`).
//!
//! Builds a data directory holding a valid chain of N blocks (difficulty 1,
//! the default genesis and reward; each block after the second holds one
//! signed transfer, alternately between two wallets, and the reward), then
//! starts the real optimized `sigchain-node` binary on it several times, as a
//! normal start (hashes, links, proofs, rewards and balances checked; stored
//! signatures trusted) and with `--reverify` (every signature verified too).
//! The node checks the chain before it listens, so the figures are what an
//! operator waits for. Each size prints one line of medians over the starts:
//!
//! `startup N blocks: S s to listening, RSS M MiB, disk D MiB, first byte of /chain F ms`
//!
//! and one more for `--reverify`. The first byte is timed from sending
//! `GET /chain` on a raw TCP socket to reading the first byte of the body
//! (of its first chunk: the answer is streamed);
//! each start's details (the whole answer's time, RSS after it) go to stderr.
//!
//! Run `cargo build --release -p node` first: the bench starts
//! `target/release/sigchain-node` (or `NODE_BIN`). Sizes are the arguments,
//! else `STARTUP_BENCH_SIZES=1000,5000`, else 10,000 and 100,000.
//! `STARTUP_BENCH_DIR` keeps the built data directories for reuse (building
//! signs one transfer per block on every core: about a minute per 100,000
//! blocks on two cores, with progress lines); an interrupted build is
//! started again, never reused.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use node::store::STORE_FILE;

const DIFFICULTY: u32 = 1;
const STARTS: usize = 3;

/// Builds a valid chain of `count` blocks in the data directory `dir`, unless
/// a finished one is there. Built beside it and renamed when complete, so an
/// interrupted build is never taken for a finished one.
fn build(dir: &Path, count: u64) {
    if dir.join(STORE_FILE).exists() {
        return;
    }
    let partial = dir.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial).expect("an interrupted build can be removed");
    }
    let started = Instant::now();
    let signing = common::build_chain(&partial, count, DIFFICULTY);
    std::fs::rename(&partial, dir).expect("the finished build can be renamed");
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

/// What one start measured.
struct Start {
    /// Spawn → the listening line.
    listening: Duration,
    /// RSS right after listening, and after serving the whole chain, KiB.
    rss: u64,
    rss_after_chain: u64,
    /// `GET /chain` sent → first body byte, and → the whole answer read.
    first_byte: Duration,
    whole: Duration,
    body_bytes: usize,
}

/// A started node, killed when dropped (also when a measurement panics).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().is_ok_and(|status| status.is_none()) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Starts the node on `dir`, measures, and stops it.
fn start(node: &Path, dir: &Path, cwd: &Path, extra: &[&str]) -> Start {
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
    let mut child = Running(child);
    let Some(url) = common::listening_url(stdout, Duration::from_secs(1800)) else {
        panic!("the node did not start on {}", dir.display());
    };
    let listening = started.elapsed();
    let pid = child.0.id();
    let rss = status_kib(pid, "VmRSS:");
    let (first_byte, whole, body_bytes) = get_chain(&url);
    let rss_after_chain = status_kib(pid, "VmRSS:");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child
        .0
        .try_wait()
        .expect("the child can be polled")
        .is_none()
    {
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(child);
    Start {
        listening,
        rss,
        rss_after_chain,
        first_byte,
        whole,
        body_bytes,
    }
}

/// `GET /chain` on a raw TCP socket; returns the time to the first byte of
/// the body on the wire (a chunk's size line counts: it comes with the
/// chunk), to the end of the answer, and the decoded body's length.
fn get_chain(url: &str) -> (Duration, Duration, usize) {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("the node accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(600)))
        .expect("a timeout can be set");
    let asked = Instant::now();
    write!(
        stream,
        "GET /chain HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request can be sent");
    let mut answer = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut first_byte = None;
    let mut body_at = None;
    loop {
        let read = stream.read(&mut buffer).expect("the answer can be read");
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
        if body_at.is_none() {
            body_at = answer
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|at| at + 4);
        }
        if first_byte.is_none() && body_at.is_some_and(|at| answer.len() > at) {
            first_byte = Some(asked.elapsed());
        }
    }
    let whole = asked.elapsed();
    let body_at = body_at.expect("the answer has a head");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "/chain answered 200");
    let head = String::from_utf8_lossy(&answer[..body_at]).to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(&answer[body_at..])
    } else {
        answer[body_at..].to_vec()
    };
    assert!(
        body.starts_with(b"{\"chain\":[") && body.ends_with(b"}"),
        "a whole chain"
    );
    (
        first_byte.expect("the body is not empty"),
        whole,
        body.len(),
    )
}

/// The body of a `Transfer-Encoding: chunked` answer.
fn dechunk(mut wire: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(wire.len());
    loop {
        let line_end = wire
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = std::str::from_utf8(&wire[..line_end])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok())
            .expect("a hexadecimal chunk size");
        wire = &wire[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&wire[..size]);
        wire = &wire[size + 2..];
    }
}

fn median<T: Copy + Ord>(mut values: Vec<T>) -> T {
    values.sort_unstable();
    values[values.len() / 2]
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let sizes = common::sizes_from_args_or_env("STARTUP_BENCH_SIZES");
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
        // redb grows the file by regions it has not written yet: the file is
        // sparse, so its length overstates what it takes on disk.
        let metadata = std::fs::metadata(dir.join(STORE_FILE)).expect("the store file exists");
        let disk = metadata.blocks() * 512 / 1024;
        for (mode, extra) in [("", &[][..]), (" --reverify", &["--reverify"][..])] {
            let starts: Vec<Start> = (0..STARTS)
                .map(|_| start(&node, &dir, &cwd, extra))
                .collect();
            for s in &starts {
                eprintln!(
                    "  start{mode}: listening {:.2} s, RSS {:.1} MiB; /chain first byte {:.1} ms, whole {:.0} ms ({:.1} MiB), RSS after {:.1} MiB",
                    s.listening.as_secs_f64(),
                    mib(s.rss),
                    s.first_byte.as_secs_f64() * 1e3,
                    s.whole.as_secs_f64() * 1e3,
                    s.body_bytes as f64 / (1024.0 * 1024.0),
                    mib(s.rss_after_chain),
                );
            }
            let listening = median(starts.iter().map(|s| s.listening).collect());
            let rss = median(starts.iter().map(|s| s.rss).collect());
            let first_byte = median(starts.iter().map(|s| s.first_byte).collect());
            println!(
                "startup {count} blocks{mode}: {:.2} s to listening, RSS {:.1} MiB, disk {:.1} MiB, first byte of /chain {:.1} ms",
                listening.as_secs_f64(),
                mib(rss),
                mib(disk),
                first_byte.as_secs_f64() * 1e3,
            );
        }
    }
}
