//! `Transfer`: what a signature covers, and the one function that builds the signed message.

use crate::{Address, Amount, Nonce, Signature, WalletError};

/// A payment from `sender` to `recipient`, before or after signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Who pays; the signature must be this key's.
    pub sender: Address,
    /// Who is paid.
    pub recipient: Address,
    /// How many coins.
    pub amount: Amount,
    /// Makes a repeated payment a different message; `None` signs the seed's form.
    pub nonce: Option<Nonce>,
}

impl Transfer {
    /// The bytes that are signed and verified.
    ///
    /// Seed form: `sender + recipient + amount`, as the seed's `sigScript.py`
    /// signs it. Nonce form: the same followed by `|nonce=` and the nonce. `|`
    /// never occurs in base64 or in decimal digits, so no message of one form
    /// reads as another.
    pub fn message(&self) -> Vec<u8> {
        let amount = self.amount.to_string();
        let nonce = self.nonce.map(|n| format!("|nonce={n}"));
        let nonce = nonce.as_deref().unwrap_or("");
        let sender = self.sender.as_str();
        let recipient = self.recipient.as_str();
        let mut message =
            Vec::with_capacity(sender.len() + recipient.len() + amount.len() + nonce.len());
        for part in [sender, recipient, &amount, nonce] {
            message.extend_from_slice(part.as_bytes());
        }
        message
    }

    /// Checks that `signature` is the sender's signature of this transfer.
    pub fn verify(&self, signature: &Signature) -> Result<(), WalletError> {
        self.sender.verify(&self.message(), signature)
    }
}
