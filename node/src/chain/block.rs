//! Blocks and transactions as PROTOCOL §2–3 define them, with the checked conversion from their JSON form.

use std::fmt;
use std::str::FromStr;

use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Number, Value};
use sha2::{Digest, Sha256};

use super::canonical::write_canonical_block;
use super::form::FormError;
use super::transaction::{RawTransaction, Transaction};

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
        /// The value of each lowercase hex digit; 0xff for any other byte. A
        /// table, not branches: the digits of a hash are random, and every
        /// stored block's link is read at start-up.
        const NIBBLES: [u8; 256] = {
            let mut table = [0xff; 256];
            let mut digit = 0;
            while digit < 16 {
                table[b"0123456789abcdef"[digit] as usize] = digit as u8;
                digit += 1;
            }
            table
        };
        let digits = text.as_bytes();
        let mut bytes = [0u8; 32];
        let mut refused = digits.len() != 64;
        if !refused {
            let mut any_bad = 0u8;
            for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
                let (high, low) = (NIBBLES[pair[0] as usize], NIBBLES[pair[1] as usize]);
                any_bad |= (high | low) & 0xf0;
                *byte = high << 4 | (low & 0x0f);
            }
            refused = any_bad != 0;
        }
        if refused {
            return Err(FormError::PreviousHash(
                "must be 64 lowercase hex digits".to_owned(),
            ));
        }
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

    /// The JSON number as received (an integer or a float).
    pub fn as_number(&self) -> &Number {
        &self.0
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
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
        thread_local! {
            // One buffer per thread: a block's JSON is ~2.4 KB, hashed at start-up
            // for every stored block.
            static CANONICAL: std::cell::RefCell<Vec<u8>> =
                std::cell::RefCell::new(Vec::with_capacity(4096));
        }
        CANONICAL.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            buffer.clear();
            write_canonical_block(self, &mut buffer);
            BlockHash(Sha256::digest(&*buffer).into())
        })
    }

    /// Reads a block from its JSON form, naming what is wrong (with the
    /// position of a malformed transaction as a [`FormError::Transaction`]).
    pub fn from_value(value: &Value) -> Result<Self, FormError> {
        let raw = RawBlock::<Value>::deserialize(value)
            .map_err(|e| FormError::Structure(e.to_string()))?;
        let transactions = raw
            .transactions
            .iter()
            .enumerate()
            .map(|(at, tx)| {
                Transaction::from_value(tx).map_err(|e| FormError::Transaction(at, Box::new(e)))
            })
            .collect::<Result<_, _>>()?;
        Ok(raw.into_block(transactions))
    }
}

/// Reads a block straight from JSON text into its typed form, with no
/// intermediate `serde_json::Value`: the memory used is the block's own.
impl<'de> Deserialize<'de> for Block {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut raw = RawBlock::<RawTransaction>::deserialize(deserializer)?;
        let transactions = std::mem::take(&mut raw.transactions)
            .into_iter()
            .enumerate()
            .map(|(at, tx)| {
                tx.check()
                    .map_err(|e| FormError::Transaction(at, Box::new(e)))
            })
            .collect::<Result<_, _>>()
            .map_err(serde::de::Error::custom)?;
        Ok(raw.into_block(transactions))
    }
}

impl TryFrom<&Value> for PreviousHash {
    type Error = FormError;

    /// The integer `1` (genesis) or 64 lowercase hex digits.
    fn try_from(value: &Value) -> Result<Self, FormError> {
        match value {
            Value::Number(n) if n.as_u64() == Some(1) => Ok(PreviousHash::Genesis),
            Value::String(text) => Ok(PreviousHash::Hash(text.parse()?)),
            other => Err(FormError::PreviousHash(format!(
                "must be a hex hash (or the integer 1 in genesis), not {other}"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for PreviousHash {
    /// The forms [`PreviousHash::try_from`] takes, read without building a
    /// JSON value (every stored block's link is read at start-up).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Forms;

        impl Visitor<'_> for Forms {
            type Value = PreviousHash;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hex hash (or the integer 1 in genesis)")
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<PreviousHash, E> {
                PreviousHash::try_from(&Value::from(n)).map_err(E::custom)
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<PreviousHash, E> {
                PreviousHash::try_from(&Value::from(n)).map_err(E::custom)
            }

            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<PreviousHash, E> {
                PreviousHash::try_from(&Value::from(n)).map_err(E::custom)
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<PreviousHash, E> {
                text.parse().map(PreviousHash::Hash).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(Forms)
    }
}

impl From<Number> for Timestamp {
    /// Any JSON number: the hash covers it exactly as written.
    fn from(number: Number) -> Self {
        Timestamp(number)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Number::deserialize(deserializer).map(Timestamp)
    }
}

/// A block with the right field names and JSON types; its transactions are
/// `T`, not yet checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock<T> {
    index: u64,
    previous_hash: PreviousHash,
    proof: u64,
    timestamp: Timestamp,
    transactions: Vec<T>,
}

impl<T> RawBlock<T> {
    fn into_block(self, transactions: Vec<Transaction>) -> Block {
        Block {
            index: self.index,
            previous_hash: self.previous_hash,
            proof: self.proof,
            timestamp: self.timestamp,
            transactions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_hash_reads_back_from_its_hex(bytes in any::<[u8; 32]>()) {
            let hash = BlockHash(bytes);
            prop_assert_eq!(hash.to_hex().parse::<BlockHash>().unwrap(), hash);
        }

        #[test]
        fn any_text_but_64_lowercase_hex_digits_is_refused(text in "[0-9a-fA-Fg/:` ]{0,66}") {
            let lowercase_hex = text.len() == 64
                && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            prop_assert_eq!(text.parse::<BlockHash>().is_ok(), lowercase_hex);
        }
    }

    #[test]
    fn one_wrong_digit_anywhere_is_refused() {
        let good = BlockHash([0xab; 32]).to_hex();
        for at in 0..64 {
            for wrong in [b'A', b'F', b'g', b'/', b':', b'`', b'G', 0xff] {
                let mut text = good.clone().into_bytes();
                text[at] = wrong;
                let text = String::from_utf8_lossy(&text).into_owned();
                assert!(text.parse::<BlockHash>().is_err(), "{text}");
            }
        }
    }
}
