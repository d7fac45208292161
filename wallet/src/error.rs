//! The one error type of the wallet crate: a variant for each way input can be wrong.

/// What was wrong with a key, an address, a signature or an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    /// The text is not standard, padded, one-line base64.
    #[error("{what} is not valid base64")]
    NotBase64 { what: &'static str },
    /// The base64 decoded, but not to the PEM text of the expected kind.
    #[error("{what} is not a PEM {expected} block")]
    NotPem {
        what: &'static str,
        expected: &'static str,
    },
    /// The PEM block does not hold a usable RSA key.
    #[error("{what} does not hold an RSA key: {reason}")]
    NotRsaKey { what: &'static str, reason: String },
    /// The RSA modulus is too small or too large.
    #[error("{what} is a {bits}-bit RSA key; keys of 2048 to 4096 bits are accepted")]
    KeySize { what: &'static str, bits: usize },
    /// Decoding and re-encoding the address gives a different string.
    #[error(
        "address is not in canonical form (base64 of the PEM public key, no trailing newline)"
    )]
    NonCanonicalAddress,
    /// The signature is not canonical base64 of the right length for the key.
    #[error("signature is malformed: {reason}")]
    MalformedSignature { reason: &'static str },
    /// The signature is well formed but was not made by this address's key over this message.
    #[error("signature does not verify for this sender, recipient and amount")]
    BadSignature,
    /// The amount is not a whole number in 1..=2^53-1.
    #[error("amount {0}")]
    Amount(&'static str),
    /// The nonce is not a whole number in 0..=2^53-1.
    #[error("nonce {0}")]
    Nonce(&'static str),
}
