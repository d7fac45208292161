//! Paying from the node's own wallet: the owner names a recipient and an amount, the node signs with a fresh nonce and submits.

use rand::Rng as _;
use wallet::{Address, Amount, Nonce, MAX_SAFE_INTEGER};

use super::{Node, NodeError};
use crate::chain::Transaction;
use crate::index::TransferId;

/// What a payment from the node's wallet became.
#[derive(Debug, Clone)]
pub struct Paid {
    /// The signed transfer, now pending.
    pub transaction: Transaction,
    /// Its transfer id.
    pub id: TransferId,
    /// The block it is expected to go into.
    pub index: u64,
}

impl Node {
    /// Signs a transfer of `amount` from this node's wallet to `recipient`
    /// and submits it like any other (verified, admitted, stored).
    ///
    /// The nonce is random: a signature covers the nonce, so two payments of
    /// the same amount to the same recipient get different signatures and
    /// neither is taken for a replay of the other. With 2^53 values, a
    /// collision between two of one node's payments is not a practical concern,
    /// and one would only be refused as a replay, never lose coins.
    pub async fn pay(&self, recipient: &Address, amount: Amount) -> Result<Paid, NodeError> {
        let nonce = rand::thread_rng().gen_range(0..=MAX_SAFE_INTEGER);
        let nonce = Nonce::new(nonce).expect("the range ends at the largest nonce");
        let transaction = Transaction::sign(&self.inner.wallet, recipient, amount, Some(nonce));
        let id = TransferId::of_transaction(&transaction)
            .expect("a transfer made by signing has a signature");
        let index = self.submit(transaction.clone()).await?;
        Ok(Paid {
            transaction,
            id,
            index,
        })
    }
}
