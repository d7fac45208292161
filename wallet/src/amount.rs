//! `Amount` and `Nonce`: whole numbers that travel as JSON integers or digit strings.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::WalletError;

/// The largest integer a JSON number carries exactly in every implementation (2^53 - 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A number of coins moved by one transaction: `1..=2^53-1`.
///
/// It can only be built through checked constructors, so an `Amount` in hand is
/// always in range. Its decimal text (no sign, no leading zeros) is what a
/// signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

/// The optional number that makes two otherwise equal transfers different: `0..=2^53-1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nonce(u64);

impl Amount {
    /// The smallest amount.
    pub const ONE: Amount = Amount(1);
    /// The largest amount.
    pub const MAX: Amount = Amount(MAX_SAFE_INTEGER);

    /// An amount from a number, if it is in range.
    pub fn new(value: u64) -> Result<Self, WalletError> {
        if value == 0 {
            Err(WalletError::Amount("must be at least 1"))
        } else if value > MAX_SAFE_INTEGER {
            Err(WalletError::Amount("must be at most 9007199254740991"))
        } else {
            Ok(Amount(value))
        }
    }

    /// The number of coins.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl Nonce {
    /// A nonce from a number, if it is in range.
    pub fn new(value: u64) -> Result<Self, WalletError> {
        if value > MAX_SAFE_INTEGER {
            Err(WalletError::Nonce("must be at most 9007199254740991"))
        } else {
            Ok(Nonce(value))
        }
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Parses canonical decimal text: digits only, no sign, no leading zeros.
fn parse_decimal(text: &str) -> Result<u64, &'static str> {
    if text.is_empty() {
        return Err("must not be empty");
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be a whole number written with digits only");
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err("must not have leading zeros");
    }
    text.parse::<u64>()
        .map_err(|_| "must be at most 9007199254740991")
}

impl std::str::FromStr for Amount {
    type Err = WalletError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Amount::new(parse_decimal(text).map_err(WalletError::Amount)?)
    }
}

impl std::str::FromStr for Nonce {
    type Err = WalletError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Nonce::new(parse_decimal(text).map_err(WalletError::Nonce)?)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl Serialize for Nonce {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

/// Accepts a JSON integer or a string of digits and hands the number to `build`.
struct WholeNumber<T> {
    build: fn(u64) -> Result<T, WalletError>,
    parse: fn(&str) -> Result<T, WalletError>,
    expecting: &'static str,
}

impl<T> Visitor<'_> for WholeNumber<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.build)(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!(
                "{} must not be negative",
                self.expecting
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Err(E::custom(format!(
            "{} must be a whole number",
            self.expecting
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WholeNumber {
            build: Amount::new,
            parse: str::parse,
            expecting: "amount",
        })
    }
}

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WholeNumber {
            build: Nonce::new,
            parse: str::parse,
            expecting: "nonce",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_accepts_integers_and_digit_strings() {
        let from_int: Amount = serde_json::from_str("5").unwrap();
        let from_text: Amount = serde_json::from_str("\"5\"").unwrap();
        assert_eq!(from_int, from_text);
        assert_eq!(serde_json::to_string(&from_text).unwrap(), "5");
        let max: Amount = serde_json::from_str("9007199254740991").unwrap();
        assert_eq!(max, Amount::MAX);
    }

    #[test]
    fn amount_rejects_everything_else() {
        for bad in [
            "0",
            "-1",
            "1.5",
            "5.0",
            "9007199254740992",
            "18446744073709551616",
            "\"\"",
            "\"05\"",
            "\"+5\"",
            "\" 5\"",
            "\"5e3\"",
            "\"-5\"",
            "null",
            "true",
            "[5]",
        ] {
            assert!(
                serde_json::from_str::<Amount>(bad).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn nonce_allows_zero() {
        let nonce: Nonce = serde_json::from_str("\"0\"").unwrap();
        assert_eq!(nonce.get(), 0);
        assert!(serde_json::from_str::<Nonce>("9007199254740992").is_err());
    }
}
