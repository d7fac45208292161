//! Fetching peers' chains over HTTP with bounded time and size, and checking the answer's shape.

use std::time::Duration;

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::addr::PeerAddr;
use super::answer::{parse_chain, parse_page, Page};
use super::policy::PeerPolicy;
use crate::chain::Block;

/// Why one peer's chain could not be fetched. `Display` is a short phrase for a per-peer report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No HTTP answer: connection refused, reset, closed, or the name did not resolve.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// No complete answer within the timeout.
    #[error("timed out after {} ms", after.as_millis())]
    TimedOut {
        /// The timeout that ran out.
        after: Duration,
    },
    /// The answer is (or announced itself as) larger than the cap.
    #[error("answer larger than {limit} bytes")]
    TooLarge {
        /// The cap (`peers.max_chain_bytes`).
        limit: usize,
    },
    /// An HTTP status other than 200.
    #[error("answered HTTP status {0}")]
    HttpStatus(u16),
    /// The answer is not `{"chain": [...], "length": n}` with `n` the chain's length.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The peer is this node, under a name it did not recognize.
    #[error("this is this node itself")]
    ThisNode,
    /// The answer is a chain, but the block at 1-based `block` is not a well-formed block.
    #[error("block {block}: malformed: {detail}")]
    InvalidBlock {
        /// The position of the first malformed block, 1 for genesis.
        block: u64,
        /// What is wrong with it.
        detail: String,
    },
}

/// The header that carries a node's id on its requests to peers, so a node
/// that is asked by itself (under a name it did not recognize) can say so.
pub const NODE_ID_HEADER: &str = "x-sigchain-node";

/// The status a node answers to a request that came from itself (HTTP 508, "Loop Detected").
pub const LOOP_DETECTED: u16 = 508;

/// The HTTP client for talking to peers: plain HTTP, no proxy taken from
/// the environment (peers are addressed directly), no redirects (a peer must
/// answer for itself), a connect timeout, a `sigchain-node` user agent, this
/// node's id on every request, and names resolved only to addresses the
/// policy allows (a name cannot smuggle in a link-local address).
pub fn client(
    connect_timeout: Duration,
    node_id: &str,
    policy: &PeerPolicy,
) -> reqwest::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(value) = reqwest::header::HeaderValue::from_str(node_id) {
        headers.insert(NODE_ID_HEADER, value);
    }
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .user_agent(concat!("sigchain-node/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .dns_resolver(Arc::new(PolicyResolver(policy.clone())))
        .build()
}

/// Resolves peer names with the system resolver, keeping only the addresses the policy allows.
struct PolicyResolver(PeerPolicy);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .filter(|addr| match policy.check_ip(addr.ip()) {
                    Ok(()) => true,
                    Err(problem) => {
                        refused = Some(problem);
                        false
                    }
                })
                .collect();
            match refused {
                Some(problem) if allowed.is_empty() => {
                    Err(format!("{} resolves to an address that {problem}", name.as_str()).into())
                }
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// Asks `peer` for its chain (`GET http://peer/chain`) and returns the blocks,
/// checked for form only.
///
/// The whole exchange (connect, headers, body, parsing) is bounded by
/// `timeout`, and at most `max_bytes` of body are read: a `Content-Length`
/// over the cap is refused before reading, and a body without one is
/// abandoned as soon as it passes the cap.
pub async fn fetch_chain(
    client: &reqwest::Client,
    peer: &PeerAddr,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<Block>, FetchError> {
    get(client, peer, "/chain", timeout, max_bytes, |body| {
        parse_chain(&body)
    })
    .await
}

/// Asks `peer` for at most `limit` blocks from 1-based index `from`
/// (`GET /chain?from=N&limit=M`); returns them and the peer's chain length.
/// A peer that ignores the query (the seed's node) sends its whole chain:
/// that is detected by the caller (the first block is not block `from`).
pub async fn fetch_page(
    client: &reqwest::Client,
    peer: &PeerAddr,
    from: u64,
    limit: u64,
    limits: (Duration, usize),
) -> Result<Page, FetchError> {
    let path = format!("/chain?from={from}&limit={limit}");
    let (timeout, max_bytes) = limits;
    get(client, peer, &path, timeout, max_bytes, |body| {
        parse_page(&body)
    })
    .await
}

/// Asks `peer` for its `/health`: its chain length, tip and node id.
pub async fn fetch_health(
    client: &reqwest::Client,
    peer: &PeerAddr,
    timeout: Duration,
) -> Result<Health, FetchError> {
    get(client, peer, "/health", timeout, 64 * 1024, |body| {
        serde_json::from_slice::<Health>(&body)
            .map_err(|e| FetchError::Malformed(format!("not a sigchain /health answer ({e})")))
    })
    .await
}

/// A peer's `/health`: what background sync needs to know.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Health {
    /// Its chain length.
    pub length: u64,
    /// Its tip's hash.
    pub tip: String,
    /// Its node id, when it sends one.
    #[serde(default)]
    pub id: Option<String>,
}

/// `GET path` from `peer`, bounded in time (everything, parsing included)
/// and size, then `parse` on the body off the async workers.
async fn get<T: Send + 'static>(
    client: &reqwest::Client,
    peer: &PeerAddr,
    path: &str,
    timeout: Duration,
    max_bytes: usize,
    parse: impl FnOnce(Vec<u8>) -> Result<T, FetchError> + Send + 'static,
) -> Result<T, FetchError> {
    let exchange = async {
        let body = read_body(client, &peer.url(path), timeout, max_bytes).await?;
        // Parsing up to the cap (tens of MB) is CPU work: keep it off the async
        // workers so other requests and other peers' fetches go on meanwhile.
        tokio::task::spawn_blocking(move || parse(body))
            .await
            .map_err(|e| FetchError::Malformed(format!("parsing stopped: {e}")))?
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_elapsed) => Err(FetchError::TimedOut { after: timeout }),
    }
}

