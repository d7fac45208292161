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
//!   registered all or nothing under a cap, demoted and dropped after bad answers.
//! - `gossip.rs`: bounded POSTs to one peer or all at once: announcing
//!   blocks, relaying transfers, joining.
//! - `policy.rs`: [`PeerPolicy`], which addresses may be peers (never this
//!   node, never an unspecified address, link-local only when allowed).
//! - `fetch.rs`: the peer HTTP [`client`], [`fetch_chain`] / [`fetch_all`]
//!   bounded by a timeout and a size cap, and [`FetchError`] for each way a
//!   fetch fails.
//! - `answer.rs`: [`parse_chain`], reading an answer straight into typed
//!   blocks with memory near the answer's size.

mod addr;
mod answer;
mod fetch;
mod gossip;
mod policy;
mod registry;

pub(crate) use addr::canonical_host;
pub use addr::{AddrProblem, PeerAddr, PeerError, MAX_ADDR_LEN};
pub use answer::{parse_chain, parse_page, Page};
pub use fetch::{
    client, fetch_all, fetch_chain, fetch_health, fetch_page, FetchError, Health, LOOP_DETECTED,
    NODE_ID_HEADER,
};
pub use gossip::{answer_as, broadcast, post, ORIGIN_HEADER};
pub use policy::PeerPolicy;
pub use registry::PeerRegistry;
