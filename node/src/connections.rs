//! Who is calling: the one loopback test every gate uses.

use std::net::IpAddr;

/// Whether `addr` is this machine: `127.0.0.0/8`, `::1`, or either written as
/// an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`), which is how an IPv4
/// caller shows up on a socket bound to `::`.
pub fn is_loopback(addr: IpAddr) -> bool {
    addr.to_canonical().is_loopback()
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
}
