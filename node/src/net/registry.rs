//! The registry of known peers: registration order kept, duplicates dropped, all-or-nothing under a cap.

use std::collections::{HashMap, HashSet};

use super::addr::{PeerAddr, PeerError};
use super::policy::PeerPolicy;

/// The known peers, in the order they were first registered, at most `max_peers` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerRegistry {
    peers: Vec<PeerAddr>,
    /// Mirrors `peers` so a large registration does not cost a quadratic scan.
    known: HashSet<PeerAddr>,
    max_peers: usize,
    /// Bad answers in a row, per peer that has given any.
    failures: HashMap<PeerAddr, u32>,
    /// Failed attempts to reach a peer in a row, and when to try it again.
    unreachable: HashMap<PeerAddr, (u32, f64)>,
}

impl PeerRegistry {
    /// An empty registry holding at most `max_peers` peers.
    pub fn new(max_peers: usize) -> PeerRegistry {
        PeerRegistry {
            peers: Vec::new(),
            known: HashSet::new(),
            max_peers,
            failures: HashMap::new(),
            unreachable: HashMap::new(),
        }
    }

    /// A registry holding `peers` (duplicates dropped, order kept), for
    /// loading the configured or stored list. Fails if they exceed the cap.
    pub fn from_peers(
        peers: impl IntoIterator<Item = PeerAddr>,
        max_peers: usize,
    ) -> Result<PeerRegistry, PeerError> {
        let mut registry = PeerRegistry::new(max_peers);
        let fresh = registry.fresh(peers);
        registry.add(fresh)?;
        Ok(registry)
    }

    /// Registers every entry (`http://host:port`, `http://host:port/` or
    /// `host:port`), all or nothing: if one entry is invalid or the cap would
    /// be exceeded, nothing is added. Returns the peers that were new, in order;
    /// entries already known are accepted and not repeated.
    pub fn register<S: AsRef<str>>(
        &mut self,
        entries: &[S],
        policy: &PeerPolicy,
    ) -> Result<Vec<PeerAddr>, PeerError> {
        let parsed = entries
            .iter()
            .map(|entry| {
                let peer = PeerAddr::parse(entry.as_ref())?;
                policy.check(&peer)?;
                Ok(peer)
            })
            .collect::<Result<Vec<_>, PeerError>>()?;
        let fresh = self.fresh(parsed);
        self.add(fresh.clone())?;
        Ok(fresh)
    }

    /// The peers not yet known, without duplicates, in order.
    fn fresh(&self, peers: impl IntoIterator<Item = PeerAddr>) -> Vec<PeerAddr> {
        let mut seen = HashSet::new();
        peers
            .into_iter()
            .filter(|peer| !self.known.contains(peer) && seen.insert(peer.clone()))
            .collect()
    }

    /// Adds peers known to be new, if they fit under the cap.
    fn add(&mut self, fresh: Vec<PeerAddr>) -> Result<(), PeerError> {
        if self.peers.len() + fresh.len() > self.max_peers {
            return Err(PeerError::TooMany {
                known: self.peers.len(),
                adding: fresh.len(),
                max: self.max_peers,
            });
        }
        self.known.extend(fresh.iter().cloned());
        self.peers.extend(fresh);
        Ok(())
    }

    /// Forgets `peer`; false if it was not registered.
    pub fn remove(&mut self, peer: &PeerAddr) -> bool {
        if !self.known.remove(peer) {
            return false;
        }
        self.peers.retain(|p| p != peer);
        self.failures.remove(peer);
        self.unreachable.remove(peer);
        true
    }

    /// The peers to ask now: all but those backing off after failed attempts.
    pub fn due(&self, now: f64) -> Vec<PeerAddr> {
        self.peers
            .iter()
            .filter(|peer| self.unreachable.get(*peer).is_none_or(|(_, at)| *at <= now))
            .cloned()
            .collect()
    }

    /// Records whether `peer` could be reached at `now`. Each failure in a
    /// row doubles the wait before the next attempt (from `interval` seconds
    /// up to 64 times that); the `max`-th removes the peer (true is returned).
    pub fn reached(
        &mut self,
        peer: &PeerAddr,
        ok: bool,
        now: f64,
        interval: f64,
        max: u32,
    ) -> bool {
        if ok {
            self.unreachable.remove(peer);
            return false;
        }
        let (count, retry_at) = self.unreachable.entry(peer.clone()).or_insert((0, now));
        *count += 1;
        *retry_at = now + interval * f64::from(1u32 << (*count).min(6));
        *count >= max && self.remove(peer)
    }

    /// How a peer stands: `ok`, `demoted` (bad answers), or `backing off` (unreachable).
    pub fn standing(&self, peer: &PeerAddr) -> (&'static str, u32) {
        if let Some((count, _)) = self.unreachable.get(peer) {
            return ("backing off", *count);
        }
        match self.failures(peer) {
            0 => ("ok", 0),
            n => ("demoted", n),
        }
    }

