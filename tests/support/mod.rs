//! Test support for the end-to-end tests in `tests/`: finding the built binaries, starting real nodes on free loopback ports, and bounded HTTP calls.
//!
//! Each test file includes it as `mod support;` and uses only part of it.
//!
//! Every wait here has a timeout, and every started node is killed when its
//! [`TestNode`] is dropped, so a failing test leaves no process behind.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a node may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound on one HTTP call.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root (where `client-scripts/` and `README.md` are).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory cargo put this test's binaries in (`target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    // target/debug/deps/<test> -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps")
        .to_path_buf()
}

/// A workspace binary (`sigchain-node`, `sigscript`, `wallet`), which `cargo test --workspace` builds.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// How to start a test node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Proof-of-work difficulty; low so tests mine fast.
    pub difficulty: u32,
    /// Proof-of-work threads.
    pub miner_threads: usize,
    /// Extra flags.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            difficulty: 3,
            miner_threads: 1,
            args: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// A running `node` process on a free loopback port, with its own data directory.
pub struct TestNode {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The node's stderr log file.
    pub log: PathBuf,
    options: NodeOptions,
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
}

impl TestNode {
    /// Starts a node with default options in a fresh temporary data directory.
    pub fn start() -> TestNode {
        TestNode::start_with(NodeOptions::default())
    }

    /// Starts a node with `options` in a fresh temporary data directory.
    pub fn start_with(options: NodeOptions) -> TestNode {
        let tmp = tempfile::tempdir().expect("a temporary directory can be made");
        let data_dir = tmp.path().join("data");
        let mut node = TestNode {
            url: String::new(),
            log: tmp.path().join("node.log"),
            data_dir,
            options,
            child: None,
            _tmp: Some(tmp),
        };
        node.launch()
            .unwrap_or_else(|e| panic!("node did not start: {e}"));
        node
    }

    /// Starts a node on an existing data directory (for restart tests), logging next to it.
    pub fn start_in(data_dir: &Path, options: NodeOptions) -> Result<TestNode, String> {
        let mut node = TestNode {
            url: String::new(),
            log: data_dir.with_extension("log"),
            data_dir: data_dir.to_path_buf(),
            options,
            child: None,
            _tmp: None,
        };
        node.launch()?;
        Ok(node)
    }

    /// The command line a node of these options runs with (port 0: the system picks).
    pub fn command(data_dir: &Path, options: &NodeOptions) -> Command {
        let mut command = Command::new(bin("sigchain-node"));
        command
            .arg("--port")
            .arg("0")
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--difficulty")
            .arg(options.difficulty.to_string())
            .arg("--miner-threads")
            .arg(options.miner_threads.to_string())
            .args(&options.args)
            // Never read a config.toml from wherever the test runs.
            .current_dir(data_dir.parent().unwrap_or(data_dir))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        for (key, value) in &options.env {
            command.env(key, value);
        }
        command
    }

    fn launch(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        let mut child = TestNode::command(&self.data_dir, &self.options)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run node: {e}"))?;
        match listening_url(&mut child).recv_timeout(START_TIMEOUT) {
            Ok(url) => {
                self.url = url;
                self.child = Some(child);
                Ok(())
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                Err(format!(
                    "no listening line within {START_TIMEOUT:?} (exit: {status:?}); log:\n{}",
                    self.log_text()
                ))
            }
        }
    }

