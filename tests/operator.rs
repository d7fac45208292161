//! A careless operator, end to end: a data directory that lost its chain, its key or its pending journal, a full disk under the log, and a node bound to `::` asked for its secret over IPv4 loopback.
//!
//! Every node here is the real `sigchain-node` binary on a free loopback port;
//! every wait is bounded. The full-disk test mounts a tmpfs (root only): where
//! it cannot, it says so and passes, except under `CI=true`, where it fails.

mod support;

use std::fs;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use serde_json::Value;
use support::{http, start_command, NodeOptions, Start, TestNode};

const STORE_FILE: &str = "chain.redb";
const KEY_FILE: &str = "node.key";

/// The prefix of the node's one error line.
const ERROR_PREFIX: &str = "sigchain-node: ";

// ---------------------------------------------------------------------------
// Starting over only on purpose
// ---------------------------------------------------------------------------

/// A stopped node's data directory with two mined blocks, and the address its key gives.
fn stopped_node_with_blocks() -> (TestNode, String) {
    let mut node = TestNode::start();
    node.mine();
    node.mine();
    let address = node.address();
    assert!(node.stop(), "the node stops cleanly");
    (node, address)
}

/// Starts a node on `dir` with `flags` added.
fn start(dir: &Path, flags: &[&str]) -> Start {
    let options = NodeOptions {
        args: flags.iter().map(|f| f.to_string()).collect(),
        ..NodeOptions::default()
    };
    let log = dir.with_extension(format!("start-{}.log", flags.join("")));
    let _ = fs::remove_file(&log);
    start_command(TestNode::command(dir, &options), &log)
}

/// Checks a refusal: exit status 1, no panic, and exactly one line on stderr,
/// the error; returns that line.
fn refusal(outcome: Start, what: &str) -> String {
    let (status, stderr): (ExitStatus, String) = match outcome {
        Start::Listening { url, .. } => {
            panic!("{what}: the node started on {url} instead of refusing")
        }
        Start::Exited { status, stderr } => (status, stderr),
    };
    assert_eq!(
        status.code(),
        Some(1),
        "{what}: exit status; stderr:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: one line on stderr:\n{stderr}");
    assert!(lines[0].starts_with(ERROR_PREFIX), "{what}: {stderr}");
    lines[0].to_owned()
}

/// The node a start must have produced, and its `/wallet` address and chain length.
fn started(outcome: Start, what: &str) -> (support::Process, String, usize) {
    match outcome {
        Start::Listening { process, url } => {
            let (status, wallet) = http(
                "GET",
                &format!("{url}/wallet"),
                None,
                Duration::from_secs(30),
            );
            assert_eq!(status, 200, "{what}: {wallet}");
            let (status, chain) = http(
                "GET",
                &format!("{url}/chain"),
                None,
                Duration::from_secs(30),
            );
            assert_eq!(status, 200, "{what}: {chain}");
            let address = wallet["address"].as_str().expect("an address").to_owned();
            let length = chain["length"].as_u64().expect("a length") as usize;
            (process, address, length)
        }
        Start::Exited { status, stderr } => panic!("{what}: refused ({status}):\n{stderr}"),
    }
}

