//! The sigchain node: chain, pending pool, miner, peers and the HTTP API.
pub mod api;
pub mod chain;
pub mod config;
pub mod consensus;
pub mod index;
pub mod miner;
pub mod net;
pub mod pool;
pub mod server;
pub mod service;
pub mod state;
pub mod store;
pub mod web;
