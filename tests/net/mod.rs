//! Helpers of the live-network tests: reading a node's length and tip, waiting for a network to agree, signing transfers in-process and finding them in chains and pools.
//!
//! Every wait here is bounded; the bound is a correctness limit (the network
//! stopped converging), never a performance goal.

#![allow(dead_code)] // Each test file uses its own part.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use node::chain::Transaction;
use serde_json::Value;
use wallet::{Address, Amount, Nonce, Wallet};

use crate::support::{http, wait_until};

/// Bound on one HTTP call of these tests.
pub const CALL: Duration = Duration::from_secs(20);
/// How long a network may take to agree after the last action: a few sync
/// intervals (2 s by default) and announcement rounds, with margin for a
/// loaded 2-core CI machine.
pub const CONVERGE: Duration = Duration::from_secs(30);

/// `GET url+path` with the bound of these tests.
pub fn get(url: &str, path: &str) -> (u16, Value) {
    http("GET", &format!("{url}{path}"), None, CALL)
}

/// `POST url+path` with a JSON body.
pub fn post(url: &str, path: &str, body: &Value) -> (u16, Value) {
    http(
        "POST",
        &format!("{url}{path}"),
        Some(body.to_string().into_bytes()),
        CALL,
    )
}

/// The node's `(length, tip)` from `/health`, or `None` when it does not answer.
pub fn length_tip(url: &str) -> Option<(u64, String)> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .ok()?;
    let body: Value = client
        .get(format!("{url}/health"))
        .send()
        .ok()?
        .json()
        .ok()?;
    Some((body["length"].as_u64()?, body["tip"].as_str()?.to_owned()))
}

/// The distinct `(length, tip)` pairs the nodes report now (a node that does
/// not answer counts as its own pair, so it prevents agreement).
pub fn tips(urls: &[String]) -> BTreeSet<(u64, String)> {
    urls.iter()
        .map(|u| length_tip(u).unwrap_or((0, format!("{u} does not answer"))))
        .collect()
}

/// Waits (bounded by [`CONVERGE`]) until every node reports the same tip;
/// returns it, or panics naming what each node has.
pub fn wait_converged(urls: &[String], what: &str) -> (u64, String) {
    let mut last = BTreeSet::new();
    let agreed = wait_until(CONVERGE, || {
        last = tips(urls);
        last.len() == 1
    });
    assert!(
        agreed,
        "{what}: the nodes did not agree within {CONVERGE:?}: {last:?}"
    );
    last.into_iter().next().expect("one tip agreed")
}

/// Waits (bounded) until every node's chain is at least `length` long and all share one tip.
pub fn wait_converged_at_least(urls: &[String], length: u64, what: &str) -> (u64, String) {
    let mut last = BTreeSet::new();
    let agreed = wait_until(CONVERGE, || {
        last = tips(urls);
        last.len() == 1 && last.iter().all(|(l, _)| *l >= length)
    });
    assert!(
        agreed,
        "{what}: the nodes did not agree on a chain of {length}+ blocks within {CONVERGE:?}: {last:?}"
    );
    last.into_iter().next().expect("one tip agreed")
}

/// The node's own wallet, from its `/secret` (the test runs on loopback).
pub fn node_wallet(url: &str) -> Wallet {
    let (status, body) = get(url, "/secret");
    assert_eq!(status, 200, "{url}/secret: {body}");
    Wallet::from_secret(body["secret"].as_str().expect("secret is a string"))
        .expect("a node's secret is a valid secret")
}

/// The node's address.
pub fn node_address(url: &str) -> Address {
    let (status, body) = get(url, "/wallet");
    assert_eq!(status, 200, "{url}/wallet: {body}");
    let text = body["address"].as_str().expect("address is a string");
    Address::parse(text).expect("a node's address parses")
}

/// A transfer of `value` from `from` to `to` with `nonce`, signed, as the `/transactions/new` body, and its signature.
pub fn signed_transfer(from: &Wallet, to: &Address, value: u64, nonce: u64) -> (Value, String) {
    let transaction = Transaction::sign(
        from,
        to,
        Amount::new(value).expect("test amounts are small and positive"),
        Some(Nonce::new(nonce).expect("test nonces are small")),
    );
    let signature = transaction
        .signature()
        .expect("a signed transfer has a signature")
        .as_str()
        .to_owned();
    (
        serde_json::to_value(&transaction).expect("a transaction serializes"),
        signature,
    )
}

/// Signatures of the transfers in `list` (blocks' or the pool's).
fn signatures_of(list: &[Value]) -> impl Iterator<Item = String> + '_ {
    list.iter()
        .filter_map(|t| t["signature"].as_str().map(str::to_owned))
}

/// The signatures of every transfer in the node's chain.
pub fn chain_signatures(url: &str) -> HashSet<String> {
    let (status, body) = get(url, "/chain");
    assert_eq!(status, 200, "{url}/chain");
    body["chain"]
        .as_array()
        .expect("chain is a list")
        .iter()
        .flat_map(|b| {
            signatures_of(b["transactions"].as_array().map_or(&[][..], Vec::as_slice))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The signatures of every transfer in the node's pending pool.
pub fn pool_signatures(url: &str) -> HashSet<String> {
    let (status, body) = get(url, "/transactions");
    assert_eq!(status, 200, "{url}/transactions");
    signatures_of(
        body["transactions"]
            .as_array()
            .expect("transactions is a list"),
    )
    .collect()
}

/// The accepted signatures missing from some node's chain-or-pool (or chain only, when `mined`), named by node.
pub fn missing(urls: &[String], accepted: &HashSet<String>, mined: bool) -> Vec<String> {
    let mut report = Vec::new();
    for url in urls {
        let mut have = chain_signatures(url);
        if !mined {
            have.extend(pool_signatures(url));
        }
        let lacking = accepted.iter().filter(|s| !have.contains(*s)).count();
        if lacking > 0 {
            report.push(format!("{url} lacks {lacking} of {}", accepted.len()));
        }
    }
    report
}

/// Waits (bounded) until every accepted transfer is in every node's chain or pool (or chain, when `mined`).
pub fn wait_everywhere(urls: &[String], accepted: &HashSet<String>, mined: bool, what: &str) {
    let mut last = Vec::new();
    let ok = wait_until(CONVERGE, || {
        last = missing(urls, accepted, mined);
        last.is_empty()
    });
    assert!(ok, "{what}: accepted transfers are missing: {last:?}");
}
pub mod fake;