    /// Records how `peer` answered: a bad answer (malformed or invalid)
    /// demotes it, and the `max_failures`-th in a row removes it (true is
    /// returned); a good one clears its record.
    pub fn record(&mut self, peer: &PeerAddr, bad: bool, max_failures: u32) -> bool {
        if !bad {
            self.failures.remove(peer);
            return false;
        }
        let count = self.failures.entry(peer.clone()).or_insert(0);
        *count += 1;
        *count >= max_failures && self.remove(peer)
    }

    /// Bad answers in a row from `peer` (0 for a peer in good standing).
    pub fn failures(&self, peer: &PeerAddr) -> u32 {
        self.failures.get(peer).copied().unwrap_or(0)
    }

    /// The known peers, in registration order.
    pub fn list(&self) -> &[PeerAddr] {
        &self.peers
    }

    /// Whether `peer` is registered.
    #[cfg(test)]
    fn contains(&self, peer: &PeerAddr) -> bool {
        self.known.contains(peer)
    }

    /// How many peers are registered.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is registered.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PeerPolicy {
        PeerPolicy {
            allow_link_local: false,
            own_port: 5000,
            own_host: "127.0.0.1".into(),
        }
    }

    #[test]
    fn register_is_all_or_nothing_and_deduplicates() {
        let mut registry = PeerRegistry::new(3);
        let added = registry
            .register(&["http://a:1", "a:1", "http://b:2/"], &policy())
            .unwrap();
        assert_eq!(
            added.iter().map(PeerAddr::as_str).collect::<Vec<_>>(),
            ["a:1", "b:2"]
        );
        // One bad entry: error naming it, nothing added.
        let err = registry.register(&["c:3", "bad"], &policy()).unwrap_err();
        assert!(err.to_string().contains("\"bad\""), "{err}");
        assert_eq!(registry.len(), 2);
        // Known entries are accepted again without counting against the cap.
        assert_eq!(
            registry
                .register(&["a:1", "http://b:2"], &policy())
                .unwrap(),
            vec![]
        );
        // Cap: one slot left, two new peers.
        let err = registry.register(&["c:3", "d:4"], &policy()).unwrap_err();
        assert_eq!(
            err,
            PeerError::TooMany {
                known: 2,
                adding: 2,
                max: 3
            }
        );
        assert_eq!(registry.len(), 2);
        assert_eq!(
            registry
                .register(&[String::from("c:3")], &policy())
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            registry
                .list()
                .iter()
                .map(PeerAddr::as_str)
                .collect::<Vec<_>>(),
            ["a:1", "b:2", "c:3"]
        );
        assert!(registry.contains(&PeerAddr::parse("c:3").unwrap()));
    }

    #[test]
    fn from_peers_keeps_order_drops_duplicates_and_checks_the_cap() {
        let peers: Vec<PeerAddr> = ["b:2", "a:1", "b:2"]
            .iter()
            .map(|e| e.parse().unwrap())
            .collect();
        let registry = PeerRegistry::from_peers(peers.clone(), 2).unwrap();
        assert_eq!(registry.list(), &peers[..2]);
        assert!(matches!(
            PeerRegistry::from_peers(peers, 1),
            Err(PeerError::TooMany { max: 1, .. })
        ));
    }
}

#[cfg(test)]
mod standing {
    use super::*;

    #[test]
    fn bad_answers_demote_then_drop_a_peer_and_good_ones_clear_the_record() {
        let policy = PeerPolicy {
            allow_link_local: false,
            own_port: 5000,
            own_host: "127.0.0.1".into(),
        };
        let mut registry = PeerRegistry::new(8);
        registry.register(&["a:1", "b:2"], &policy).unwrap();
        let a = PeerAddr::parse("a:1").unwrap();
        assert!(!registry.record(&a, true, 3));
        assert!(!registry.record(&a, true, 3));
        assert_eq!(registry.failures(&a), 2);
        assert!(
            !registry.record(&a, false, 3),
            "a good answer clears the record"
        );
        assert_eq!(registry.failures(&a), 0);
        for _ in 0..2 {
            assert!(!registry.record(&a, true, 3));
        }
        assert!(
            registry.record(&a, true, 3),
            "the third bad answer in a row drops it"
        );
        assert_eq!(registry.list(), [PeerAddr::parse("b:2").unwrap()]);
        assert!(!registry.remove(&a), "already gone");
        assert!(registry.remove(&PeerAddr::parse("b:2").unwrap()));
        assert!(registry.is_empty());
    }

    #[test]
    fn the_policy_applies_to_registration_all_or_nothing() {
        let policy = PeerPolicy {
            allow_link_local: false,
            own_port: 5000,
            own_host: "127.0.0.1".into(),
        };
        let mut registry = PeerRegistry::new(8);
        let err = registry
            .register(&["a:1", "169.254.169.254:80"], &policy)
            .unwrap_err();
        assert!(err.to_string().contains("link-local"), "{err}");
        let err = registry.register(&["localhost:5000"], &policy).unwrap_err();
        assert!(err.to_string().contains("this node itself"), "{err}");
        assert!(registry.is_empty());
    }
}
