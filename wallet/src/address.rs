//! `Address`: a canonical base64 public key, the only form in which the node stores or compares addresses.

use std::fmt;
use std::sync::{Arc, OnceLock};

use md5::{Digest, Md5};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::encoding::{decode_public, encode_public};
use crate::verify::FastKey;
use crate::{Signature, WalletError};

/// A wallet address: base64 of the PEM SubjectPublicKeyInfo of an RSA key.
///
/// Only canonical addresses can be built (decoding and re-encoding gives the
/// same text), so two equal coins holders always have equal `Address`es.
/// Cloning is cheap: the text and the parsed key are shared.
#[derive(Clone)]
pub struct Address {
    text: Arc<str>,
    key: Arc<Key>,
    /// A 64-bit digest of the text, computed once: hashing an address (a
    /// map key in every balance and index lookup) then costs one word, not
    /// ~450 bytes. Maps still mix it with their own random keys; two
    /// addresses collide only if their 64-bit digests do.
    digest: u64,
}

/// The digest [`Address`] hashes by: SipHash with fixed keys, so equal texts
/// always give equal digests.
fn digest(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// The parsed key, and its form for fast checks once one is needed.
struct Key {
    rsa: RsaPublicKey,
    /// Made by the first verification, then shared by every clone: most
    /// addresses (recipients) never check a signature.
    fast: OnceLock<Option<FastKey>>,
}

impl Key {
    fn new(rsa: RsaPublicKey) -> Self {
        Key {
            rsa,
            fast: OnceLock::new(),
        }
    }

    /// The fast form, or `None` for a key that only the `rsa` crate checks.
    fn fast(&self) -> Option<&FastKey> {
        self.fast.get_or_init(|| FastKey::new(&self.rsa)).as_ref()
    }
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
            digest: digest(&canonical),
            text: canonical.into(),
            key: Arc::new(Key::new(key)),
        })
    }

    pub(crate) fn from_key(key: RsaPublicKey) -> Self {
        let text = encode_public(&key);
        Address {
            digest: digest(&text),
            text: text.into(),
            key: Arc::new(Key::new(key)),
        }
    }

    /// The address text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Checks that `signature` is this key's PKCS#1 v1.5 signature over the MD5 of `message`.
    ///
    /// A signature of the wrong length for the key is malformed; any other
    /// that is not the key's signature of this message, including one at or
    /// above the modulus, is bad.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), WalletError> {
        let bytes = self.signature_bytes(signature)?;
        let digest = Md5::digest(message);
        let valid = match self.key.fast() {
            Some(fast) => fast.verify(&digest, &bytes),
            None => self.rsa_crate_verifies(&digest, &bytes),
        };
        valid.then_some(()).ok_or(WalletError::BadSignature)
    }

    /// [`Address::verify`] done by the `rsa` crate alone, whatever the key:
    /// the reference the fast check is tested against.
    #[cfg(test)]
    pub(crate) fn verify_with_rsa_crate(
        &self,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), WalletError> {
        let bytes = self.signature_bytes(signature)?;
        let digest = Md5::digest(message);
        let valid = self.rsa_crate_verifies(&digest, &bytes);
        valid.then_some(()).ok_or(WalletError::BadSignature)
    }

    /// Whether this key uses the fast check.
    #[cfg(test)]
    pub(crate) fn has_fast_check(&self) -> bool {
        self.key.fast().is_some()
    }

    /// The signature's bytes, if their length is the key's size.
    fn signature_bytes(&self, signature: &Signature) -> Result<Vec<u8>, WalletError> {
        let bytes = signature.decode()?;
        if bytes.len() != self.key.rsa.size() {
            return Err(WalletError::MalformedSignature {
                reason: "its length does not match the sender's key size",
            });
        }
        Ok(bytes)
    }

    /// The `rsa` crate's check of a signature of the key's size.
    fn rsa_crate_verifies(&self, digest: &[u8], bytes: &[u8]) -> bool {
        // No signature of this key is at or above its modulus (one made by
        // another key may be). Refusing such values also keeps one transfer
        // from carrying two signature texts (s and s + n). The fast check
        // refuses them too.
        BigUint::from_bytes_be(bytes) < *self.key.rsa.n()
            && self
                .key
                .rsa
                .verify(Pkcs1v15Sign::new::<Md5>(), digest, bytes)
                .is_ok()
    }
}

impl PartialEq for Address {
    fn eq(&self, other: &Self) -> bool {
        // Clones share their text; different digests mean different texts.
        Arc::ptr_eq(&self.text, &other.text)
            || (self.digest == other.digest && self.text == other.text)
    }
}

impl Eq for Address {}

impl std::hash::Hash for Address {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest);
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
