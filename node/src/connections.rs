//! Who is calling, and how many at once: the one loopback test every gate uses, the open-file limit, and the connection gate (a cap in all, a cap per address, and a reserve for loopback callers).
//!
//! Every HTTP connection costs a file descriptor. Without a cap, a flood of
//! connections that never finish their request uses up the process's
//! open-file limit, and then the store, the peers and the owner's own
//! `/health` all fail. The cap is derived from the limit, leaving
//! [`HEADROOM_FILES`] plus a few per peer for everything else.
//!
//! actix-web decides nothing per caller: its `max_connections` only stops
//! accepting once a worker is full, which would shut out the owner too. So
//! each accepted connection passes [`Gate::admit`] first (from actix's
//! `on_connect` hook, before any byte is read); one over a limit gets a JSON
//! 503 and is closed at once, so it holds its descriptor for microseconds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Descriptors kept for everything but HTTP connections: stdio, the store
/// file and its lock, the runtimes' event queues, the log. Peers get
/// [`FILES_PER_PEER`] each on top.
pub const HEADROOM_FILES: u64 = 64;

/// Descriptors kept per allowed peer (`peers.max_peers`): a connection to it
/// while fetching its chain, and one its pool may keep open.
pub const FILES_PER_PEER: u64 = 2;

/// The most connections the gate ever allows at once, whatever the limit.
pub const MAX_CONNECTIONS: usize = 50_000;

/// At least this many connections are allowed, even under a tiny limit (the
/// node then fails on a missing descriptor, which it reports, rather than
/// refusing every caller).
pub const MIN_CONNECTIONS: usize = 16;

/// How often, at most, the gate logs that it turned callers away.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Whether `addr` is this machine: `127.0.0.0/8`, `::1`, or either written as
/// an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`), which is how an IPv4
/// caller shows up on a socket bound to `::`.
pub fn is_loopback(addr: IpAddr) -> bool {
    addr.to_canonical().is_loopback()
}

/// Raises the soft open-file limit to the hard limit and returns the limit now in force.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The open-file limit in force (the soft limit).
pub fn open_file_limit() -> std::io::Result<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _hard)| soft)
}

/// How many connections the gate lets in at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// At most this many in all.
    pub total: usize,
    /// Of `total`, this many only loopback callers may use: other callers
    /// together get at most `total - loopback_reserve`.
    pub loopback_reserve: usize,
    /// At most this many from one IP address, loopback addresses included (so
    /// one local program gone wrong cannot shut out the owner either).
    pub per_address: usize,
}

impl ConnectionLimits {
    /// The limits for a process allowed `open_files` descriptors that talks to
    /// at most `max_peers` peers: everything but the headroom, with an eighth
    /// (at least 4) reserved for loopback and a quarter per address.
    pub fn for_open_files(open_files: u64, max_peers: usize) -> ConnectionLimits {
        let headroom = HEADROOM_FILES + FILES_PER_PEER * max_peers as u64;
        let total = usize::try_from(open_files.saturating_sub(headroom))
            .unwrap_or(usize::MAX)
            .clamp(MIN_CONNECTIONS, MAX_CONNECTIONS);
        ConnectionLimits {
            total,
            loopback_reserve: (total / 8).max(4),
            per_address: (total / 4).max(4),
        }
    }
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `total` connections are open.
    Full,
    /// Only the loopback reserve is left, and the caller is not on this machine.
    ReservedForLoopback,
    /// The caller's address already has `per_address` connections.
    PerAddress,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Full => "too many connections",
            Refusal::ReservedForLoopback => {
                "too many connections; the rest are kept for this machine's owner"
            }
            Refusal::PerAddress => "too many connections from your address",
        })
    }
}

/// Counts open connections by address and admits or refuses new ones. Cheap
/// to clone; shared by every worker.
#[derive(Debug, Clone)]
pub struct Gate {
    limits: ConnectionLimits,
    state: Arc<Mutex<GateState>>,
}

#[derive(Debug, Default)]
struct GateState {
    open: usize,
    remote: usize,
    by_address: HashMap<IpAddr, usize>,
    refused_unreported: u64,
    last_report: Option<Instant>,
}

/// One admitted connection; dropping it (when the connection ends) frees its place.
#[derive(Debug)]
pub struct Permit {
    gate: Gate,
    addr: IpAddr,
    loopback: bool,
}

