//! End-to-end tests of the bash clients in `client-scripts/` against real nodes: the seed's story on two nodes, a bad signature, the README quickstart (`docs/quickstart.sh`), `testnet` start and stop, `-h` and an unreachable node.
//!
//! Run `cargo build --workspace` first (or `cargo test --workspace`): the
//! clients and the quickstart use `target/debug/{node,sigscript,wallet}`.
//! Needs bash and curl.

mod support;
use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{bin, bin_dir, http, sign, wait_until, workspace_root, NodeOptions, TestNode};

/// Bound on one client call (mining at test difficulty takes well under a second).
const CLIENT: Duration = Duration::from_secs(60);
/// Bound on the whole quickstart script.
const QUICKSTART: Duration = Duration::from_secs(80);
/// How long a stopped process may take to disappear.
const GONE: Duration = Duration::from_secs(15);

/// Every client the issue names, each of which must answer `-h`.
const CLIENTS: [&str; 11] = [
    "mine",
    "chain",
    "transactions",
    "secret",
    "sendTransaction",
    "register",
    "resolve",
    "nodes",
    "balance",
    "testnet",
    "join",
];

/// What a finished command printed and how it exited.
struct Run {
    /// The exit code; `None` when a signal ended it.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Asserts exit status 0 and returns the output.
    fn ok(self, what: &str) -> Run {
        assert_eq!(self.code, Some(0), "{what} failed: {}", self.describe());
        self
    }

    /// Stdout parsed as the one JSON value the clients print.
    fn json(&self, what: &str) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{what} did not print one JSON value ({e}): {}",
                self.describe()
            )
        })
    }

    /// Stdout as exactly one line (`s=$(secret)`, `me=$(balance --address)`).
    fn single_line(&self, what: &str) -> String {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{what} printed not one line: {}",
            self.describe()
        );
        lines[0].to_owned()
    }

    /// Asserts the failure the clients promise: the exit code, nothing on
    /// stdout and exactly one line on stderr, which is returned.
    fn one_line_failure(&self, what: &str, code: i32) -> String {
        assert_eq!(self.code, Some(code), "{what}: {}", self.describe());
        assert!(
            self.stdout.is_empty(),
            "{what} printed on stdout: {}",
            self.describe()
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{what}: not one line on stderr: {}",
            self.describe()
        );
        lines[0].to_owned()
    }
}

/// Runs `command` (stdin null, output captured) and waits at most `timeout`;
/// on time-out sends SIGTERM (so scripts run their exit traps), then SIGKILL, and panics.
fn run(mut command: Command, timeout: Duration) -> Run {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    // Read both pipes while the command runs, so a large answer cannot fill one and block it.
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be polled") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let Some(status) = status else {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let stopped = wait_until(Duration::from_secs(10), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !stopped {
            let _ = child.kill();
            let _ = child.wait();
        }
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        panic!(
            "{shown} did not finish within {timeout:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    };
    Run {
        code: status.code(),
        stdout: out.join().expect("the stdout reader does not panic"),
        stderr: err.join().expect("the stderr reader does not panic"),
    }
}

fn scripts_dir() -> PathBuf {
    workspace_root().join("client-scripts")
}

/// PATH with the clients and the workspace binaries (sigscript, wallet) first.
fn search_path() -> OsString {
    let mut dirs = vec![scripts_dir(), bin_dir()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).expect("no directory of PATH holds a ':'")
}

/// A client script talking to the node at `host`, as a user's shell after `. rc host` would run it.
fn client(name: &str, host: &str, args: &[&str]) -> Command {
    let mut command = Command::new(scripts_dir().join(name));
    command
        .args(args)
        .env("clientHost", host)
        .env("PATH", search_path())
        .env("SIGCHAIN_NODE_BIN", bin("sigchain-node"))
        // Settings that would change what the clients print.
        .env_remove("SIGCHAIN_RAW")
        .env_remove("SIGCHAIN_QUIET")
        .env_remove("SIGCHAIN_NO_JQ")
        .env_remove("SC_HOST");
    command
}

/// Runs a client and returns its output.
fn call(name: &str, host: &str, args: &[&str]) -> Run {
    run(client(name, host, args), CLIENT)
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("the system gives a free loopback port")
        .port()
}

/// The first of `count` consecutive loopback ports that were all free a moment ago,
/// below the ephemeral range so that port-0 binds of parallel tests do not take them.
fn free_port_range(count: u16) -> u16 {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
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

/// Whether `pid` still runs: its /proc entry exists and is not a zombie (an
/// orphan may wait as a zombie for a parent that never reaps it; it has stopped).
fn running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    !matches!(state, Some('Z') | Some('X') | None)
}

