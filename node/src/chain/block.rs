//! Blocks and transactions as PROTOCOL §2–3 define them, with the checked conversion from their JSON form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Number, Value};
use sha2::{Digest, Sha256};
use wallet::{Address, Amount, Nonce, Signature, Transfer, WalletError};

use super::canonical::python_json;

/// The SHA-256 of a block's canonical JSON. Shown and sent as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockHash(pub [u8; 32]);

impl BlockHash {
    /// The hash as the seed writes it: lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({})", self.to_hex())
    }
}

impl FromStr for BlockHash {
    type Err = FormError;

    /// Accepts exactly 64 lowercase hex digits, the only form a hash is written in.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lowercase_hex = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !lowercase_hex {
            return Err(FormError::PreviousHash(
                "must be 64 lowercase hex digits".to_owned(),
            ));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .expect("64 lowercase hex digits always decode to 32 bytes");
        Ok(BlockHash(bytes))
    }
}

impl Serialize for BlockHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

/// A block's `previous_hash`: the integer `1` in the genesis block (as the
/// seed writes it), the previous block's hash in every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviousHash {
    /// The genesis block's integer `1`.
    Genesis,
    /// The hash of the block before.
    Hash(BlockHash),
}

impl Serialize for PreviousHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PreviousHash::Genesis => serializer.serialize_u64(1),
            PreviousHash::Hash(hash) => hash.serialize(serializer),
        }
    }
}

/// Seconds since the epoch, kept exactly as received: an integer stays an
/// integer and a float a float, because the block hash covers the JSON form.
#[derive(Debug, Clone, PartialEq)]
pub struct Timestamp(Number);

impl Timestamp {
    /// A float timestamp, as Python's `time()` gives it.
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        Number::from_f64(secs).map(Timestamp)
    }

    /// The current time, as a float.
    pub fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Timestamp::from_secs_f64(secs).expect("a duration in seconds is a finite float")
    }

    /// The value in seconds.
    pub fn as_secs_f64(&self) -> f64 {
        self.0.as_f64().unwrap_or(f64::NAN)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// One entry of a block's `transactions` or of the pending pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transaction {
    /// The miner's reward: `{"sender": "0", "recipient", "amount"}`, no signature.
    Reward { recipient: Address, amount: Amount },
    /// A payment signed by its sender.
    Signed {
        transfer: Transfer,
        signature: Signature,
    },
}

/// The reserved sender of mining rewards.
pub const REWARD_SENDER: &str = "0";

impl Transaction {
    /// The signature, for a signed transfer.
    pub fn signature(&self) -> Option<&Signature> {
        match self {
            Transaction::Reward { .. } => None,
            Transaction::Signed { signature, .. } => Some(signature),
        }
    }

    /// The amount moved or minted.
    pub fn amount(&self) -> Amount {
        match self {
            Transaction::Reward { amount, .. } => *amount,
            Transaction::Signed { transfer, .. } => transfer.amount,
        }
    }

    /// Who receives the coins.
    pub fn recipient(&self) -> &Address {
        match self {
            Transaction::Reward { recipient, .. } => recipient,
            Transaction::Signed { transfer, .. } => &transfer.recipient,
        }
    }

    /// Reads a transaction from its JSON form, naming what is wrong.
    pub fn from_value(value: &Value) -> Result<Self, FormError> {
        let raw =
            RawTransaction::deserialize(value).map_err(|e| FormError::Structure(e.to_string()))?;
        raw.check()
    }
}

/// The JSON field order of a transaction is sorted, as the canonical form needs.
#[derive(Serialize)]
struct TransactionFields<'a> {
    amount: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<Nonce>,
    recipient: &'a Address,
    sender: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'a Signature>,
}

impl Serialize for Transaction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = match self {
            Transaction::Reward { recipient, amount } => TransactionFields {
                amount: *amount,
                nonce: None,
                recipient,
                sender: REWARD_SENDER,
                signature: None,
            },
            Transaction::Signed {
                transfer,
                signature,
            } => TransactionFields {
                amount: transfer.amount,
                nonce: transfer.nonce,
                recipient: &transfer.recipient,
                sender: transfer.sender.as_str(),
                signature: Some(signature),
            },
        };
        fields.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Transaction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RawTransaction::deserialize(deserializer)?
            .check()
            .map_err(serde::de::Error::custom)
    }
}

