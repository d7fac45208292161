//! The node's Prometheus metrics: one registry per node (so one process can run several), served at `/metrics` in the OpenMetrics text format.
//!
//! Counters and histograms move where the events happen (the request
//! middleware, `Node::submit`, `Node::mine`, resolve, the store writer);
//! gauges of the state (chain length, tip age, pending, peers) are read at
//! scrape time. Each metric is listed in the README.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a served request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route pattern (`/nodes/{peer}`), never the raw path; `unmatched` for a 404.
    route: String,
    method: String,
    status: u16,
}

/// Labels of a request's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// A single `reason`, `state` or `result` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerState {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckResult {
    result: &'static str,
}

/// What the scrape reads from the state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Blocks in the chain.
    pub chain_length: u64,
    /// Seconds since the tip's timestamp.
    pub tip_age_seconds: f64,
    /// Pending transfers.
    pub pending: u64,
    /// Peers whose last answers were good.
    pub peers_ok: u64,
    /// Peers demoted for bad answers (and not yet dropped).
    pub peers_demoted: u64,
}

fn seconds_histogram() -> Histogram {
    // 100 µs to about 13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// One node's metrics and the registry that serves them.
pub struct Metrics {
    registry: Registry,
    chain_length: Gauge,
    tip_age: Gauge<f64, AtomicU64>,
    pending: Gauge,
    sync_lag: Gauge,
    peers: Family<PeerState, Gauge>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    transfers_admitted: Counter,
    transfers_refused: Family<Reason, Counter>,
    blocks_mined: Counter,
    blocks_adopted: Counter,
    chains_refused: Family<Reason, Counter>,
    signature_checks: Family<CheckResult, Counter>,
    signature_seconds: Histogram,
    store_commits: Counter,
    store_batch: Histogram,
    store_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("sigchain"),
            chain_length: Gauge::default(),
            tip_age: Gauge::default(),
            pending: Gauge::default(),
            sync_lag: Gauge::default(),
            peers: Family::default(),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(seconds_histogram),
            transfers_admitted: Counter::default(),
            transfers_refused: Family::default(),
            blocks_mined: Counter::default(),
            blocks_adopted: Counter::default(),
            chains_refused: Family::default(),
            signature_checks: Family::default(),
            signature_seconds: seconds_histogram(),
            store_commits: Counter::default(),
            store_batch: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            store_seconds: seconds_histogram(),
        };
        let r = &mut m.registry;
        r.register(
            "chain_length",
            "Blocks in the chain, genesis included",
            m.chain_length.clone(),
        );
        r.register(
            "sync_lag_blocks",
            "Blocks the longest chain among the peers (at the last background sync) is ahead of ours",
            m.sync_lag.clone(),
        );
        r.register(
            "tip_age_seconds",
            "Seconds since the timestamp of the tip block",
            m.tip_age.clone(),
        );
        r.register(
            "pending_transfers",
            "Transfers in the pending pool",
            m.pending.clone(),
        );
        r.register(
            "peers",
            "Registered peers by state: ok, or demoted after bad answers",
            m.peers.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            m.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern",
            m.request_seconds.clone(),
        );
        r.register(
            "transfers_admitted",
            "Signed transfers admitted to the pool",
            m.transfers_admitted.clone(),
        );
        r.register(
            "transfers_refused",
            "Submitted transfers refused, by reason",
            m.transfers_refused.clone(),
        );
        r.register(
            "blocks_mined",
            "Blocks this node mined",
            m.blocks_mined.clone(),
        );
        r.register(
            "blocks_adopted",
            "Blocks taken from a peer's longer chain",
            m.blocks_adopted.clone(),
        );
        r.register(
            "peer_chains_refused",
            "Peer chains longer than ours that were refused, by reason",
            m.chains_refused.clone(),
        );
        r.register(
            "signature_checks",
            "Signature verifications of submitted transfers, by result",
            m.signature_checks.clone(),
        );
        r.register(
            "signature_check_duration_seconds",
            "Time to verify one submitted transfer's signature",
            m.signature_seconds.clone(),
        );
        r.register(
            "store_commits",
            "Write transactions the store committed",
            m.store_commits.clone(),
        );
        r.register(
            "store_commit_batch_requests",
            "Requests grouped into one store commit",
            m.store_batch.clone(),
        );
        r.register(
            "store_commit_duration_seconds",
            "Time to write and sync one store commit",
            m.store_seconds.clone(),
        );
        m
    }

    /// The metrics as OpenMetrics text, with the gauges set from `snapshot`.
    pub fn render(&self, snapshot: Snapshot) -> String {
        self.chain_length.set(to_i64(snapshot.chain_length));
        self.tip_age.set(snapshot.tip_age_seconds);
        self.pending.set(to_i64(snapshot.pending));
        self.peers
            .get_or_create(&PeerState { state: "ok" })
            .set(to_i64(snapshot.peers_ok));
        self.peers
            .get_or_create(&PeerState { state: "demoted" })
            .set(to_i64(snapshot.peers_demoted));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing metrics to a String cannot fail");
        text
    }

    /// One answered request.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// A submitted transfer was admitted.
    pub fn transfer_admitted(&self) {
        self.transfers_admitted.inc();
    }

    /// A submitted transfer was refused for `reason` (a short fixed label).
    pub fn transfer_refused(&self, reason: &'static str) {
        self.transfers_refused
            .get_or_create(&Reason { reason })
            .inc();
    }

    /// The best peer's chain is `blocks` ahead of ours (0 when none is ahead).
    pub fn sync_lag(&self, blocks: u64) {
        self.sync_lag.set(to_i64(blocks));
    }

    /// This node mined a block.
    pub fn block_mined(&self) {
        self.blocks_mined.inc();
    }

    /// A longer peer chain was adopted, adding `blocks` blocks.
    pub fn blocks_adopted(&self, blocks: usize) {
        self.blocks_adopted.inc_by(blocks as u64);
    }

    /// A peer's chain was refused for `reason`.
    pub fn peer_chain_refused(&self, reason: &'static str) {
        self.chains_refused.get_or_create(&Reason { reason }).inc();
    }

    /// One signature verification and its time.
    pub fn signature_checked(&self, valid: bool, took: Duration) {
        let result = if valid { "valid" } else { "invalid" };
        self.signature_checks
            .get_or_create(&CheckResult { result })
            .inc();
        self.signature_seconds.observe(took.as_secs_f64());
    }

    /// One store commit of `requests` grouped requests, and its time.
    pub fn store_commit(&self, requests: usize, took: Duration) {
        self.store_commits.inc();
        self.store_batch.observe(requests as f64);
        self.store_seconds.observe(took.as_secs_f64());
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
