//! A hostile network, end to end: more slow connections than the node allows under a low open-file limit, and malformed HTTP; the owner still gets answers and the node keeps serving.
//!
//! Every node here is the real `sigchain-node` binary on a free loopback
//! port; every socket read and every wait is bounded.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{http, start_command, NodeOptions, Process, Start, TestNode};

/// The open-file limit the slow-connection test runs the node under.
const OPEN_FILES: u32 = 256;

/// How long the node gives a request body (`BodyLimits::default().timeout`).
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a node whose open-file limit (soft and hard) is `open_files`.
fn start_limited(dir: &Path, open_files: u32) -> (Process, String) {
    let node = TestNode::command(dir, &NodeOptions::default());
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(format!("ulimit -n {open_files} && exec \"$@\""))
        .arg("bash")
        .arg(node.get_program())
        .args(node.get_args())
        .current_dir(dir.parent().expect("the data directory has a parent"))
        .env("RUST_LOG", "info");
    match start_command(command, &dir.with_extension("log")) {
        Start::Listening { process, url } => (process, url),
        Start::Exited { stderr, .. } => panic!("the node did not start:\n{stderr}"),
    }
}

/// The number after `name=` in the node's "connection limits" log line.
fn logged_limit(log: &str, name: &str) -> usize {
    log.lines()
        .find(|line| line.contains("connection limits"))
        .and_then(|line| line.split(&format!("{name}=")).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in the connection limits line:\n{log}"))
}

/// The socket address in `url` (`http://127.0.0.1:PORT`).
fn socket_addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("the node listens on ip:port")
}

/// Connects to `to` from the loopback address `from` (any port).
fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    let local: SocketAddr = format!("{from}:0").parse().expect("an IPv4 address");
    socket.bind(&local.into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(10))?;
    Ok(socket.into())
}

/// How one connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// An answer with this status, then the connection closed.
    Answered(u16),
    /// Closed (or reset) without an answer.
    Closed,
    /// Still open at the deadline.
    Open,
}

/// Reads until the node closes the connection or `deadline` passes.
fn wait_for_end(stream: &mut TcpStream, deadline: Instant) -> End {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return End::Open;
        }
        stream
            .set_read_timeout(Some(left))
            .expect("a read timeout can be set");
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return End::Open
            }
            // A reset: the node closed it with our bytes unread.
            Err(_) => break,
        }
    }
    match status_of(&received) {
        Some(status) => End::Answered(status),
        None => End::Closed,
    }
}

/// The status code of an HTTP/1.1 answer's first line.
fn status_of(answer: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[test]
fn slow_connections_over_the_cap_neither_exhaust_the_node_nor_shut_out_the_owner() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("data");
    let (_node, url) = start_limited(&dir, OPEN_FILES);
    let log = || std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
    // The limits are logged as the server starts, just after the listening line.
    assert!(
        support::wait_until(Duration::from_secs(30), || log()
            .contains("connection limits")),
        "no connection limits line:\n{}",
        log()
    );
    let total = logged_limit(&log(), "connections");
    let per_address = logged_limit(&log(), "per_address");
    assert!(
        total < OPEN_FILES as usize,
        "the cap leaves descriptors for the rest: {total}"
    );

    // More slow senders than the node allows in all, from one address that is
    // not the owner's: full headers, one byte of a 60,000-byte body, then nothing.
    let target = socket_addr(&url);
    let count = total + 50;
    let head = "POST /transactions/new HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{";
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..count)
        .map(|n| {
            let mut stream = connect_from("127.0.0.2", target)
                .unwrap_or_else(|e| panic!("slow connection {n}: {e}"));
            // A refused connection may already be closed: its write fails, which is fine.
            let _ = stream.write_all(head.as_bytes());
            stream
        })
        .collect();

    // While they are held, the owner is answered.
    let (status, health) = http(
        "GET",
        &format!("{url}/health"),
        None,
        Duration::from_secs(5),
    );
    assert_eq!(
        status, 200,
        "/health while {count} slow connections are held: {health}"
    );
    let (status, secret) = http(
        "GET",
        &format!("{url}/secret"),
        None,
        Duration::from_secs(5),
    );
    assert_eq!(status, 200, "/secret while they are held: {secret}");

    // One more from that address is refused at once. (It sends nothing: a
    // refused caller whose request arrives after the refusal gets a reset,
    // which may destroy the answer before it is read.)
    let mut extra = connect_from("127.0.0.2", target).expect("the node accepts, then refuses");
    let (status, body) = read_answer(&mut extra, Instant::now() + Duration::from_secs(10))
        .expect("a refused connection gets an answer");
    assert_eq!(status, 503);
    let error = json_error(&body).expect("a JSON error");
    assert!(error.contains("too many connections"), "{error}");
    assert_eq!(
        wait_for_end(&mut extra, Instant::now() + Duration::from_secs(10)),
        End::Closed
    );

    // The node closes every one of them: at once if over its cap, else when the body times out.
    let deadline = started + BODY_TIMEOUT + Duration::from_secs(15);
    let ends: Vec<End> = slow
        .iter_mut()
        .map(|stream| wait_for_end(stream, deadline))
        .collect();
    let timed_out = ends.iter().filter(|e| **e == End::Answered(408)).count();
    let refused = ends.iter().filter(|e| **e == End::Answered(503)).count();
    let open = ends.iter().filter(|e| **e == End::Open).count();
    let unexpected: Vec<&End> = ends
        .iter()
        .filter(|e| !matches!(e, End::Answered(408 | 503) | End::Closed | End::Open))
        .collect();
    println!(
        "{count} slow connections (cap {total}, {per_address} per address): {timed_out} answered 408, {refused} answered 503, {} closed without an answer, {open} still open",
        count - timed_out - refused - open
    );
    assert_eq!(open, 0, "every slow connection is closed by the node");
    assert!(
        unexpected.is_empty(),
        "only 408, 503 or a close: {unexpected:?}"
    );
    assert!(
        timed_out >= 1,
        "the admitted ones get 408 when the body does not come"
    );
    assert!(
        timed_out <= per_address,
        "one address holds at most {per_address} connections: {timed_out} were admitted"
    );
    for stream in &slow {
        let _ = stream.shutdown(Shutdown::Both);
    }

    // And the node serves on, with no descriptor shortage on the way.
    let (status, health) = http(
        "GET",
        &format!("{url}/health"),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(status, 200, "{health}");
    let text = log();
    assert!(
        !text.contains("Too many open files") && !text.contains("panicked"),
        "{text}"
    );
}

