//! The sigchain node: chain, pending pool, miner, peers and the HTTP API.