/// Reads a 200 answer's body, at most `max_bytes` of it.
async fn read_body(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, FetchError> {
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| request_error(&e, timeout))?;
    let status = response.status().as_u16();
    if status == LOOP_DETECTED {
        return Err(FetchError::ThisNode);
    }
    if status != 200 {
        return Err(FetchError::HttpStatus(status));
    }
    let too_large = FetchError::TooLarge { limit: max_bytes };
    let announced = response.content_length();
    if announced.is_some_and(|len| len > max_bytes as u64) {
        return Err(too_large);
    }
    // Reserve what the peer announced (already known to be under the cap),
    // never more, so a lying header cannot make us allocate the cap up front.
    let mut body = Vec::with_capacity(announced.map_or(0, |len| len as usize));
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                return Err(FetchError::Malformed(format!(
                    "answer cut off: {}",
                    root_cause(&e)
                )))
            }
        };
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Turns a failed request into a report: a timeout, or no HTTP answer.
pub(super) fn request_error(e: &reqwest::Error, timeout: Duration) -> FetchError {
    if e.is_timeout() {
        // Only the client's connect timeout can fire here, and it is no
        // longer than the whole-fetch timeout in practice: report that one.
        return FetchError::TimedOut { after: timeout };
    }
    FetchError::Unreachable(root_cause(e))
}

/// The innermost error's message (such as "Connection refused (os error 111)"),
/// which says more than reqwest's "error sending request for url".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if text.is_empty() {
        e.to_string()
    } else {
        text
    }
}

/// Asks every peer at once and returns one result per peer, in the order
/// given. Each peer gets `timeout` for everything, parsing included, and
/// they run concurrently, so the whole call returns a moment after `timeout`
/// at the latest, whatever the peers do.
pub async fn fetch_all(
    client: &reqwest::Client,
    peers: &[PeerAddr],
    timeout: Duration,
    max_bytes: usize,
) -> Vec<(PeerAddr, Result<Vec<Block>, FetchError>)> {
    let fetches = peers.iter().map(|peer| async move {
        (
            peer.clone(),
            fetch_chain(client, peer, timeout, max_bytes).await,
        )
    });
    futures_util::future::join_all(fetches).await
}
