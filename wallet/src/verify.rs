//! The fast check of a PKCS#1 v1.5 / MD5 signature, for keys with public exponent 65537 and a modulus of 2048 to 4096 bits.
//!
//! RFC 8017 §8.2.2: a signature s is valid when s < n and s^e mod n, written
//! in the key's size in bytes, equals EMSA-PKCS1-v1_5(digest):
//! `00 01 FF…FF 00 || DigestInfo(MD5) || digest`. The `rsa` crate does the
//! same with general big integers; [`crate::montgomery`] does the one power
//! that matters here several times faster.

use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};

use crate::encoding::KEY_BITS;
use crate::montgomery::{Modulus, MAX_LIMBS};

/// The DER header of an MD5 DigestInfo, which precedes the 16 digest bytes
/// (RFC 8017 §9.2, note 1).
const MD5_DIGEST_INFO: [u8; 18] = [
    0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00,
    0x04, 0x10,
];

/// The length of an MD5 digest, in bytes.
const MD5_LEN: usize = 16;

/// A public key prepared for fast checks: its modulus in Montgomery form and
/// the part of the expected encoding that does not depend on the digest.
pub(crate) struct FastKey {
    modulus: Modulus,
    /// The key's size in bytes: the length of signatures and encodings.
    size: usize,
    /// `00 01 FF…FF 00 || DigestInfo(MD5)`, the encoding minus the digest.
    head: Vec<u8>,
}

impl FastKey {
    /// Prepares `key`, or `None` if the fast check does not cover it (another
    /// exponent, or a modulus that is even or outside 2048 to 4096 bits).
    pub(crate) fn new(key: &RsaPublicKey) -> Option<Self> {
        if *key.e() != BigUint::from(65537u32) || !KEY_BITS.contains(&key.n().bits()) {
            return None;
        }
        let modulus = Modulus::new(key.n())?;
        let size = key.size();
        // 2048-bit keys leave 221 bytes of FF padding; the standard asks for 8.
        let padding = size - 3 - MD5_DIGEST_INFO.len() - MD5_LEN;
        let mut head = Vec::with_capacity(size - MD5_LEN);
        head.extend_from_slice(&[0x00, 0x01]);
        head.resize(2 + padding, 0xff);
        head.push(0x00);
        head.extend_from_slice(&MD5_DIGEST_INFO);
        Some(FastKey {
            modulus,
            size,
            head,
        })
    }

    /// Whether `signature` (big-endian) is this key's PKCS#1 v1.5 signature
    /// of the MD5 `digest`. A signature of the wrong length, or at or above
    /// the modulus, is not.
    pub(crate) fn verify(&self, digest: &[u8], signature: &[u8]) -> bool {
        if signature.len() != self.size {
            return false;
        }
        let Some(s) = self.modulus.residue(signature) else {
            return false;
        };
        let mut encoded = [0u8; 8 * MAX_LIMBS];
        let encoded = &mut encoded[..self.size];
        self.modulus.pow_65537(&s).write_be(encoded);
        let (head, tail) = encoded.split_at(self.head.len());
        head == self.head.as_slice() && tail == digest
    }
}

#[cfg(test)]
mod tests;
