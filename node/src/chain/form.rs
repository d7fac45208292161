//! `FormError`: what is wrong with the form of a block or transaction, before any consensus rule is asked.

use wallet::WalletError;

/// What is wrong with the form of a block or transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A field is missing, unknown, or of the wrong JSON type.
    #[error("malformed: {0}")]
    Structure(String),
    /// `previous_hash` is neither a hash nor genesis's integer 1.
    #[error("previous_hash {0}")]
    PreviousHash(String),
    /// Transaction number `.0` (from 0) is malformed.
    #[error("transaction {0}: {1}")]
    Transaction(usize, Box<FormError>),
    /// An address is not a canonical RSA public key.
    #[error("{0} is not a valid address: {1}")]
    Address(&'static str, WalletError),
    /// The amount is not an integer in range.
    #[error("{0}")]
    Amount(WalletError),
    /// The nonce is not an integer in range.
    #[error("{0}")]
    Nonce(WalletError),
    /// The signature is not canonical base64.
    #[error("{0}")]
    Signature(WalletError),
    /// A transfer without a signature.
    #[error("a transfer must carry a signature")]
    MissingSignature,
    /// A reward with a signature or nonce, which is also how a submitted
    /// transfer claiming the reward sender is refused.
    #[error("sender \"0\" is reserved for mining rewards, which carry no signature and no nonce")]
    RewardFields,
}