/// Running processes whose command line mentions `needle`, as "pid: cmdline".
fn processes_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != std::process::id() && running(pid))
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            cmdline
                .contains(&needle)
                .then(|| format!("{pid}: {cmdline}"))
        })
        .collect()
}

/// Whether `list` holds a transfer from `sender` to `recipient` of `amount` with `signature`.
fn holds_transfer(
    list: &Value,
    sender: &str,
    recipient: &str,
    amount: u64,
    signature: &str,
) -> bool {
    list.as_array().is_some_and(|txs| {
        txs.iter().any(|tx| {
            tx["sender"] == sender
                && tx["recipient"] == recipient
                && tx["amount"] == amount
                && tx["signature"] == signature
        })
    })
}

#[test]
fn the_seed_story_through_the_clients_on_two_nodes() {
    let first = TestNode::start();
    // The seed's story has `resolve` do the adoption: a background sync
    // racing it could adopt first, and resolve would then rightly say
    // "authoritative".
    let second = TestNode::start_with(NodeOptions {
        env: vec![("SIGCHAIN_SYNC_INTERVAL_MS".into(), "0".into())],
        ..NodeOptions::default()
    });

    // secret: the node's secret alone on one line, as `s=$(secret)` needs.
    let secret = call("secret", &first.url, &[])
        .ok("secret")
        .single_line("secret");
    assert_eq!(secret, first.secret(), "`secret` printed another secret");
    let me = call("balance", &first.url, &["--address"])
        .ok("balance --address")
        .single_line("balance --address");
    assert_eq!(me, first.address());
    // The second node's address is the recipient, so its own wallet shows the coin after resolve.
    let them = call("balance", &second.url, &["--address"])
        .ok("balance --address")
        .single_line("balance --address");
    assert_eq!(them, second.address());

    // A first block gives the node a coin to spend.
    let block = call("mine", &first.url, &[]).ok("mine").json("mine");
    assert_eq!(block["message"], "New Block Created", "{block}");
    assert_eq!(block["index"], 2, "{block}");

    // sigscript signs with the secret read from stdin.
    let signature = sign(&me, &them, 1, &secret, None);

    let sent = call(
        "sendTransaction",
        &first.url,
        &[&me, &them, "1", &signature],
    )
    .ok("sendTransaction")
    .json("sendTransaction");
    assert_eq!(
        sent["message"], "Transaction will be added to Block 3",
        "{sent}"
    );

    let pool = call("transactions", &first.url, &[])
        .ok("transactions")
        .json("transactions");
    assert_eq!(pool["length"], 1, "{pool}");
    assert!(
        holds_transfer(&pool["transactions"], &me, &them, 1, &signature),
        "the transfer is not in `transactions`: {pool}"
    );

    let block = call("mine", &first.url, &[]).ok("mine").json("mine");
    assert_eq!(block["index"], 3, "{block}");
    assert!(
        holds_transfer(&block["transactions"], &me, &them, 1, &signature),
        "the mined block lacks the transfer: {block}"
    );

    let chain_run = call("chain", &first.url, &[]).ok("chain");
    let chain = chain_run.json("chain");
    assert_eq!(chain["length"], 3, "{chain}");
    let tip = &chain["chain"][2];
    assert_eq!(tip["proof"], block["proof"], "{chain}");
    assert_eq!(tip["previous_hash"], block["previous_hash"], "{chain}");
    assert!(
        holds_transfer(&tip["transactions"], &me, &them, 1, &signature),
        "the chain's block 3 lacks the transfer: {chain}"
    );
    let pool = call("transactions", &first.url, &[])
        .ok("transactions")
        .json("transactions");
    assert_eq!(pool["length"], 0, "mined transfers stay pending: {pool}");
    let paid = call("balance", &first.url, &[&them])
        .ok("balance ADDRESS")
        .json("balance ADDRESS");
    assert_eq!(paid["balance"], 1, "{paid}");

    // The second node learns the first and adopts its longer chain.
    let registered = call("register", &second.url, &[&first.url])
        .ok("register")
        .json("register");
    let first_host = first.url.trim_start_matches("http://");
    assert!(
        registered["total_nodes"]
            .as_array()
            .is_some_and(|nodes| nodes.iter().any(|n| n == first_host)),
        "register did not add {first_host}: {registered}"
    );
    let nodes = call("nodes", &second.url, &[]).ok("nodes").json("nodes");
    assert_eq!(nodes["length"], 1, "{nodes}");

    let resolved = call("resolve", &second.url, &[])
        .ok("resolve")
        .json("resolve");
    assert_eq!(resolved["message"], "Our chain was replaced", "{resolved}");
    assert_eq!(resolved["new_chain"], chain["chain"], "{resolved}");

    let second_chain = call("chain", &second.url, &[]).ok("chain");
    assert_eq!(second_chain.json("chain"), chain, "the chains differ");
    assert_eq!(
        second_chain.stdout, chain_run.stdout,
        "`chain` prints the same chain differently"
    );
    let wallet = call("balance", &second.url, &[])
        .ok("balance")
        .json("balance");
    assert_eq!(wallet["address"], them.as_str(), "{wallet}");
    assert_eq!(wallet["balance"], 1, "{wallet}");
}

