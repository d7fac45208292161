//! Peers on the network side: their addresses, the registry of known peers, and fetching their chains with bounded time and size.
//!
//! Deciding whether a fetched chain is valid, and adopting it, is consensus
//! work done by the chain core; this module only guarantees that asking peers
//! never hangs past its timeout, never reads more than its size cap, and
//! reports each peer's failure as one short phrase.
//!
//! # Layout
//!
//! - `addr.rs`: [`PeerAddr`], parsing `http://host:port` or `host:port` into
//!   the canonical `host:port`, and [`AddrProblem`] / [`PeerError`] for what
//!   is wrong with an entry.
//! - `registry.rs`: [`PeerRegistry`], the known peers in registration order,
//!   registered all or nothing under a cap.
//! - `fetch.rs`: the peer HTTP [`client`], [`fetch_chain`] / [`fetch_all`]
//!   bounded by a timeout and a size cap, [`parse_chain`] for the answer's
//!   shape, and [`FetchError`] for each way a fetch fails.

mod addr;
mod fetch;
mod registry;

pub(crate) use addr::canonical_host;
pub use addr::{AddrProblem, PeerAddr, PeerError, MAX_ADDR_LEN};
pub use fetch::{client, fetch_all, fetch_chain, parse_chain, FetchError};
pub use registry::PeerRegistry;
