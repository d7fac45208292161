//! The sigchain node: chain, pending pool, miner, peers and the HTTP API.
//!
//! # Layout
//!
//! - [`chain`]: block and transaction types, their canonical JSON and hash,
//!   proof of work, and every consensus rule (the ledger's replay and balance
//!   rules included). Only it decides validity; its `mod.rs` maps each rule
//!   to its function, file and test.
//! - [`consensus`]: choosing the best of the chains peers sent, and a report
//!   per peer. Pure: no HTTP, no locks, no disk.
//! - [`pool`]: pending transfers, each covered by its sender's balance.
//! - [`state`]: the chain and the pool, changed only together.
//! - [`miner`]: the multi-threaded, cancellable proof-of-work search.
//! - [`net`]: peers on the wire: addresses, the registry and its policy,
//!   bounded fetching of chains, pages and health, announcements and relays.
//! - [`store`]: the data directory: one crash-safe redb file written by a
//!   group-committing thread, the lock, the node key.
//! - [`service`]: the [`service::Node`] handle every request works through:
//!   transfers and mining, peers and resolve, sync, gossip and the degraded
//!   mode of a failing disk.
//! - [`addresses`]: a bounded cache of parsed addresses, so a frequent
//!   sender's key is decoded and prepared once.
//! - [`api`]: the HTTP routes, declared once, their handlers, the one body
//!   reader and the one mapping from errors to JSON answers.
//! - [`config`]: settings from defaults, `config.toml`, `SIGCHAIN_*` and flags,
//!   from one table of keys.
//! - [`connections`]: open-file and connection limits, with a reserve for
//!   the owner on loopback.
//! - [`logging`]: a log writer that never panics or blocks a request.
//! - [`parallel`]: CPU-heavy work split over every core.
//! - [`server`]: opening the data directory, listening, serving until a
//!   shutdown future completes.

pub mod addresses;
pub mod api;
pub mod chain;
pub mod config;
pub mod connections;
pub mod consensus;
pub mod index;
pub mod logging;
pub mod metrics;
pub mod miner;
pub mod net;
pub mod parallel;
pub mod pool;
pub mod server;
pub mod service;
pub mod state;
pub mod store;
pub mod web;