/// Sends `request` on a new connection and returns the answer's status and
/// body (`None` if the node closed the connection without one), then checks
/// that the node still serves `/health`.
fn exchange(url: &str, request: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(socket_addr(url)).expect("the node accepts");
    // The node may answer and close before it has read everything: a failed write is fine.
    let _ = stream.write_all(request);
    let answer = read_answer(&mut stream, Instant::now() + Duration::from_secs(30));
    let (status, health) = http(
        "GET",
        &format!("{url}/health"),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(status, 200, "the node serves on: {health}");
    answer
}

/// Reads one answer (head, then `content-length` bytes of body).
fn read_answer(stream: &mut TcpStream, deadline: Instant) -> Option<(u16, Vec<u8>)> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                let status = status_of(&received)?;
                return Some((status, received[end + 4..end + 4 + length].to_vec()));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no complete answer in time");
        stream.set_read_timeout(Some(left)).expect("a read timeout");
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return None,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// The `error` text of a JSON error body, if it is one.
fn json_error(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value["error"].as_str().map(str::to_owned)
}

#[test]
fn malformed_http_is_answered_and_the_node_serves_on() {
    let node = TestNode::start();
    let url = &node.url;

    // Heads within what actix reads but over the node's limits: JSON answers.
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: node\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let (status, body) = exchange(url, long_uri.as_bytes()).expect("an answer to a long URI");
    assert_eq!(status, 414);
    let error = json_error(&body).expect("a JSON error");
    assert!(error.contains("URI"), "{error}");

    let big_header = format!(
        "GET /health HTTP/1.1\r\nHost: node\r\nX-Filler: {}\r\n\r\n",
        "b".repeat(70 * 1024)
    );
    let (status, body) = exchange(url, big_header.as_bytes()).expect("an answer to big headers");
    assert_eq!(status, 431);
    let error = json_error(&body).expect("a JSON error");
    assert!(error.contains("headers"), "{error}");

    // What actix refuses before the node sees it: a status without a body.
    let conflicting = b"POST /transactions/new HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}";
    let (status, body) = exchange(url, conflicting).expect("an answer to conflicting lengths");
    assert_eq!(status, 400);
    assert!(body.is_empty(), "actix answers it without a body: {body:?}");

    // A URI over 64 KiB is one actix cannot parse at all.
    let huge_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: node\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let (status, body) = exchange(url, huge_uri.as_bytes()).expect("an answer to a 100 KiB URI");
    assert_eq!(status, 400);
    assert!(body.is_empty(), "actix answers it without a body: {body:?}");

    let garbage = b"NOT HTTP AT ALL\r\n\r\n";
    let (status, _) = exchange(url, garbage).expect("an answer to garbage");
    assert_eq!(status, 400);

    // A head over actix's own buffer (128 KiB): 431 without a body, or a
    // reset if the node closed before reading all of what was sent.
    let huge_header = format!(
        "GET /health HTTP/1.1\r\nHost: node\r\nX-Filler: {}\r\n\r\n",
        "c".repeat(200 * 1024)
    );
    if let Some((status, body)) = exchange(url, huge_header.as_bytes()) {
        assert_eq!(status, 431);
        assert!(body.is_empty(), "{body:?}");
    }
}