#[test]
fn a_bad_signature_is_a_401_on_one_line_and_a_failure() {
    let node = TestNode::start();
    let secret = node.secret();
    let me = node.address();
    let them = wallet::Wallet::generate().address().as_str().to_owned();
    node.mine();
    // A signature of "pay 1", sent as "pay 2": well formed, but it does not verify.
    let signature = sign(&me, &them, 1, &secret, None);
    let failed = call("sendTransaction", &node.url, &[&me, &them, "2", &signature]);
    let line = failed.one_line_failure("sendTransaction with a bad signature", 1);
    assert!(
        line.starts_with("sendTransaction: node answered 401: ") && line.contains("signature"),
        "unexpected error line: {line}"
    );
    let (_, pool) = node.get("/transactions");
    assert_eq!(pool["length"], 0, "a refused transfer is pending: {pool}");
}

#[test]
fn every_client_has_help_and_reports_an_unreachable_node_in_one_line() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    for name in CLIENTS {
        let help = call(name, &closed, &["-h"]).ok(&format!("{name} -h"));
        assert!(
            help.stdout.contains("Usage:") && help.stdout.contains(name),
            "{name} -h prints no usage: {}",
            help.describe()
        );
    }
    let rc = run(
        {
            let mut command = Command::new("bash");
            command
                .arg("-c")
                .arg(". \"$1\" -h")
                .arg("bash")
                .arg(scripts_dir().join("rc"));
            command
        },
        CLIENT,
    )
    .ok(". rc -h");
    assert!(rc.stdout.contains("Usage: . rc"), "{}", rc.describe());

    let signature = "c2lnbmF0dXJl";
    let cases: [(&str, &[&str]); 11] = [
        ("mine", &[]),
        ("chain", &[]),
        ("transactions", &[]),
        ("secret", &[]),
        ("resolve", &[]),
        ("nodes", &[]),
        ("balance", &[]),
        ("balance", &["--address"]),
        ("register", &["http://127.0.0.1:1"]),
        ("join", &["http://127.0.0.1:1"]),
        ("sendTransaction", &["a", "b", "1", signature]),
    ];
    for (name, args) in cases {
        let failed = call(name, &closed, args);
        let line = failed.one_line_failure(&format!("{name} {args:?} at a closed port"), 1);
        assert_eq!(
            line,
            format!("{name}: cannot reach node at {closed} (is it running?)")
        );
    }
}

#[test]
fn the_readme_quickstart_runs() {
    let tmp = tempfile::tempdir().expect("a temporary directory can be made");
    let port1 = free_port();
    let port2 = loop {
        let port = free_port();
        if port != port1 {
            break port;
        }
    };
    let mut command = Command::new("bash");
    command
        .arg(workspace_root().join("docs/quickstart.sh"))
        .current_dir(tmp.path())
        .env("SIGCHAIN_BIN_DIR", bin_dir())
        .env("PORT1", port1.to_string())
        .env("PORT2", port2.to_string())
        .env("SIGCHAIN_DATA", tmp.path().join("data"))
        .env("DIFFICULTY", "2")
        .env_remove("clientHost")
        .env_remove("SIGCHAIN_RAW")
        .env_remove("SIGCHAIN_QUIET");
    let quickstart = run(command, QUICKSTART);
    assert_eq!(
        quickstart.code,
        Some(0),
        "docs/quickstart.sh failed: {}",
        quickstart.describe()
    );
    for milestone in [
        "\"message\": \"New Block Created\"",
        "\"message\": \"Transaction will be added to Block 3\"",
        "\"message\": \"New nodes have been added\"",
        "\"message\": \"Our chain was replaced\"",
        &format!("the node on port {port2} now has the same chain as the node on port {port1}"),
        "== 11. Stop both nodes",
    ] {
        assert!(
            quickstart.stdout.contains(milestone),
            "the quickstart's output lacks {milestone:?}: {}",
            quickstart.describe()
        );
    }
    // The secret is used, never shown.
    let key = tmp.path().join(format!("data/node-{port1}/node.key"));
    let secret = std::fs::read_to_string(&key).expect("the first node wrote its key");
    let secret = secret.trim();
    assert!(secret.len() > 100, "{} holds no secret", key.display());
    assert!(
        !quickstart.stdout.contains(secret) && !quickstart.stderr.contains(secret),
        "the quickstart printed the node's secret"
    );
    let left = {
        let mut left = Vec::new();
        let gone = wait_until(GONE, || {
            left = processes_mentioning(tmp.path());
            left.is_empty()
        });
        (!gone).then_some(left)
    };
    assert_eq!(left, None, "the quickstart left processes behind");
}

