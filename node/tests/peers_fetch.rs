//! Fetching chains from fake peers (raw TCP servers on 127.0.0.1) that answer well, badly, slowly or not at all: each gives its own `FetchError`, and no fetch outlasts its timeout by more than a small margin.

use std::future::Future;
use std::time::{Duration, Instant};

use node::net::{client, fetch_all, fetch_chain, FetchError, PeerAddr, PeerPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The per-peer timeout used in these tests.
const TIMEOUT: Duration = Duration::from_millis(700);
/// How much later than `TIMEOUT` a call may return.
const MARGIN: Duration = Duration::from_secs(2);
/// The body cap used in these tests.
const MAX_BYTES: usize = 64 * 1024;
/// How long a misbehaving peer stalls; far beyond `TIMEOUT`, yet bounded.
const STALL: Duration = Duration::from_secs(30);

const GOOD_BODY: &str = r#"{"chain": [{"index": 1, "previous_hash": 1, "proof": 1, "timestamp": 0, "transactions": []}, {"index": 2, "previous_hash": 1, "proof": 7, "timestamp": 0.5, "transactions": []}], "length": 2}"#;

/// How a fake peer answers every connection.
#[derive(Clone, Copy)]
enum Behaviour {
    /// `200` with this body and its Content-Length.
    Answer(&'static str),
    /// This status with a small JSON body.
    Status(u16),
    /// Accepts the connection, reads the request, never writes.
    Silent,
    /// Sends headers announcing 1000 bytes, 10 of them, then stalls.
    StallBody,
    /// Announces a Content-Length over the cap (sends nothing more).
    HugeContentLength,
    /// Sends an endless chunked body (no Content-Length).
    EndlessChunked,
    /// Sends a body over the cap without a length, ending at connection close.
    HugeUntilClose,
    /// Closes the connection right after reading the request.
    HangUp,
}

/// The peer client as a node on port 5000 builds it.
fn test_client() -> reqwest::Client {
    let policy = PeerPolicy {
        allow_link_local: false,
        own_port: 5000,
        own_host: "127.0.0.1".into(),
    };
    client(TIMEOUT, "0123456789abcdef", &policy).unwrap()
}

/// Starts a fake peer and returns its address.
async fn fake_peer(behaviour: Behaviour) -> PeerAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(stream, behaviour));
        }
    });
    PeerAddr::parse(&format!("127.0.0.1:{port}")).unwrap()
}

/// Reads until the end of the request headers (or EOF, or 64 KiB).
async fn read_request(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 65_536 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

async fn serve(mut stream: TcpStream, behaviour: Behaviour) {
    read_request(&mut stream).await;
    // Write errors mean the client gave up, which is what several tests expect.
    let _ = answer(&mut stream, behaviour).await;
}

async fn answer(stream: &mut TcpStream, behaviour: Behaviour) -> std::io::Result<()> {
    let head = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n")
    };
    match behaviour {
        Behaviour::Answer(body) => {
            let extra = format!("Content-Length: {}\r\n", body.len());
            stream.write_all(head("200 OK", &extra).as_bytes()).await?;
            stream.write_all(body.as_bytes()).await?;
        }
        Behaviour::Status(code) => {
            let body = r#"{"error": "boom"}"#;
            let extra = format!("Content-Length: {}\r\n", body.len());
            stream
                .write_all(head(&format!("{code} Oops"), &extra).as_bytes())
                .await?;
            stream.write_all(body.as_bytes()).await?;
        }
        Behaviour::Silent => tokio::time::sleep(STALL).await,
        Behaviour::StallBody => {
            stream
                .write_all(head("200 OK", "Content-Length: 1000\r\n").as_bytes())
                .await?;
            stream.write_all(b"{\"chain\": ").await?;
            stream.flush().await?;
            tokio::time::sleep(STALL).await;
        }
        Behaviour::HugeContentLength => {
            let extra = format!("Content-Length: {}\r\n", MAX_BYTES + 1);
            stream.write_all(head("200 OK", &extra).as_bytes()).await?;
            stream.flush().await?;
            tokio::time::sleep(STALL).await;
        }
        Behaviour::EndlessChunked => {
            stream
                .write_all(head("200 OK", "Transfer-Encoding: chunked\r\n").as_bytes())
                .await?;
            let chunk = format!("1000\r\n{}\r\n", " ".repeat(0x1000));
            // Bounded by STALL too: stops once the client hangs up (write error).
            let deadline = Instant::now() + STALL;
            while Instant::now() < deadline {
                stream.write_all(chunk.as_bytes()).await?;
            }
        }
        Behaviour::HugeUntilClose => {
            stream.write_all(head("200 OK", "").as_bytes()).await?;
            let filler = " ".repeat(MAX_BYTES * 2);
            stream.write_all(filler.as_bytes()).await?;
        }
        Behaviour::HangUp => {}
    }
    stream.shutdown().await
}