    /// The node's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the node with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the node with SIGTERM and waits (bounded) for it to exit; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Starts the node again on the same data directory (after `stop` or `kill`).
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.launch()
    }

    /// `GET path`, returning the status and JSON body.
    pub fn get(&self, path: &str) -> (u16, Value) {
        http("GET", &format!("{}{path}", self.url), None, HTTP_TIMEOUT)
    }

    /// `POST path` with a JSON body, returning the status and JSON body.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        http(
            "POST",
            &format!("{}{path}", self.url),
            Some(body.to_string().into_bytes()),
            HTTP_TIMEOUT,
        )
    }

    /// `POST path` with raw bytes as the body.
    pub fn post_raw(&self, path: &str, body: &[u8]) -> (u16, Value) {
        http(
            "POST",
            &format!("{}{path}", self.url),
            Some(body.to_vec()),
            HTTP_TIMEOUT,
        )
    }

    /// The node's own address.
    pub fn address(&self) -> String {
        let (status, body) = self.get("/wallet");
        assert_eq!(status, 200, "{body}");
        body["address"]
            .as_str()
            .expect("address is a string")
            .to_owned()
    }

    /// The node's secret.
    pub fn secret(&self) -> String {
        let (status, body) = self.get("/secret");
        assert_eq!(status, 200, "{body}");
        body["secret"]
            .as_str()
            .expect("secret is a string")
            .to_owned()
    }

    /// The chain's blocks.
    pub fn chain(&self) -> Vec<Value> {
        let (status, body) = self.get("/chain");
        assert_eq!(status, 200, "{body}");
        body["chain"].as_array().expect("chain is a list").clone()
    }

    /// Mines one block and returns the answer.
    pub fn mine(&self) -> Value {
        let (status, body) = self.get("/mine");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The balance of `address` in the chain.
    pub fn balance(&self, address: &str) -> u64 {
        let query = format!("/balance?address={}", urlencode(address));
        let (status, body) = self.get(&query);
        assert_eq!(status, 200, "{body}");
        body["balance"].as_u64().expect("balance is a number")
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Watches a node's stdout (which must be piped) for its start-up line and
/// sends the URL it listens on, once it says it.
pub fn listening_url(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("the node's stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("sigchain node listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    rx
}

/// Percent-encodes a query value (base64 has `+`, `/` and `=`).
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One HTTP call with a bound on its time. A body that is not JSON is returned as a JSON string.
pub fn http(method: &str, url: &str, body: Option<Vec<u8>>, timeout: Duration) -> (u16, Value) {
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .expect("a blocking HTTP client can be built");
    let mut request = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        other => client.request(
            reqwest::Method::from_bytes(other.as_bytes()).expect("a valid method"),
            url,
        ),
    };
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body);
    }
    let response = request
        .send()
        .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Signs a transfer with the `sigscript` binary (secret on stdin) and returns the signature.
pub fn sign(
    sender: &str,
    recipient: &str,
    amount: u64,
    secret: &str,
    nonce: Option<u64>,
) -> String {
    use std::io::Write as _;
    let mut command = Command::new(bin("sigscript"));
    command
        .arg(sender)
        .arg(recipient)
        .arg(amount.to_string())
        .arg("-");
    if let Some(nonce) = nonce {
        command.arg("--nonce").arg(nonce.to_string());
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sigscript runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(secret.as_bytes())
        .expect("the secret can be written to sigscript");
    let output = child.wait_with_output().expect("sigscript finishes");
    assert!(
        output.status.success(),
        "sigscript failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("a signature is ASCII")
        .trim()
        .to_owned()
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A small tmpfs mounted over a directory (to fill a node's data disk),
/// unmounted when dropped, even when the test fails; drop the nodes using it first.
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`4m`) over `dir`, creating it. Needs root:
    /// without it, prints one line saying the test was not run and returns
    /// `None`, except under `CI=true` (CI runs as root), where it panics.
    pub fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("the mount point can be created");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stdin(Stdio::null())
            .output();
        let why = match mounted {
            Ok(output) if output.status.success() => {
                return Some(Tmpfs {
                    dir: dir.to_owned(),
                })
            }
            Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            Err(e) => e.to_string(),
        };
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cannot mount a tmpfs on {} (CI runs as root): {why}",
            dir.display()
        );
        println!("not run: cannot mount a tmpfs (needs root): {why}");
        None
    }

    /// Fills the tmpfs with the file `name` until a write fails; returns its path.
    pub fn fill(&self, name: &str) -> PathBuf {
        use std::io::Write as _;
        let path = self.dir.join(name);
        let mut file = std::fs::File::create(&path).expect("the filler can be created");
        let chunk = vec![0xA5u8; 16 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // The last blocks, smaller than a chunk.
        while file.write_all(&chunk[..512]).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.dir).status();
        if !unmounted.is_ok_and(|status| status.success()) {
            eprintln!("cannot unmount the tmpfs on {}", self.dir.display());
        }
    }
}
/// A process a test started from its own command line; killed (SIGKILL) when dropped.
pub struct Process(pub Child);

impl Process {
    /// Sends SIGTERM and waits at most `timeout` for the exit; `None` if it
    /// did not exit in time (it is then killed).
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How starting a node from a command line ended.
pub enum Start {
    /// It printed its listening line.
    Listening { process: Process, url: String },
    /// It exited without listening.
    Exited { status: ExitStatus, stderr: String },
}

/// Runs `command` (a node) with stdout piped and stderr appended to `log`, and
/// waits at most [`START_TIMEOUT`] until it listens or exits.
pub fn start_command(mut command: Command, log: &Path) -> Start {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the node binary runs");
    match listening_url(&mut child).recv_timeout(START_TIMEOUT) {
        Ok(url) => Start::Listening {
            process: Process(child),
            url,
        },
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // stdout closed without a listening line: the node is exiting.
            let mut process = Process(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            let status = loop {
                if let Some(status) = process.0.try_wait().expect("the child can be polled") {
                    break status;
                }
                assert!(
                    Instant::now() < deadline,
                    "node closed stdout but did not exit within 10 s"
                );
                std::thread::sleep(Duration::from_millis(10));
            };
            Start::Exited {
                status,
                stderr: std::fs::read_to_string(log).unwrap_or_default(),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            drop(Process(child));
            panic!("node neither listened nor exited within {START_TIMEOUT:?}");
        }
    }
}

/// Skips a test that needs something this machine lacks (root, IPv6): prints
/// one line saying what did not run and why; under CI (`CI=true`) fails instead.
pub fn skip(what: &str, why: &str) {
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{what}: cannot run under CI: {why}"
    );
    println!("{what}: did not run: {why}");
}
