//! `Signature`: canonical base64 of a PKCS#1 v1.5 signature.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::encoding::{b64decode, b64encode};
use crate::WalletError;

/// The longest signature text accepted: base64 of a 4096-bit signature.
const MAX_SIGNATURE_CHARS: usize = 684;

/// A transfer's signature, as base64 text.
///
/// Only canonical base64 is accepted (re-encoding the bytes gives the same
/// text), so one signature has exactly one text, which makes replay checks by
/// text sound.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Signature {
    text: String,
    /// SHA-256 of `text`, computed once: a function of the text, so the
    /// derived comparisons agree with comparing texts.
    digest: [u8; 32],
}

impl Signature {
    /// Parses and checks the text form.
    pub fn parse(text: &str) -> Result<Self, WalletError> {
        if text.is_empty() {
            return Err(WalletError::MalformedSignature {
                reason: "it is empty",
            });
        }
        if text.len() > MAX_SIGNATURE_CHARS {
            return Err(WalletError::MalformedSignature {
                reason: "it is longer than a 4096-bit signature",
            });
        }
        // On the stack: every stored block's signatures are parsed at start-up.
        // The STANDARD engine refuses non-canonical padding and trailing
        // bits, so a text that decodes is the only text of its bytes
        // (property-tested in tests/prop.rs).
        let mut bytes = [0u8; MAX_SIGNATURE_CHARS / 4 * 3];
        STANDARD
            .decode_slice(text, &mut bytes)
            .map_err(|_| WalletError::NotBase64 { what: "signature" })?;
        Ok(Signature::from_text(text.to_owned()))
    }

    fn from_text(text: String) -> Self {
        let digest = Sha256::digest(text.as_bytes()).into();
        Signature { text, digest }
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        Signature::from_text(b64encode(bytes))
    }

    pub(crate) fn decode(&self) -> Result<Vec<u8>, WalletError> {
        b64decode(&self.text, "signature")
    }

    /// The base64 text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The SHA-256 of the text: a fixed-size identity of the signature (one
    /// signature has one text), for replay sets and transfer ids. Computed
    /// once, when the signature is parsed.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

impl std::hash::Hash for Signature {
    /// Hashes the digest only: equal signatures have equal digests, and 32
    /// bytes hash faster than the 344-character text.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&self.digest);
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = &self.text[..self.text.len().min(12)];
        write!(f, "Signature({head}…)")
    }
}

impl std::str::FromStr for Signature {
    type Err = WalletError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Signature::parse(text)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Signature::parse(&text).map_err(serde::de::Error::custom)
    }
}
