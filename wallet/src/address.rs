//! `Address`: a canonical base64 public key, the only form in which the node stores or compares addresses.

use std::fmt;
use std::sync::Arc;

use md5::{Digest, Md5};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::encoding::{decode_public, encode_public};
use crate::{Signature, WalletError};

/// A wallet address: base64 of the PEM SubjectPublicKeyInfo of an RSA key.
///
/// Only canonical addresses can be built (decoding and re-encoding gives the
/// same text), so two equal coins holders always have equal `Address`es.
/// Cloning is cheap: the text and the parsed key are shared.
#[derive(Clone)]
pub struct Address {
    text: Arc<str>,
    key: Arc<RsaPublicKey>,
}

impl Address {
    /// Parses and checks an address.
    pub fn parse(text: &str) -> Result<Self, WalletError> {
        let key = decode_public(text)?;
        let canonical = encode_public(&key);
        if canonical != text {
            return Err(WalletError::NonCanonicalAddress);
        }
        Ok(Address {
            text: canonical.into(),
            key: Arc::new(key),
        })
    }

    pub(crate) fn from_key(key: RsaPublicKey) -> Self {
        Address {
            text: encode_public(&key).into(),
            key: Arc::new(key),
        }
    }

    /// The address text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Checks that `signature` is this key's PKCS#1 v1.5 signature over the MD5 of `message`.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), WalletError> {
        let bytes = signature.decode()?;
        if bytes.len() != self.key.size() {
            return Err(WalletError::MalformedSignature {
                reason: "its length does not match the sender's key size",
            });
        }
        // No signature of this key is at or above its modulus (one made by
        // another key may be). Refusing such values also keeps one transfer
        // from carrying two signature texts (s and s + n).
        if BigUint::from_bytes_be(&bytes) >= *self.key.n() {
            return Err(WalletError::BadSignature);
        }
        let digest = Md5::digest(message);
        self.key
            .verify(Pkcs1v15Sign::new::<Md5>(), &digest, &bytes)
            .map_err(|_| WalletError::BadSignature)
    }
}

impl PartialEq for Address {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Address {}

impl std::hash::Hash for Address {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for Address {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Address {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 600 characters of base64 drown a log line; the tail tells keys apart.
        let tail = &self.text[self.text.len().saturating_sub(12)..];
        write!(f, "Address(…{tail})")
    }
}

impl std::str::FromStr for Address {
    type Err = WalletError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Address::parse(text)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Address::parse(&text).map_err(serde::de::Error::custom)
    }
}
