//! The canonical text forms of keys: base64 (standard, padded, one line) of PEM with `\n` line ends and no trailing newline.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use zeroize::Zeroizing;

use crate::WalletError;

/// The key sizes accepted from others, in bits.
pub const KEY_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// Base64 of `bytes`, as PyCrypto's `base64.b64encode` writes it.
pub(crate) fn b64encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes strict base64: standard alphabet, padded, no whitespace.
pub(crate) fn b64decode(text: &str, what: &'static str) -> Result<Vec<u8>, WalletError> {
    STANDARD
        .decode(text)
        .map_err(|_| WalletError::NotBase64 { what })
}

/// PyCrypto's `exportKey()` writes PEM without the trailing newline the `pem` crates add.
fn strip_final_newline(mut pem: String) -> String {
    if pem.ends_with('\n') {
        pem.pop();
    }
    pem
}

fn check_size(what: &'static str, bits: usize) -> Result<(), WalletError> {
    if KEY_BITS.contains(&bits) {
        Ok(())
    } else {
        Err(WalletError::KeySize { what, bits })
    }
}

/// The address text of a public key.
pub(crate) fn encode_public(key: &RsaPublicKey) -> String {
    let pem = key
        .to_public_key_pem(LineEnding::LF)
        .expect("encoding a valid RSA public key as SubjectPublicKeyInfo cannot fail");
    b64encode(strip_final_newline(pem).as_bytes())
}

/// Reads an address: base64 of a `BEGIN PUBLIC KEY` PEM block.
pub(crate) fn decode_public(text: &str) -> Result<RsaPublicKey, WalletError> {
    const WHAT: &str = "address";
    let bytes = b64decode(text, WHAT)?;
    let pem = std::str::from_utf8(&bytes).map_err(|_| WalletError::NotPem {
        what: WHAT,
        expected: "PUBLIC KEY",
    })?;
    if !pem.starts_with("-----BEGIN PUBLIC KEY-----") {
        return Err(WalletError::NotPem {
            what: WHAT,
            expected: "PUBLIC KEY",
        });
    }
    let key = match RsaPublicKey::from_public_key_pem(pem) {
        Ok(key) => key,
        Err(e) => {
            // The `rsa` crate refuses moduli above 4096 bits as "malformed";
            // say what is really wrong when that is the reason.
            if let Some(bits) = spki_modulus_bits(pem) {
                check_size(WHAT, bits)?;
            }
            return Err(WalletError::NotRsaKey {
                what: WHAT,
                reason: e.to_string(),
            });
        }
    };
    check_size(WHAT, key.n().bits())?;
    Ok(key)
}

/// The modulus size of an RSA `PUBLIC KEY` PEM block, read without the `rsa`
/// crate's size cap; `None` if it is not such a block.
fn spki_modulus_bits(pem: &str) -> Option<usize> {
    use rsa::pkcs8::der::Decode;
    let (_, document) = rsa::pkcs8::Document::from_pem(pem).ok()?;
    let spki = rsa::pkcs8::SubjectPublicKeyInfoRef::from_der(document.as_bytes()).ok()?;
    if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
        return None;
    }
    let key = rsa::pkcs1::RsaPublicKey::from_der(spki.subject_public_key.as_bytes()?).ok()?;
    Some(BigUint::from_bytes_be(key.modulus.as_bytes()).bits())
}

/// The secret text of a private key (PKCS#1 PEM, as PyCrypto's `exportKey()`).
pub(crate) fn encode_private(key: &RsaPrivateKey) -> Zeroizing<String> {
    let pem = key
        .to_pkcs1_pem(LineEnding::LF)
        .expect("encoding a valid RSA private key as PKCS#1 cannot fail");
    let pem = pem.strip_suffix('\n').unwrap_or(&pem);
    Zeroizing::new(b64encode(pem.as_bytes()))
}

/// Reads a secret: base64 of a PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`) PEM block.
pub(crate) fn decode_private(text: &str) -> Result<RsaPrivateKey, WalletError> {
    const WHAT: &str = "secret";
    let bytes = Zeroizing::new(b64decode(text.trim(), WHAT)?);
    let not_pem = WalletError::NotPem {
        what: WHAT,
        expected: "RSA PRIVATE KEY",
    };
    let pem = std::str::from_utf8(&bytes).map_err(|_| not_pem.clone())?;
    let parsed = if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| e.to_string())
    } else if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())
    } else {
        return Err(not_pem);
    };
    let key = parsed.map_err(|reason| WalletError::NotRsaKey { what: WHAT, reason })?;
    check_size(WHAT, key.n().bits())?;
    key.validate().map_err(|e| WalletError::NotRsaKey {
        what: WHAT,
        reason: e.to_string(),
    })?;
    Ok(key)
}