#[test]
fn a_lost_chain_next_to_its_key_is_refused_unless_new_chain_is_given() {
    let (node, address) = stopped_node_with_blocks();
    let dir = &node.data_dir;
    let chain = dir.join(STORE_FILE);
    let key = dir.join(KEY_FILE);

    for (what, damage, state) in [
        ("deleted", None, "is missing"),
        ("emptied", Some(""), "is empty"),
    ] {
        match damage {
            None => fs::remove_file(&chain).expect("the chain file can be deleted"),
            Some(text) => fs::write(&chain, text).expect("the chain file can be emptied"),
        }
        let line = refusal(start(dir, &[]), &format!("chain {what}"));
        for needle in [
            chain.display().to_string(),
            key.display().to_string(),
            "--new-chain".into(),
            state.into(),
        ] {
            assert!(
                line.contains(&needle),
                "chain {what}: the line names {needle}: {line}"
            );
        }
        assert!(
            !chain.exists() || fs::metadata(&chain).unwrap().len() == 0,
            "the refusal wrote nothing"
        );
    }

    // With the flag, a new chain with the same key.
    let (mut process, again, length) = started(start(dir, &["--new-chain"]), "--new-chain");
    assert_eq!(again, address, "the key is kept");
    assert_eq!(length, 1, "a new chain has only the genesis block");
    assert!(process
        .terminate(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    // The flag is not needed again, and does no harm if left in place.
    let (mut process, _, _) = started(start(dir, &[]), "restart after --new-chain");
    assert!(process.terminate(Duration::from_secs(30)).is_some());
    let (mut process, _, length) = started(start(dir, &["--new-chain"]), "--new-chain on a chain");
    assert_eq!(length, 1);
    assert!(process.terminate(Duration::from_secs(30)).is_some());
}

#[test]
fn a_lost_key_next_to_its_chain_is_refused_unless_new_key_is_given() {
    let (node, address) = stopped_node_with_blocks();
    let dir = &node.data_dir;
    let chain = dir.join(STORE_FILE);
    let key = dir.join(KEY_FILE);
    fs::remove_file(&key).expect("the key file can be deleted");

    let line = refusal(start(dir, &[]), "key deleted");
    for needle in [
        key.display().to_string(),
        chain.display().to_string(),
        "--new-key".into(),
    ] {
        assert!(line.contains(&needle), "the line names {needle}: {line}");
    }
    assert!(!key.exists(), "the refusal made no key");

    let (mut process, other, length) = started(start(dir, &["--new-key"]), "--new-key");
    assert_ne!(other, address, "a new key");
    assert_eq!(length, 3, "the chain is kept");
    assert!(process
        .terminate(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    assert!(key.exists());
}

/// The pending journals in `dir`.
fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .expect("the data directory reads")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("pending-") && name.ends_with(".journal")
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_lost_pending_journal_is_refused_unless_drop_pending_journal_is_given() {
    let (node, address) = stopped_node_with_blocks();
    let dir = &node.data_dir;
    let [journal] = &journals(dir)[..] else {
        panic!("one pending journal in {}", dir.display())
    };
    fs::remove_file(journal).expect("the journal can be deleted");

    let line = refusal(start(dir, &[]), "journal deleted");
    for needle in [
        journal.display().to_string(),
        "is missing".into(),
        "--drop-pending-journal".into(),
    ] {
        assert!(line.contains(&needle), "the line names {needle}: {line}");
    }
    assert!(journals(dir).is_empty(), "the refusal wrote nothing");

    let (mut process, again, length) = started(
        start(dir, &["--drop-pending-journal"]),
        "--drop-pending-journal",
    );
    assert_eq!(again, address, "the key is kept");
    assert_eq!(length, 3, "the chain is kept");
    assert!(process
        .terminate(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    assert_eq!(journals(dir).len(), 1, "a new journal");
    // Not needed again.
    let (mut process, _, length) = started(start(dir, &[]), "restart after the flag");
    assert_eq!(length, 3);
    assert!(process.terminate(Duration::from_secs(30)).is_some());
}

#[test]
fn a_fresh_directory_starts_and_makes_both_files() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("data");
    let (mut process, address, length) = started(start(&dir, &[]), "fresh directory");
    assert_eq!(length, 1);
    assert!(process
        .terminate(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    assert!(dir.join(STORE_FILE).exists() && dir.join(KEY_FILE).exists());
    // And the next start finds both.
    let (mut process, again, _) = started(start(&dir, &[]), "second start");
    assert_eq!(again, address);
    assert!(process.terminate(Duration::from_secs(30)).is_some());
}

// ---------------------------------------------------------------------------
// `--host ::`
// ---------------------------------------------------------------------------

#[test]
fn a_node_on_all_ipv6_addresses_gives_its_secret_to_an_ipv4_loopback_caller() {
    const WHAT: &str = "--host :: and an IPv4 loopback caller";
    if let Err(e) = TcpListener::bind("[::]:0") {
        support::skip(WHAT, &format!("this machine has no IPv6 ({e})"));
        return;
    }
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("data");
    let mut command = Command::new(support::bin("sigchain-node"));
    command
        .args([
            "--host",
            "::",
            "--port",
            "0",
            "--difficulty",
            "2",
            "--miner-threads",
            "1",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .current_dir(tmp.path())
        .env("RUST_LOG", "info");
    let log = tmp.path().join("node.log");
    let (_process, url) = match start_command(command, &log) {
        Start::Listening { process, url } => (process, url),
        Start::Exited { stderr, .. } => panic!("{WHAT}: the node did not start:\n{stderr}"),
    };
    let port = url.rsplit(':').next().expect("the URL ends with the port");
    for base in [
        format!("http://127.0.0.1:{port}"),
        format!("http://[::1]:{port}"),
    ] {
        let (status, body) = http(
            "GET",
            &format!("{base}/secret"),
            None,
            Duration::from_secs(30),
        );
        assert_eq!(status, 200, "{base}/secret: {body}");
        assert!(body["secret"].as_str().is_some_and(|s| !s.is_empty()));
    }
}

// ---------------------------------------------------------------------------
// A full disk under the log
// ---------------------------------------------------------------------------

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as mount's `size=`), or says why it cannot.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = parent.path().join("disk");
        fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir,
            _parent: parent,
        })
    }

    /// Fills the disk with one file, until a write fails.
    fn fill(&self) {
        let mut filler = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("filler"))
            .expect("the filler file can be made");
        let block = [b'x'; 1024];
        while filler
            .write_all(&block)
            .and_then(|()| filler.flush())
            .is_ok()
        {}
        // Whatever fits of a single byte, too.
        while filler.write_all(b"x").is_ok() {}
    }

    fn free(&self) {
        fs::remove_file(self.dir.join("filler")).expect("the filler file can be removed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
fn a_full_disk_under_the_log_neither_stops_nor_hangs_the_node() {
    const WHAT: &str = "a full disk under the log";
    // Declared first, so it is unmounted after the node (below) is gone.
    let disk = match Tmpfs::mount("64k") {
        Ok(disk) => disk,
        Err(why) => {
            support::skip(WHAT, &why);
            return;
        }
    };
    let data = tempfile::tempdir().expect("a temporary directory");
    let log = disk.dir.join("node.log");
    let command = TestNode::command(&data.path().join("data"), &NodeOptions::default());
    let (mut process, url) = match start_command(command, &log) {
        Start::Listening { process, url } => (process, url),
        Start::Exited { stderr, .. } => panic!("{WHAT}: the node did not start:\n{stderr}"),
    };
    let get = |path: &str| {
        http(
            "GET",
            &format!("{url}{path}"),
            None,
            Duration::from_secs(30),
        )
    };

    disk.fill();
    for n in 0..200 {
        let path = [
            "/health",
            "/chain",
            "/transactions",
            "/nodes",
            "/no-such-page",
        ][n % 5];
        let (status, body) = get(path);
        let expected = if path == "/no-such-page" { 404 } else { 200 };
        assert_eq!(
            status, expected,
            "request {n} ({path}) with the disk full: {body}"
        );
        assert!(
            body.is_object(),
            "request {n} ({path}): a JSON answer: {body}"
        );
    }
    // The writer thread counts a line when its write fails, a moment after the answer.
    let mut health = Value::Null;
    let counted = support::wait_until(Duration::from_secs(30), || {
        let (status, body) = get("/health");
        assert_eq!(status, 200, "{body}");
        health = body;
        health["log_lines_dropped"]
            .as_u64()
            .is_some_and(|n| n >= 200)
    });
    assert!(
        counted,
        "every request's log line was dropped and counted: {health}"
    );

    // Once there is room again, the log says what it lost.
    disk.free();
    assert!(
        support::wait_until(Duration::from_secs(30), || {
            let _ = get("/health");
            fs::read_to_string(&log).is_ok_and(|text| text.contains("log lines were dropped"))
        }),
        "the log reports the dropped lines once it can:\n{}",
        fs::read_to_string(&log).unwrap_or_default()
    );

    // SIGTERM stops it, even with the disk full again.
    disk.fill();
    let status = process.terminate(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the node stops cleanly on SIGTERM with the disk full: {status:?}"
    );
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains("panicked"), "no panic:\n{text}");
}
