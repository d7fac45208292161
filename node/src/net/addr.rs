//! Peer addresses: parsing the accepted forms into the canonical `host:port`, and saying precisely what is wrong with a bad entry.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest peer entry accepted, in bytes, before any parsing.
pub const MAX_ADDR_LEN: usize = 255;

/// How a peer entry (`http://host:port`, `http://host:port/` or `host:port`) is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrProblem {
    /// Nothing was given.
    #[error("is empty")]
    Empty,
    /// Longer than [`MAX_ADDR_LEN`].
    #[error("is {len} bytes long; at most 255 are allowed")]
    TooLong {
        /// The entry's length in bytes.
        len: usize,
    },
    /// Spaces, tabs, newlines or other control characters anywhere in it.
    #[error("contains whitespace or control characters")]
    Whitespace,
    /// `https://`: peers talk plain HTTP.
    #[error("uses https://, but peers speak plain HTTP: write http://host:port or host:port")]
    Https,
    /// A scheme other than `http://`.
    #[error("uses the scheme `{0}`; only http:// is supported")]
    Scheme(String),
    /// `user:password@` before the host.
    #[error("contains a user name or password (`@`); give only host:port")]
    UserInfo,
    /// Anything after `host:port` other than one `/`.
    #[error("has a path; give only http://host:port")]
    Path,
    /// A `?query`.
    #[error("has a query (`?`); give only http://host:port")]
    Query,
    /// A `#fragment`.
    #[error("has a fragment (`#`); give only http://host:port")]
    Fragment,
    /// No host before the port.
    #[error("has no host; write host:port")]
    MissingHost,
    /// No `:port` after the host.
    #[error("has no port; write host:port")]
    MissingPort,
    /// The port is not a number from 1 to 65535.
    #[error("port `{0}` is not a number from 1 to 65535")]
    BadPort(String),
    /// The host is neither an IP address nor a valid host name.
    #[error("host `{0}` is not a valid host name or IP address")]
    BadHost(String),
    /// `0.0.0.0` or `::`: a wildcard for listening, not a peer.
    #[error("is an unspecified address (0.0.0.0 or ::), which names no peer")]
    Unspecified,
    /// A link-local address (169.254.0.0/16, fe80::/10), such as a cloud metadata service.
    #[error("is a link-local address; set peers.allow_link_local = true to allow it")]
    LinkLocal,
    /// This node itself, under one of its names.
    #[error("is this node itself")]
    ThisNode,
    /// An IPv6 address without brackets, so its colons are ambiguous.
    #[error("an IPv6 address must be written in brackets, like [::1]:5000")]
    Ipv6NeedsBrackets,
}

/// Why registering peers failed. Nothing is registered when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// One entry is not a peer address.
    #[error("invalid peer address {}: {problem}", quote_entry(entry))]
    Invalid {
        /// The entry as given (may be long; the message shortens it).
        entry: String,
        /// What is wrong with it.
        problem: AddrProblem,
    },
    /// Adding the new peers would exceed the configured cap.
    #[error("too many peers: {known} known and {adding} new would exceed the limit of {max}")]
    TooMany {
        /// Peers already registered.
        known: usize,
        /// Distinct new peers in the request.
        adding: usize,
        /// The cap (`peers.max_peers`).
        max: usize,
    },
}

/// Quotes an entry for an error message, shortened so a huge entry cannot flood a log or a response.
fn quote_entry(entry: &str) -> String {
    const SHOWN: usize = 64;
    if entry.chars().count() <= SHOWN {
        format!("{entry:?}")
    } else {
        let head: String = entry.chars().take(SHOWN).collect();
        format!("{head:?}... ({} bytes)", entry.len())
    }
}

/// A peer's address in the canonical `host:port` form the seed stores
/// (`[v6]:port` for IPv6 addresses; host names in lower case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddr {
    text: String,
    port: u16,
}

impl PeerAddr {
    /// Parses `http://host:port`, `http://host:port/` or `host:port`.
    pub fn parse(entry: &str) -> Result<PeerAddr, PeerError> {
        parse_addr(entry).map_err(|problem| PeerError::Invalid {
            entry: entry.to_owned(),
            problem,
        })
    }

