//! Shared by the node benches: a signed transfer fixture and the block counts to measure.
#![allow(dead_code)] // Each bench uses its own part.

use node::chain::Transaction;
use wallet::{Amount, Nonce, Wallet};

/// `from` pays `to` `amount` coins, signed, with `nonce` (which keeps each such transfer distinct).
pub fn signed(from: &Wallet, to: &Wallet, amount: u64, nonce: u64) -> Transaction {
    let amount = Amount::new(amount).expect("bench amounts are in range");
    let nonce = Nonce::new(nonce).expect("bench nonces are small");
    Transaction::sign(from, to.address(), amount, Some(nonce))
}

/// Block counts from the comma-separated list in `var`, else 10,000 and 100,000.
pub fn sizes_from_env(var: &str) -> Vec<u64> {
    std::env::var(var)
        .ok()
        .map(|list| {
            list.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{var} lists block counts, got {n:?}"))
                })
                .collect()
        })
        .unwrap_or_else(|| vec![10_000, 100_000])
}