/// A port on 127.0.0.1 that nothing listens on.
async fn closed_port() -> PeerAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    PeerAddr::parse(&format!("127.0.0.1:{port}")).unwrap()
}

/// Runs `fetch`, checks it finished within `TIMEOUT + MARGIN`, and returns its result and duration.
async fn timed<T>(fetch: impl Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let result = fetch.await;
    let elapsed = start.elapsed();
    assert!(elapsed < TIMEOUT + MARGIN, "took {elapsed:?}");
    (result, elapsed)
}

async fn fetch(peer: &PeerAddr) -> (Result<Vec<node::chain::Block>, FetchError>, Duration) {
    let client = test_client();
    timed(fetch_chain(&client, peer, TIMEOUT, MAX_BYTES)).await
}

async fn fetch_from(
    behaviour: Behaviour,
) -> (Result<Vec<node::chain::Block>, FetchError>, Duration) {
    fetch(&fake_peer(behaviour).await).await
}

#[tokio::test]
async fn a_good_peer_gives_its_blocks() {
    let (result, _) = fetch_from(Behaviour::Answer(GOOD_BODY)).await;
    let chain = result.unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!((chain[0].index, chain[1].index, chain[1].proof), (1, 2, 7));
    // The integer timestamp stays an integer: the block hash covers its text.
    assert_eq!(serde_json::to_string(&chain[0].timestamp).unwrap(), "0");
}

#[tokio::test]
async fn a_peer_that_never_answers_times_out() {
    let (result, elapsed) = fetch_from(Behaviour::Silent).await;
    assert_eq!(result, Err(FetchError::TimedOut { after: TIMEOUT }));
    assert!(elapsed >= TIMEOUT, "gave up early, after {elapsed:?}");
}

#[tokio::test]
async fn a_peer_that_stalls_its_body_times_out() {
    let (result, elapsed) = fetch_from(Behaviour::StallBody).await;
    assert_eq!(result, Err(FetchError::TimedOut { after: TIMEOUT }));
    assert!(elapsed >= TIMEOUT, "gave up early, after {elapsed:?}");
}

#[tokio::test]
async fn a_content_length_over_the_cap_is_refused_before_reading() {
    let (result, elapsed) = fetch_from(Behaviour::HugeContentLength).await;
    assert_eq!(result, Err(FetchError::TooLarge { limit: MAX_BYTES }));
    // Refused on the header alone: the body never comes, so waiting would time out.
    assert!(elapsed < TIMEOUT, "waited for the body: {elapsed:?}");
}

#[tokio::test]
async fn an_endless_chunked_body_is_cut_off_at_the_cap() {
    let (result, elapsed) = fetch_from(Behaviour::EndlessChunked).await;
    assert_eq!(result, Err(FetchError::TooLarge { limit: MAX_BYTES }));
    assert!(elapsed < TIMEOUT, "kept reading: {elapsed:?}");
}

#[tokio::test]
async fn a_body_without_length_over_the_cap_is_cut_off() {
    let (result, _) = fetch_from(Behaviour::HugeUntilClose).await;
    assert_eq!(result, Err(FetchError::TooLarge { limit: MAX_BYTES }));
}

#[tokio::test]
async fn a_body_exactly_at_the_cap_is_read() {
    // Pad a good answer with JSON whitespace up to exactly MAX_BYTES.
    let padded = GOOD_BODY.to_owned() + &" ".repeat(MAX_BYTES - GOOD_BODY.len());
    let body: &'static str = padded.leak();
    assert_eq!(body.len(), MAX_BYTES);
    let (result, _) = fetch_from(Behaviour::Answer(body)).await;
    assert_eq!(result.unwrap().len(), 2);
}