    /// The canonical `host:port` text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host part (`[::1]` keeps its brackets).
    pub fn host(&self) -> &str {
        let digits = self.port.to_string().len();
        &self.text[..self.text.len() - digits - 1]
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as an IP address, when it is written as one.
    pub fn ip(&self) -> Option<IpAddr> {
        let host = self.host();
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        bare.parse().ok()
    }

    /// `http://host:port` followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.text, path)
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for PeerAddr {
    type Err = PeerError;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        PeerAddr::parse(entry)
    }
}

impl Serialize for PeerAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for PeerAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PeerAddr::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn parse_addr(entry: &str) -> Result<PeerAddr, AddrProblem> {
    if entry.is_empty() {
        return Err(AddrProblem::Empty);
    }
    if entry.len() > MAX_ADDR_LEN {
        return Err(AddrProblem::TooLong { len: entry.len() });
    }
    if entry.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AddrProblem::Whitespace);
    }
    let rest = match entry.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
            return Err(AddrProblem::Https)
        }
        Some((scheme, _)) => return Err(AddrProblem::Scheme(scheme.chars().take(16).collect())),
        None => entry,
    };
    // The authority ends at the first `/`, `?` or `#`, as in a URL.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if !tail.is_empty() && tail != "/" {
        let after_slash = tail.strip_prefix('/').unwrap_or(tail);
        return Err(match after_slash.chars().next() {
            Some('?') => AddrProblem::Query,
            Some('#') => AddrProblem::Fragment,
            _ => AddrProblem::Path,
        });
    }
    if authority.contains('@') {
        return Err(AddrProblem::UserInfo);
    }
    if authority.is_empty() {
        return Err(AddrProblem::MissingHost);
    }
    let (host, port_text) = split_host_port(authority)?;
    let port = parse_port(port_text)?;
    let text = format!("{host}:{port}");
    Ok(PeerAddr { text, port })
}

/// Splits `host:port` or `[v6]:port`, returning the canonical host text.
fn split_host_port(authority: &str) -> Result<(String, &str), AddrProblem> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (inside, after) = bracketed
            .split_once(']')
            .ok_or_else(|| AddrProblem::BadHost(authority.to_owned()))?;
        let ip =
            Ipv6Addr::from_str(inside).map_err(|_| AddrProblem::BadHost(format!("[{inside}]")))?;
        let port = match after.strip_prefix(':') {
            Some(port) => port,
            None if after.is_empty() => return Err(AddrProblem::MissingPort),
            None => return Err(AddrProblem::BadHost(authority.to_owned())),
        };
        return Ok((format!("[{ip}]"), port));
    }
    let (host, port) = authority.rsplit_once(':').ok_or(AddrProblem::MissingPort)?;
    if host.contains(':') {
        return Err(AddrProblem::Ipv6NeedsBrackets);
    }
    if host.is_empty() {
        return Err(AddrProblem::MissingHost);
    }
    Ok((canonical_host(host)?, port))
}

fn parse_port(text: &str) -> Result<u16, AddrProblem> {
    if text.is_empty() {
        return Err(AddrProblem::MissingPort);
    }
    let bad = || AddrProblem::BadPort(text.chars().take(16).collect());
    if text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(port) => Ok(port),
    }
}