/// A transaction with the right field names and JSON types, not yet checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransaction {
    amount: Number,
    #[serde(default)]
    nonce: Option<Number>,
    recipient: String,
    sender: String,
    #[serde(default)]
    signature: Option<String>,
}

impl RawTransaction {
    fn check(self) -> Result<Transaction, FormError> {
        // In blocks and the pool amounts are JSON integers; a string or float
        // would hash differently from what every other node computes.
        let amount = self
            .amount
            .as_u64()
            .ok_or(WalletError::Amount("must be a whole number"))
            .and_then(Amount::new)
            .map_err(FormError::Amount)?;
        let recipient =
            Address::parse(&self.recipient).map_err(|e| FormError::Address("recipient", e))?;
        if self.sender == REWARD_SENDER {
            if self.signature.is_some() || self.nonce.is_some() {
                return Err(FormError::RewardFields);
            }
            return Ok(Transaction::Reward { recipient, amount });
        }
        let sender = Address::parse(&self.sender).map_err(|e| FormError::Address("sender", e))?;
        let nonce = self
            .nonce
            .map(|n| {
                n.as_u64()
                    .ok_or(WalletError::Nonce("must be a whole number"))
                    .and_then(Nonce::new)
            })
            .transpose()
            .map_err(FormError::Nonce)?;
        let signature = self.signature.ok_or(FormError::MissingSignature)?;
        let signature = Signature::parse(&signature).map_err(FormError::Signature)?;
        Ok(Transaction::Signed {
            transfer: Transfer {
                sender,
                recipient,
                amount,
                nonce,
            },
            signature,
        })
    }
}

/// A block: exactly the five fields of PROTOCOL §3, declared in sorted order
/// so that serializing it gives the canonical JSON the hash covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Block {
    /// Position in the chain, 1 for genesis.
    pub index: u64,
    /// Hash of the block before; the integer 1 in genesis.
    pub previous_hash: PreviousHash,
    /// The proof of work linking this block to the one before.
    pub proof: u64,
    /// When the block was made, seconds since the epoch.
    pub timestamp: Timestamp,
    /// Signed transfers, then exactly one reward.
    pub transactions: Vec<Transaction>,
}

impl Block {
    /// This network's first block: fixed by configuration so every node shares it.
    pub fn genesis(timestamp: f64) -> Block {
        Block {
            index: 1,
            previous_hash: PreviousHash::Genesis,
            proof: 1,
            timestamp: Timestamp::from_secs_f64(timestamp)
                .expect("the configured genesis timestamp is checked to be finite"),
            transactions: Vec::new(),
        }
    }

    /// The hash of the block: SHA-256 of CPython's `json.dumps(block, sort_keys=True)`.
    pub fn hash(&self) -> BlockHash {
        BlockHash(Sha256::digest(python_json(self)).into())
    }

    /// Reads a block from its JSON form, naming what is wrong.
    pub fn from_value(value: &Value) -> Result<Self, FormError> {
        let raw = RawBlock::deserialize(value).map_err(|e| FormError::Structure(e.to_string()))?;
        let previous_hash = match &raw.previous_hash {
            Value::Number(n) if n.as_u64() == Some(1) => PreviousHash::Genesis,
            Value::String(text) => PreviousHash::Hash(text.parse()?),
            other => {
                return Err(FormError::PreviousHash(format!(
                    "must be a hex hash (or the integer 1 in genesis), not {other}"
                )))
            }
        };
        let transactions = raw
            .transactions
            .iter()
            .enumerate()
            .map(|(at, tx)| {
                Transaction::from_value(tx).map_err(|e| FormError::Transaction(at, Box::new(e)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Block {
            index: raw.index,
            previous_hash,
            proof: raw.proof,
            timestamp: Timestamp(raw.timestamp),
            transactions,
        })
    }
}

impl<'de> Deserialize<'de> for Block {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Block::from_value(&value).map_err(serde::de::Error::custom)
    }
}

/// A block with the right field names and JSON types, not yet checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock {
    index: u64,
    previous_hash: Value,
    proof: u64,
    timestamp: Number,
    transactions: Vec<Value>,
}

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
    /// A reward with a signature or nonce.
    #[error("a reward (sender \"0\") has only sender, recipient and amount")]
    RewardFields,
}
