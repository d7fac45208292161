//! Fetching peers' chains over HTTP with bounded time and size, and checking the answer's shape.

use std::time::Duration;

use serde_json::Value;

use super::addr::PeerAddr;

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
}

/// The HTTP client for talking to peers: plain HTTP, no proxy taken from
/// the environment (peers are addressed directly), no redirects (a peer must
/// answer for itself), a connect timeout, and a `sigchain-node` user agent.
pub fn client(connect_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .user_agent(concat!("sigchain-node/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Asks `peer` for its chain (`GET http://peer/chain`) and returns the blocks,
/// unchecked.
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
) -> Result<Vec<Value>, FetchError> {
    match tokio::time::timeout(timeout, fetch_unbounded(client, peer, timeout, max_bytes)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(FetchError::TimedOut { after: timeout }),
    }
}

async fn fetch_unbounded(
    client: &reqwest::Client,
    peer: &PeerAddr,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<Value>, FetchError> {
    let mut response = client
        .get(peer.url("/chain"))
        .send()
        .await
        .map_err(|e| request_error(&e, timeout))?;
    let status = response.status().as_u16();
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
    // Parsing up to the cap (tens of MB) is CPU work: keep it off the async
    // workers so other requests and other peers' fetches go on meanwhile.
    tokio::task::spawn_blocking(move || parse_chain(&body))
        .await
        .map_err(|e| FetchError::Malformed(format!("parsing stopped: {e}")))?
}

/// Checks the shape `{"chain": [...], "length": n}` with `n` equal to the number of blocks.
pub fn parse_chain(body: &[u8]) -> Result<Vec<Value>, FetchError> {
    let malformed = |reason: String| FetchError::Malformed(reason);
    let value: Value =
        serde_json::from_slice(body).map_err(|e| malformed(format!("not JSON ({e})")))?;
    let Value::Object(mut object) = value else {
        return Err(malformed("not a JSON object".into()));
    };
    let length = match object.get("length") {
        None => return Err(malformed("`length` is missing".into())),
        Some(length) => length
            .as_u64()
            .ok_or_else(|| malformed(format!("`length` is not a whole number: {length}")))?,
    };
    let chain = match object.remove("chain") {
        None => return Err(malformed("`chain` is missing".into())),
        Some(Value::Array(chain)) => chain,
        Some(_) => return Err(malformed("`chain` is not a list".into())),
    };
    if length != chain.len() as u64 {
        return Err(malformed(format!(
            "`length` says {length} but the chain has {} blocks",
            chain.len()
        )));
    }
    Ok(chain)
}

/// Turns a failed request into a report: a timeout, or no HTTP answer.
fn request_error(e: &reqwest::Error, timeout: Duration) -> FetchError {
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
) -> Vec<(PeerAddr, Result<Vec<Value>, FetchError>)> {
    let fetches = peers.iter().map(|peer| async move {
        (
            peer.clone(),
            fetch_chain(client, peer, timeout, max_bytes).await,
        )
    });
    futures_util::future::join_all(fetches).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_chain_checks_shape_and_length() {
        assert_eq!(
            parse_chain(br#"{"chain": [{"index": 1}], "length": 1}"#)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            parse_chain(br#"{"chain": [], "length": 0}"#).unwrap().len(),
            0
        );
        for (body, needle) in [
            (
                &br#"{"chain": [{}], "length": 2}"#[..],
                "says 2 but the chain has 1",
            ),
            (br#"{"chain": [{}]}"#, "`length` is missing"),
            (br#"{"chain": [{}], "length": "1"}"#, "not a whole number"),
            (br#"{"chain": [{}], "length": -1}"#, "not a whole number"),
            (br#"{"chain": [{}], "length": 1.0}"#, "not a whole number"),
            (br#"{"length": 0}"#, "`chain` is missing"),
            (br#"{"chain": {}, "length": 0}"#, "`chain` is not a list"),
            (br#"[1, 2]"#, "not a JSON object"),
            (br#"{"chain": [}"#, "not JSON"),
            (b"", "not JSON"),
        ] {
            let err = parse_chain(body).unwrap_err();
            assert!(matches!(err, FetchError::Malformed(_)), "{err:?}");
            assert!(
                err.to_string().contains(needle),
                "{err} should mention {needle}"
            );
        }
    }
}