/// Checks a host name or IPv4 address (no brackets, no port) and returns it
/// in canonical form: lower case, IPv4 as dotted decimal.
///
/// Host names follow the DNS label rules (letters, digits, `-`, at most 63
/// bytes a label, 253 in all), also allowing `_`, which container and compose
/// service names use.
pub(crate) fn canonical_host(host: &str) -> Result<String, AddrProblem> {
    let bad = || AddrProblem::BadHost(host.chars().take(64).collect());
    if let Ok(ip) = Ipv4Addr::from_str(host) {
        return Ok(ip.to_string());
    }
    // Something like 1.2.3.999 is a broken IPv4 address, not a host name.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    if host.is_empty() || host.len() > 253 {
        return Err(bad());
    }
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(bad());
        }
    }
    Ok(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(entry: &str) -> String {
        match PeerAddr::parse(entry) {
            Ok(addr) => addr.as_str().to_owned(),
            Err(e) => panic!("{entry:?} should parse: {e}"),
        }
    }

    fn problem(entry: &str) -> AddrProblem {
        match PeerAddr::parse(entry) {
            Ok(addr) => panic!("{entry:?} should be rejected, got {addr}"),
            Err(PeerError::Invalid { problem, .. }) => problem,
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn accepts_the_seed_forms_and_stores_host_port() {
        assert_eq!(ok("http://localhost:5000"), "localhost:5000");
        assert_eq!(ok("http://localhost:5000/"), "localhost:5000");
        assert_eq!(ok("localhost:5000"), "localhost:5000");
        assert_eq!(ok("HTTP://Node-1.Example.com:80"), "node-1.example.com:80");
        assert_eq!(ok("127.0.0.1:65535"), "127.0.0.1:65535");
        assert_eq!(ok("http://192.168.0.10:5001"), "192.168.0.10:5001");
        assert_eq!(ok("node_a:1"), "node_a:1");
    }

    #[test]
    fn accepts_bracketed_ipv6_in_canonical_form() {
        assert_eq!(ok("[::1]:5000"), "[::1]:5000");
        assert_eq!(ok("http://[0:0:0:0:0:0:0:1]:5000/"), "[::1]:5000");
        let addr = PeerAddr::parse("[fe80::1]:7").unwrap();
        assert_eq!(addr.host(), "[fe80::1]");
        assert_eq!(addr.port(), 7);
        assert_eq!(addr.url("/chain"), "http://[fe80::1]:7/chain");
    }

    #[test]
    fn rejects_each_kind_of_bad_entry() {
        use AddrProblem::*;
        assert_eq!(problem(""), Empty);
        assert_eq!(
            problem(&format!("{}:1", "a".repeat(300))),
            TooLong { len: 302 }
        );
        assert_eq!(problem(" localhost:5000"), Whitespace);
        assert_eq!(problem("localhost:5000\n"), Whitespace);
        assert_eq!(problem("local host:5000"), Whitespace);
        assert_eq!(problem("https://localhost:5000"), Https);
        assert_eq!(problem("ftp://localhost:5000"), Scheme("ftp".into()));
        assert_eq!(problem("http://user:pw@localhost:5000"), UserInfo);
        assert_eq!(problem("http://localhost:5000/chain"), Path);
        assert_eq!(problem("localhost:5000//"), Path);
        assert_eq!(problem("localhost:5000?x=1"), Query);
        assert_eq!(problem("localhost:5000/?x=1"), Query);
        assert_eq!(problem("localhost:5000#top"), Fragment);
        assert_eq!(problem("http://"), MissingHost);
        assert_eq!(problem(":5000"), MissingHost);
        assert_eq!(problem("localhost"), MissingPort);
        assert_eq!(problem("http://localhost"), MissingPort);
        assert_eq!(problem("localhost:"), MissingPort);
        assert_eq!(problem("[::1]"), MissingPort);
        assert_eq!(problem("localhost:0"), BadPort("0".into()));
        assert_eq!(problem("localhost:65536"), BadPort("65536".into()));
        assert_eq!(problem("localhost:99999999"), BadPort("99999999".into()));
        assert_eq!(problem("localhost:50a0"), BadPort("50a0".into()));
        assert_eq!(problem("localhost:+80"), BadPort("+80".into()));
        assert_eq!(problem("::1:5000"), Ipv6NeedsBrackets);
        assert!(matches!(problem("[::g]:5000"), BadHost(_)));
        assert!(matches!(problem("[::1]x:5000"), BadHost(_)));
        assert!(matches!(problem("1.2.3.999:5000"), BadHost(_)));
        assert!(matches!(problem("-bad.example:5000"), BadHost(_)));
        assert!(matches!(problem("a..b:5000"), BadHost(_)));
        assert!(matches!(problem("exa$mple:5000"), BadHost(_)));
        assert!(matches!(problem("ex\u{e4}mple:5000"), BadHost(_)));
        assert!(matches!(
            problem(&format!("{}:1", "a".repeat(64))),
            BadHost(_)
        ));
    }

    #[test]
    fn errors_name_the_entry_briefly() {
        let text = PeerAddr::parse("https://x:1").unwrap_err().to_string();
        assert!(text.contains("\"https://x:1\""), "{text}");
        assert!(text.contains("plain HTTP"), "{text}");
        let huge = "h".repeat(10_000);
        let text = PeerAddr::parse(&huge).unwrap_err().to_string();
        assert!(text.len() < 200, "{text}");
        assert!(text.contains("10000 bytes"), "{text}");
    }

    #[test]
    fn serde_round_trip_uses_the_canonical_text() {
        let addr = PeerAddr::parse("http://LocalHost:5000/").unwrap();
        let json = serde_json::to_string(&addr).unwrap();
        assert_eq!(json, "\"localhost:5000\"");
        let back: PeerAddr = serde_json::from_str(&json).unwrap();
        assert_eq!(back, addr);
        assert!(serde_json::from_str::<PeerAddr>("\"https://x:1\"").is_err());
    }
}
