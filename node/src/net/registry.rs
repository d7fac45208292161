//! The registry of known peers: registration order kept, duplicates dropped, all-or-nothing under a cap.

use std::collections::HashSet;

use super::addr::{PeerAddr, PeerError};

/// The known peers, in the order they were first registered, at most `max_peers` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRegistry {
    peers: Vec<PeerAddr>,
    /// Mirrors `peers` so a large registration does not cost a quadratic scan.
    known: HashSet<PeerAddr>,
    max_peers: usize,
}

impl PeerRegistry {
    /// An empty registry holding at most `max_peers` peers.
    pub fn new(max_peers: usize) -> PeerRegistry {
        PeerRegistry {
            peers: Vec::new(),
            known: HashSet::new(),
            max_peers,
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
    pub fn register<S: AsRef<str>>(&mut self, entries: &[S]) -> Result<Vec<PeerAddr>, PeerError> {
        let parsed = entries
            .iter()
            .map(|entry| PeerAddr::parse(entry.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
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

    #[test]
    fn register_is_all_or_nothing_and_deduplicates() {
        let mut registry = PeerRegistry::new(3);
        let added = registry
            .register(&["http://a:1", "a:1", "http://b:2/"])
            .unwrap();
        assert_eq!(
            added.iter().map(PeerAddr::as_str).collect::<Vec<_>>(),
            ["a:1", "b:2"]
        );
        // One bad entry: error naming it, nothing added.
        let err = registry.register(&["c:3", "bad"]).unwrap_err();
        assert!(err.to_string().contains("\"bad\""), "{err}");
        assert_eq!(registry.len(), 2);
        // Known entries are accepted again without counting against the cap.
        assert_eq!(registry.register(&["a:1", "http://b:2"]).unwrap(), vec![]);
        // Cap: one slot left, two new peers.
        let err = registry.register(&["c:3", "d:4"]).unwrap_err();
        assert_eq!(
            err,
            PeerError::TooMany {
                known: 2,
                adding: 2,
                max: 3
            }
        );
        assert_eq!(registry.len(), 2);
        assert_eq!(registry.register(&[String::from("c:3")]).unwrap().len(), 1);
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
