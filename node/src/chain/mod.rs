//! The chain: block and transaction types, their canonical JSON and hash, proof of work and validation.
//!
//! Only this module decides validity: the pool, the store and the HTTP
//! handlers ask it.

pub mod block;
pub mod canonical;
pub mod check;
pub mod pow;
pub mod valid;

pub use block::{Block, BlockHash, FormError, PreviousHash, Timestamp, Transaction, REWARD_SENDER};
pub use canonical::python_json;
pub use check::{Rule, Rules, ValidationError};
pub use valid::Chain;