impl Gate {
    /// A gate with nobody admitted yet.
    pub fn new(limits: ConnectionLimits) -> Gate {
        Gate {
            limits,
            state: Arc::default(),
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    fn state(&self) -> MutexGuard<'_, GateState> {
        // The counts are updated whole under the lock, so a panic elsewhere leaves them usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `addr`, or says why not.
    pub fn admit(&self, addr: IpAddr) -> Result<Permit, Refusal> {
        let addr = addr.to_canonical();
        let loopback = is_loopback(addr);
        let mut state = self.state();
        let refusal = if state.open >= self.limits.total {
            Some(Refusal::Full)
        } else if !loopback
            && state.remote
                >= self
                    .limits
                    .total
                    .saturating_sub(self.limits.loopback_reserve)
        {
            Some(Refusal::ReservedForLoopback)
        } else if state.by_address.get(&addr).copied().unwrap_or(0) >= self.limits.per_address {
            Some(Refusal::PerAddress)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            state.refused_unreported += 1;
            let now = Instant::now();
            if state
                .last_report
                .is_none_or(|last| now.duration_since(last) >= REPORT_EVERY)
            {
                tracing::warn!(
                    refused = state.refused_unreported,
                    open = state.open,
                    limits = ?self.limits,
                    last = %refusal,
                    "connections turned away"
                );
                state.refused_unreported = 0;
                state.last_report = Some(now);
            }
            return Err(refusal);
        }
        state.open += 1;
        if !loopback {
            state.remote += 1;
        }
        *state.by_address.entry(addr).or_insert(0) += 1;
        Ok(Permit {
            gate: self.clone(),
            addr,
            loopback,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.state().open
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.gate.state();
        state.open -= 1;
        if !self.loopback {
            state.remote -= 1;
        }
        if let Some(count) = state.by_address.get_mut(&self.addr) {
            *count -= 1;
            if *count == 0 {
                state.by_address.remove(&self.addr);
            }
        }
    }
}

/// The answer a refused connection gets before it is closed.
pub fn refusal_response(refusal: Refusal) -> Vec<u8> {
    let body = serde_json::json!({ "error": format!("{refusal}; try again later") }).to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn loopback_in_every_form() {
        for text in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:127.9.9.9",
        ] {
            assert!(is_loopback(ip(text)), "{text}");
        }
        for text in [
            "203.0.113.7",
            "::ffff:203.0.113.7",
            "::",
            "0.0.0.0",
            "::ffff:0.0.0.0",
            "fe80::1",
            "::2",
        ] {
            assert!(!is_loopback(ip(text)), "{text}");
        }
    }

    #[test]
    fn limits_leave_headroom_and_stay_in_bounds() {
        let limits = ConnectionLimits::for_open_files(1024, 64);
        assert_eq!(limits.total, 1024 - 64 - 2 * 64);
        assert_eq!(limits.loopback_reserve, limits.total / 8);
        assert_eq!(limits.per_address, limits.total / 4);
        assert_eq!(
            ConnectionLimits::for_open_files(100, 64).total,
            MIN_CONNECTIONS
        );
        assert_eq!(
            ConnectionLimits::for_open_files(u64::MAX, 64).total,
            MAX_CONNECTIONS
        );
    }

    #[test]
    fn the_reserve_is_kept_for_loopback_callers() {
        let gate = Gate::new(ConnectionLimits {
            total: 10,
            loopback_reserve: 3,
            per_address: 10,
        });
        // Seven remote callers fill everything but the reserve.
        let remote: Vec<Permit> = (1..=7)
            .map(|n| gate.admit(ip(&format!("203.0.113.{n}"))).unwrap())
            .collect();
        assert_eq!(
            gate.admit(ip("203.0.113.99")).unwrap_err(),
            Refusal::ReservedForLoopback
        );
        assert_eq!(
            gate.admit(ip("::ffff:198.51.100.1")).unwrap_err(),
            Refusal::ReservedForLoopback
        );
        // The owner still gets in, in any form of loopback, up to the total.
        let owner: Vec<Permit> = ["127.0.0.1", "::1", "::ffff:127.0.0.1"]
            .into_iter()
            .map(|a| gate.admit(ip(a)).unwrap())
            .collect();
        assert_eq!(gate.admit(ip("127.0.0.1")).unwrap_err(), Refusal::Full);
        assert_eq!(gate.open(), 10);
        // Places free up when connections end.
        drop(owner);
        drop(remote);
        assert_eq!(gate.open(), 0);
        assert!(gate.admit(ip("203.0.113.99")).is_ok());
    }

    #[test]
    fn one_address_gets_at_most_its_share() {
        let gate = Gate::new(ConnectionLimits {
            total: 100,
            loopback_reserve: 10,
            per_address: 3,
        });
        let held: Vec<Permit> = (0..3)
            .map(|_| gate.admit(ip("127.0.0.2")).unwrap())
            .collect();
        assert_eq!(
            gate.admit(ip("127.0.0.2")).unwrap_err(),
            Refusal::PerAddress
        );
        // The mapped form is the same address.
        assert_eq!(
            gate.admit(ip("::ffff:127.0.0.2")).unwrap_err(),
            Refusal::PerAddress
        );
        // Another address, loopback or not, is not affected.
        let owner = gate.admit(ip("127.0.0.1")).unwrap();
        let other = gate.admit(ip("203.0.113.1")).unwrap();
        drop(held);
        assert!(gate.admit(ip("127.0.0.2")).is_ok());
        drop((owner, other));
    }

    #[test]
    fn the_refusal_is_a_complete_json_503() {
        let text = String::from_utf8(refusal_response(Refusal::Full)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(value["error"]
            .as_str()
            .unwrap()
            .contains("too many connections"));
    }
}