#[tokio::test]
async fn malformed_json_is_reported() {
    let (result, _) = fetch_from(Behaviour::Answer(r#"{"chain": [{"index": 1, "#)).await;
    let err = result.unwrap_err();
    assert!(matches!(err, FetchError::Malformed(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("malformed answer: not JSON"),
        "{err}"
    );
}

#[tokio::test]
async fn a_lying_length_is_reported() {
    let body = r#"{"chain": [{"index": 1, "previous_hash": 1, "proof": 1, "timestamp": 0, "transactions": []}], "length": 5}"#;
    let (result, _) = fetch_from(Behaviour::Answer(body)).await;
    let err = result.unwrap_err();
    assert_eq!(
        err,
        FetchError::Malformed("`length` says 5 but the chain has 1 blocks".into())
    );
    let (result, _) = fetch_from(Behaviour::Answer(r#"{"chain": []}"#)).await;
    match result {
        Err(FetchError::Malformed(reason)) => {
            assert!(reason.starts_with("`length` is missing"), "{reason}")
        }
        other => panic!("expected a malformed answer, got {other:?}"),
    }
}

#[tokio::test]
async fn an_error_status_is_reported() {
    let (result, _) = fetch_from(Behaviour::Status(500)).await;
    assert_eq!(result, Err(FetchError::HttpStatus(500)));
    assert_eq!(
        FetchError::HttpStatus(500).to_string(),
        "answered HTTP status 500"
    );
    // Redirects are not followed: a peer answers for itself.
    let (result, _) = fetch_from(Behaviour::Status(302)).await;
    assert_eq!(result, Err(FetchError::HttpStatus(302)));
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let (result, elapsed) = fetch(&closed_port().await).await;
    let err = result.unwrap_err();
    assert!(matches!(err, FetchError::Unreachable(_)), "{err:?}");
    assert!(err.to_string().starts_with("unreachable: "), "{err}");
    assert!(
        elapsed < TIMEOUT,
        "refusal should be immediate: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_peer_that_hangs_up_is_unreachable() {
    let (result, _) = fetch_from(Behaviour::HangUp).await;
    let err = result.unwrap_err();
    assert!(matches!(err, FetchError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn fetch_all_asks_everyone_at_once_and_reports_each_peer() {
    let behaviours = [
        Behaviour::Answer(GOOD_BODY),
        Behaviour::Silent,
        Behaviour::StallBody,
        Behaviour::Silent,
        Behaviour::HugeContentLength,
        Behaviour::EndlessChunked,
        Behaviour::Answer("not json"),
        Behaviour::Answer(r#"{"chain": [], "length": 3}"#),
        Behaviour::Status(500),
    ];
    let mut peers = Vec::new();
    for behaviour in behaviours {
        peers.push(fake_peer(behaviour).await);
    }
    peers.push(closed_port().await);
    let client = test_client();

    let (results, elapsed) = timed(fetch_all(&client, &peers, TIMEOUT, MAX_BYTES)).await;
    // The three slow peers, asked one after another, would take three timeouts.
    assert!(
        elapsed < TIMEOUT * 3,
        "peers were not asked concurrently: {elapsed:?}"
    );

    assert_eq!(results.len(), peers.len());
    for ((peer, _), asked) in results.iter().zip(&peers) {
        assert_eq!(peer, asked, "results keep the order of the peers");
    }
    let reports: Vec<String> = results
        .iter()
        .map(|(_, result)| match result {
            Ok(chain) => format!("ok {}", chain.len()),
            Err(e) => e.to_string(),
        })
        .collect();
    assert_eq!(reports[0], "ok 2");
    assert_eq!(reports[1], "timed out after 700 ms");
    assert_eq!(reports[2], "timed out after 700 ms");
    assert_eq!(reports[3], "timed out after 700 ms");
    assert_eq!(reports[4], format!("answer larger than {MAX_BYTES} bytes"));
    assert_eq!(reports[5], format!("answer larger than {MAX_BYTES} bytes"));
    assert!(
        reports[6].starts_with("malformed answer: not JSON"),
        "{}",
        reports[6]
    );
    assert_eq!(
        reports[7],
        "malformed answer: `length` says 3 but the chain has 0 blocks"
    );
    assert_eq!(reports[8], "answered HTTP status 500");
    assert!(reports[9].starts_with("unreachable: "), "{}", reports[9]);
}

#[tokio::test]
async fn fetch_all_with_no_peers_returns_nothing_at_once() {
    let client = test_client();
    let (results, elapsed) = timed(fetch_all(&client, &[], TIMEOUT, MAX_BYTES)).await;
    assert!(results.is_empty());
    assert!(elapsed < TIMEOUT);
}

#[tokio::test]
async fn a_peer_that_says_508_is_this_node() {
    let (result, _) = fetch_from(Behaviour::Status(508)).await;
    assert_eq!(result.unwrap_err(), FetchError::ThisNode);
}
