//! Which peer addresses this node talks to: never itself, never an unspecified address, link-local ones only when allowed.

use std::net::IpAddr;

use super::addr::{AddrProblem, PeerAddr, PeerError};

/// The rules a peer address must pass before it is registered or fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Whether link-local addresses (169.254.0.0/16, fe80::/10) are allowed.
    pub allow_link_local: bool,
    /// The port this node listens on.
    pub own_port: u16,
    /// The host this node is bound to, as configured (a name or an address).
    pub own_host: String,
}

impl PeerPolicy {
    /// Checks `peer` against the policy.
    pub fn check(&self, peer: &PeerAddr) -> Result<(), PeerError> {
        self.problem(peer).map_or(Ok(()), |problem| {
            Err(PeerError::Invalid {
                entry: peer.to_string(),
                problem,
            })
        })
    }

    fn problem(&self, peer: &PeerAddr) -> Option<AddrProblem> {
        if let Some(ip) = peer.ip() {
            if let Err(problem) = self.check_ip(ip) {
                return Some(problem);
            }
        }
        self.is_this_node(peer).then_some(AddrProblem::ThisNode)
    }

    /// Checks one address a peer's name resolved to (or its literal address).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), AddrProblem> {
        let ip = ip.to_canonical();
        if ip.is_unspecified() {
            return Err(AddrProblem::Unspecified);
        }
        let link_local = match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => v6.is_unicast_link_local(),
        };
        if link_local && !self.allow_link_local {
            return Err(AddrProblem::LinkLocal);
        }
        Ok(())
    }

    /// Whether `peer` names this node: our port on a loopback name or
    /// address, or on the host we are bound to. Other names for this node (a
    /// public name, a LAN address) are caught when a peer answers with our
    /// own node id.
    fn is_this_node(&self, peer: &PeerAddr) -> bool {
        if peer.port() != self.own_port {
            return false;
        }
        let host = peer.host();
        let loopback = peer.ip().is_some_and(|ip| ip.to_canonical().is_loopback());
        loopback || host == "localhost" || host.trim_matches(['[', ']']) == self.own_host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PeerPolicy {
        PeerPolicy {
            allow_link_local: false,
            own_port: 5000,
            own_host: "192.0.2.10".into(),
        }
    }

    fn problem(entry: &str, policy: &PeerPolicy) -> Option<AddrProblem> {
        match policy.check(&PeerAddr::parse(entry).unwrap()) {
            Ok(()) => None,
            Err(PeerError::Invalid { problem, .. }) => Some(problem),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn this_node_under_any_local_name_is_refused() {
        let policy = policy();
        for me in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.0.0.2:5000",
            "[::1]:5000",
            "[::ffff:127.0.0.1]:5000",
            "192.0.2.10:5000",
        ] {
            assert_eq!(problem(me, &policy), Some(AddrProblem::ThisNode), "{me}");
        }
        for other in [
            "localhost:5001",
            "127.0.0.1:5001",
            "192.0.2.11:5000",
            "node-b:5000",
        ] {
            assert_eq!(problem(other, &policy), None, "{other}");
        }
    }

    #[test]
    fn unspecified_and_link_local_addresses_are_refused_unless_allowed() {
        let mut policy = policy();
        for (entry, expected) in [
            ("0.0.0.0:5001", AddrProblem::Unspecified),
            ("[::]:5001", AddrProblem::Unspecified),
            ("169.254.169.254:80", AddrProblem::LinkLocal),
            ("[fe80::1]:80", AddrProblem::LinkLocal),
            ("[::ffff:169.254.1.1]:80", AddrProblem::LinkLocal),
        ] {
            assert_eq!(problem(entry, &policy), Some(expected), "{entry}");
        }
        policy.allow_link_local = true;
        assert_eq!(problem("169.254.169.254:80", &policy), None);
        assert_eq!(
            problem("0.0.0.0:5001", &policy),
            Some(AddrProblem::Unspecified)
        );
    }
}