#[test]
fn the_readme_holds_the_quickstart_verbatim() {
    let root = workspace_root();
    let script = std::fs::read_to_string(root.join("docs/quickstart.sh"))
        .expect("docs/quickstart.sh is readable");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md is readable");
    let (begin, end) = ("<!-- quickstart:begin -->\n", "<!-- quickstart:end -->");
    let start = readme
        .find(begin)
        .expect("README.md has a <!-- quickstart:begin --> line")
        + begin.len();
    let stop = start
        + readme[start..]
            .find(end)
            .expect("README.md has <!-- quickstart:end --> after quickstart:begin");
    let block = &readme[start..stop];
    let expected = format!("```bash\n{script}```\n");
    if block != expected {
        let first_difference = block
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| block.lines().count().min(expected.lines().count()));
        panic!(
            "README.md's quickstart block differs from docs/quickstart.sh (first at line {} of the block: \
             README has {:?}, expected {:?}). Put docs/quickstart.sh, verbatim, inside a ```bash fence \
             between the quickstart markers.",
            first_difference + 1,
            block.lines().nth(first_difference),
            expected.lines().nth(first_difference),
        );
    }
}

/// Stops a testnet when the test ends, even when it fails half way.
struct Testnet {
    dir: PathBuf,
    work: PathBuf,
}

impl Testnet {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = client("testnet", "http://127.0.0.1:1", args);
        command
            .arg("--dir")
            .arg(&self.dir)
            .current_dir(&self.work)
            .env("SIGCHAIN_TESTNET_STOP_WAIT", "10");
        command
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        if self.dir.join("pids").exists() {
            let mut command = self.command(&["stop"]);
            let _ = command.stdin(Stdio::null()).output();
        }
    }
}

#[test]
fn testnet_stop_leaves_no_process_behind() {
    let tmp = tempfile::tempdir().expect("a temporary directory can be made");
    let net = Testnet {
        dir: tmp.path().join("net"),
        // No config.toml there: the nodes run on defaults and flags.
        work: tmp.path().to_path_buf(),
    };
    let base = free_port_range(3);
    let base_arg = base.to_string();
    let mut start = net.command(&["3", "--base-port", &base_arg]);
    start.args(["--", "--difficulty", "2"]);
    let started = run(start, CLIENT).ok("testnet 3");

    let urls: Vec<String> = (base..base + 3)
        .map(|port| format!("http://127.0.0.1:{port}"))
        .collect();
    for url in &urls {
        assert!(
            started
                .stdout
                .lines()
                .any(|line| line.starts_with(url.as_str())),
            "testnet does not list {url}: {}",
            started.describe()
        );
    }
    let recorded = std::fs::read_to_string(net.dir.join("pids")).expect("testnet records its pids");
    let pids: Vec<u32> = recorded
        .lines()
        .map(|line| {
            line.split_whitespace()
                .next()
                .and_then(|pid| pid.parse().ok())
                .unwrap_or_else(|| panic!("not a pid line: {line:?}"))
        })
        .collect();
    assert_eq!(pids.len(), 3, "{recorded}");
    assert_eq!(pids.iter().collect::<HashSet<_>>().len(), 3, "{recorded}");
    for pid in &pids {
        assert!(running(*pid), "recorded node {pid} is not running");
    }
    for url in &urls {
        let (status, nodes) = http("GET", &format!("{url}/nodes"), None, CLIENT);
        assert_eq!(status, 200, "{url}: {nodes}");
        assert_eq!(
            nodes["length"], 2,
            "{url} does not know the other two: {nodes}"
        );
    }

    let stopped = run(net.command(&["stop"]), CLIENT).ok("testnet stop");
    assert_eq!(
        stopped
            .stdout
            .lines()
            .filter(|l| l.ends_with("stopped"))
            .count(),
        3,
        "{}",
        stopped.describe()
    );
    let mut still = Vec::new();
    let gone = wait_until(GONE, || {
        still = pids.iter().copied().filter(|&pid| running(pid)).collect();
        still.is_empty()
    });
    assert!(gone, "testnet stop left nodes running: {still:?}");
    let mut left = Vec::new();
    let none_left = wait_until(GONE, || {
        left = processes_mentioning(tmp.path());
        left.is_empty()
    });
    assert!(none_left, "processes of the testnet remain: {left:#?}");
    assert!(
        !net.dir.join("pids").exists(),
        "testnet stop kept its pid file"
    );
}
