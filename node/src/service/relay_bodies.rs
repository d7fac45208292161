//! Splitting relayed transfers into `/transactions/relay` bodies that fit a peer's body limit.

use serde_json::json;

use crate::chain::Transaction;

/// `entries` as `/transactions/relay` bodies of at most `limit` bytes each,
/// in order, each with the entries it carries (`transaction` gives an
/// entry's transfer). A single transfer over the limit still goes alone:
/// the peer's answer says why.
pub(super) fn relay_bodies<T>(
    entries: Vec<T>,
    limit: usize,
    transaction: impl Fn(&T) -> &Transaction,
) -> Vec<(Vec<T>, Vec<u8>)> {
    /// `{"transactions":[` and `]}`.
    const ENVELOPE: usize = 19;
    let body = |group: &[T]| {
        let transactions: Vec<&Transaction> = group.iter().map(&transaction).collect();
        serde_json::to_vec(&json!({ "transactions": transactions }))
            .expect("transactions serialize to JSON")
    };
    let mut bodies = Vec::new();
    let mut group: Vec<T> = Vec::new();
    let mut size = ENVELOPE;
    for entry in entries {
        let length = serde_json::to_vec(transaction(&entry))
            .expect("a transaction serializes to JSON")
            .len()
            + 1;
        if !group.is_empty() && size + length > limit {
            let full = std::mem::take(&mut group);
            let made = body(&full);
            bodies.push((full, made));
            size = ENVELOPE;
        }
        group.push(entry);
        size += length;
    }
    if !group.is_empty() {
        let made = body(&group);
        bodies.push((group, made));
    }
    bodies
}

#[cfg(test)]
mod tests {
    use super::*;
    use wallet::{Amount, Nonce, Wallet};

    #[test]
    fn bodies_fit_the_limit_and_carry_every_transfer_once_in_order() {
        let (payer, payee) = (Wallet::generate(), Wallet::generate());
        let transfers: Vec<Transaction> = (0..120)
            .map(|n| {
                let nonce = Some(Nonce::new(n).expect("small"));
                Transaction::sign(&payer, payee.address(), Amount::ONE, nonce)
            })
            .collect();
        let limit = 65_536;
        let bodies = relay_bodies(transfers.iter().collect(), limit, |t| t);
        assert!(bodies.len() > 1, "120 transfers are over 64 KiB");
        let mut sent = Vec::new();
        for (group, body) in &bodies {
            assert!(body.len() <= limit, "{} bytes", body.len());
            let parsed: serde_json::Value = serde_json::from_slice(body).expect("JSON");
            let listed = parsed["transactions"].as_array().expect("a list");
            assert_eq!(listed.len(), group.len());
            for (value, transfer) in listed.iter().zip(group) {
                assert_eq!(value, &serde_json::to_value(transfer).unwrap());
            }
            sent.extend(group.iter().map(|t| (*t).clone()));
        }
        assert_eq!(sent, transfers);
    }
}
