//! Telling peers about new things: announcing blocks, relaying transfers and joining, each a bounded POST that never waits past its timeout.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::addr::PeerAddr;
use super::fetch::{request_error, FetchError, LOOP_DETECTED};

/// The header naming the sender's own address (`host:port`), so a receiver
/// never sends an announcement or a relay back where it came from.
pub const ORIGIN_HEADER: &str = "x-sigchain-origin";

/// `POST path` with a JSON `body` to `peer`, bounded by `timeout`; returns the
/// status and the answer's JSON (if it is JSON, at most 64 KiB).
pub async fn post(
    client: &reqwest::Client,
    peer: &PeerAddr,
    path: &str,
    body: &[u8],
    origin: Option<&PeerAddr>,
    timeout: Duration,
) -> Result<(u16, serde_json::Value), FetchError> {
    let exchange = async {
        let mut request = client
            .post(peer.url(path))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(origin) = origin {
            request = request.header(ORIGIN_HEADER, origin.as_str());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| request_error(&e, timeout))?;
        let status = response.status().as_u16();
        if status == LOOP_DETECTED {
            return Err(FetchError::ThisNode);
        }
        let mut answer = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            if answer.len() + chunk.len() > 64 * 1024 {
                break;
            }
            answer.extend_from_slice(&chunk);
        }
        let json = serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null);
        Ok((status, json))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(FetchError::TimedOut { after: timeout }))
}

/// Sends the same POST to every peer at once; one result per peer, in order.
/// The whole call takes `timeout` at most, whatever the peers do.
pub async fn broadcast(
    client: &reqwest::Client,
    peers: &[PeerAddr],
    path: &str,
    body: &[u8],
    origin: Option<&PeerAddr>,
    timeout: Duration,
) -> Vec<(PeerAddr, Result<u16, FetchError>)> {
    let sends = peers.iter().map(|peer| async move {
        let result = post(client, peer, path, body, origin, timeout).await;
        (peer.clone(), result.map(|(status, _)| status))
    });
    futures_util::future::join_all(sends).await
}

/// Parses a JSON answer of a POST into `T`, naming what was wrong.
pub fn answer_as<T: DeserializeOwned>(
    status: u16,
    json: serde_json::Value,
) -> Result<T, FetchError> {
    if !(200..300).contains(&status) {
        let error = json["error"].as_str().unwrap_or("").to_owned();
        return Err(FetchError::Malformed(format!("answered {status}: {error}")));
    }
    serde_json::from_value(json).map_err(|e| FetchError::Malformed(e.to_string()))
}
