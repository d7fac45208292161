//! The sigchain wallet: RSA keys, base64 addresses and secrets, and signed transfers, byte-compatible with the seed's Python wallet.
//!
//! # Layout
//!
//! - [`encoding`]: the canonical text forms (base64 of PyCrypto-style PEM).
//! - [`Address`]: a canonical public key; verifies signatures.
//! - `verify` and `montgomery` (private): the fast signature check behind
//!   [`Address::verify`] for exponent-65537 keys (x^65537 mod n on u64 limbs);
//!   other keys are checked by the `rsa` crate.
//! - [`Wallet`]: a private key; generates, loads, exports the secret, signs.
//! - [`Transfer`]: sender, recipient, amount and nonce, and the one function
//!   that builds the signed message.
//! - [`Amount`], [`Nonce`]: checked whole numbers, JSON integer or digit string.
//! - [`Signature`]: canonical base64 of a PKCS#1 v1.5 signature over MD5.
//! - [`WalletError`]: every way input can be wrong.
//!
//! The crate has no async, no web and no command-line code; the node and the
//! `sigscript` and `wallet` commands (in the `sigscript` crate) all use it.

mod address;
mod amount;
pub mod encoding;
mod error;
mod keys;
mod montgomery;
mod signature;
mod transfer;
mod verify;

pub use address::Address;
pub use amount::{Amount, Nonce, MAX_SAFE_INTEGER};
pub use error::WalletError;
pub use keys::{Wallet, NEW_KEY_BITS};
pub use signature::Signature;
pub use transfer::Transfer;
