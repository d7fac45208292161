//! `Wallet`: an RSA private key with its address; generates, loads, exports and signs.

use std::fmt;

use md5::{Digest, Md5};
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use zeroize::Zeroizing;

use crate::encoding::{decode_private, encode_private};
use crate::{Address, Signature, Transfer, WalletError};

/// The size of newly generated keys, in bits.
pub const NEW_KEY_BITS: usize = 2048;

/// A key pair: the secret that spends and the address that receives.
///
/// `Debug` never shows the key; the secret text is only handed out by
/// [`Wallet::secret`], wrapped so that it is wiped from memory when dropped.
pub struct Wallet {
    key: RsaPrivateKey,
    address: Address,
}

impl Wallet {
    /// Generates a fresh 2048-bit key with public exponent 65537.
    pub fn generate() -> Self {
        let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, NEW_KEY_BITS)
            .expect("generating a 2048-bit RSA key with the OS random source cannot fail");
        Self::from_key(key)
    }

    /// Loads a wallet from its secret (base64 of the PEM private key).
    ///
    /// Surrounding whitespace, such as the newline of a file, is ignored.
    pub fn from_secret(secret: &str) -> Result<Self, WalletError> {
        Ok(Self::from_key(decode_private(secret)?))
    }

    fn from_key(key: RsaPrivateKey) -> Self {
        let address = Address::from_key(key.to_public_key());
        Wallet { key, address }
    }

    /// The address that receives coins.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The secret text, as the seed's `/secret` and `wallet.secret` give it.
    pub fn secret(&self) -> Zeroizing<String> {
        encode_private(&self.key)
    }

    /// Signs a transfer. The transfer's sender should be this wallet's address
    /// (otherwise the signature will not verify).
    pub fn sign(&self, transfer: &Transfer) -> Signature {
        self.sign_message(&transfer.message())
    }

    /// Signs raw message bytes: PKCS#1 v1.5 over their MD5 digest.
    pub fn sign_message(&self, message: &[u8]) -> Signature {
        let digest = Md5::digest(message);
        let bytes = self.key.sign(Pkcs1v15Sign::new::<Md5>(), &digest).expect(
            "PKCS#1 v1.5 signing of a 16-byte digest with a key of 2048 bits or more cannot fail",
        );
        Signature::from_bytes(&bytes)
    }
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}
