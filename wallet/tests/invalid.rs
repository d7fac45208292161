//! Invalid secrets, addresses and signatures are rejected, each with the error variant that names its problem.

mod support;

use support::vector_wallet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use wallet::{Address, Amount, Signature, Transfer, Wallet, WalletError};

fn b64(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// PEM as PROTOCOL §1 lays it out: 64-character lines, `\n`, no final newline.
fn pem(label: &str, der: &[u8]) -> String {
    let body = b64(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----",
        lines.join("\n")
    )
}

fn vector_key() -> RsaPrivateKey {
    let (secret, _) = vector_wallet();
    let pem = String::from_utf8(STANDARD.decode(secret).unwrap()).unwrap();
    RsaPrivateKey::from_pkcs1_pem(&pem).unwrap()
}

#[test]
fn text_that_is_not_base64_is_rejected() {
    let (secret, address) = vector_wallet();
    for bad in ["not base64!", "LS0t LS0t", "LS0tLS1", "LS0t\nLS0t"] {
        assert_eq!(
            Wallet::from_secret(bad).unwrap_err(),
            WalletError::NotBase64 { what: "secret" },
            "{bad:?}"
        );
        assert_eq!(
            Address::parse(bad).unwrap_err(),
            WalletError::NotBase64 { what: "address" },
            "{bad:?}"
        );
    }
    // A line break inside the secret is not base64 either (only the
    // surrounding whitespace of a file is forgiven).
    let (head, tail) = secret.split_at(100);
    assert_eq!(
        Wallet::from_secret(&format!("{head}\n{tail}")).unwrap_err(),
        WalletError::NotBase64 { what: "secret" }
    );
    // An address is compared as text, so not even a final newline is allowed.
    assert_eq!(
        Address::parse(&format!("{address}\n")).unwrap_err(),
        WalletError::NotBase64 { what: "address" }
    );
}

#[test]
fn base64_of_something_other_than_pem_is_rejected() {
    let not_pem_secret = WalletError::NotPem {
        what: "secret",
        expected: "RSA PRIVATE KEY",
    };
    let not_pem_address = WalletError::NotPem {
        what: "address",
        expected: "PUBLIC KEY",
    };
    for bytes in [
        &b"hello world"[..],
        &[0xff, 0xfe, 0x00],
        b"",
        b" -----BEGIN PUBLIC KEY-----",
    ] {
        let text = b64(bytes);
        assert_eq!(Wallet::from_secret(&text).unwrap_err(), not_pem_secret);
        assert_eq!(Address::parse(&text).unwrap_err(), not_pem_address);
    }
    // Swapping secret and address is an easy mistake; each is refused as the other.
    let (secret, address) = vector_wallet();
    assert_eq!(Address::parse(&secret).unwrap_err(), not_pem_address);
    assert_eq!(Wallet::from_secret(&address).unwrap_err(), not_pem_secret);
    // The PKCS#1 public key form is not the SubjectPublicKeyInfo an address holds.
    let pkcs1 = vector_key()
        .to_public_key()
        .to_pkcs1_pem(LineEnding::LF)
        .unwrap();
    assert_eq!(
        Address::parse(&b64(pkcs1.trim_end())).unwrap_err(),
        not_pem_address
    );
}

#[test]
fn pem_blocks_without_an_rsa_key_are_rejected() {
    // Ed25519 SubjectPublicKeyInfo and PKCS#8 (RFC 8410), with a made-up key.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend([7u8; 32]);
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend([7u8; 32]);

    let address = b64(pem("PUBLIC KEY", &spki));
    assert!(matches!(
        Address::parse(&address),
        Err(WalletError::NotRsaKey {
            what: "address",
            ..
        })
    ));
    let secret = b64(pem("PRIVATE KEY", &pkcs8));
    assert!(matches!(
        Wallet::from_secret(&secret),
        Err(WalletError::NotRsaKey { what: "secret", .. })
    ));
    // The right label around DER that is not a key at all.
    let garbage = b64(pem("RSA PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]));
    assert!(matches!(
        Wallet::from_secret(&garbage),
        Err(WalletError::NotRsaKey { what: "secret", .. })
    ));
}

#[test]
fn a_1024_bit_key_is_rejected_for_its_size() {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    let secret = b64(key.to_pkcs1_pem(LineEnding::LF).unwrap().trim_end());
    assert_eq!(
        Wallet::from_secret(&secret).unwrap_err(),
        WalletError::KeySize {
            what: "secret",
            bits: 1024
        }
    );
    let address = b64(key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
        .trim_end());
    assert_eq!(
        Address::parse(&address).unwrap_err(),
        WalletError::KeySize {
            what: "address",
            bits: 1024
        }
    );
}

#[test]
fn addresses_in_another_layout_are_not_canonical() {
    let (_, address) = vector_wallet();
    let pem = String::from_utf8(STANDARD.decode(&address).unwrap()).unwrap();
    let variants = [
        format!("{pem}\n"),
        pem.replace('\n', "\r\n"),
        format!("{pem}\r\n"),
    ];
    for variant in variants {
        assert_eq!(
            Address::parse(&b64(&variant)).unwrap_err(),
            WalletError::NonCanonicalAddress,
            "{variant:?}"
        );
    }
    // The canonical text itself is fine.
    assert_eq!(Address::parse(&address).unwrap().as_str(), address);
}

#[test]
fn pkcs8_and_file_style_secrets_are_accepted_and_exported_canonically() {
    let (secret, address) = vector_wallet();
    let pkcs8 = vector_key().to_pkcs8_pem(LineEnding::LF).unwrap();
    let from_pkcs8 = Wallet::from_secret(&b64(pkcs8.trim_end())).unwrap();
    assert_eq!(from_pkcs8.address().as_str(), address);
    // Exported as the seed does: PKCS#1, whatever form it was read in.
    assert_eq!(from_pkcs8.secret().as_str(), secret);

    // The newline a file ends with is forgiven.
    let from_file = Wallet::from_secret(&format!("{secret}\n")).unwrap();
    assert_eq!(from_file.address().as_str(), address);
}

#[test]
fn wallet_debug_never_shows_the_secret() {
    let (secret, _) = vector_wallet();
    let wallet = Wallet::from_secret(&secret).unwrap();
    let debug = format!("{wallet:?}");
    // Every 16-character piece past the shared PEM header.
    for start in (44..secret.len() - 16).step_by(16) {
        assert!(!debug.contains(&secret[start..start + 16]), "{debug}");
    }
}

#[test]
fn malformed_signatures_are_rejected() {
    assert!(matches!(
        Signature::parse(""),
        Err(WalletError::MalformedSignature { .. })
    ));
    assert_eq!(
        Signature::parse("abc").unwrap_err(),
        WalletError::NotBase64 { what: "signature" }
    );
    assert!(matches!(
        Signature::parse(&"A".repeat(688)),
        Err(WalletError::MalformedSignature { .. })
    ));

    let (_, address) = vector_wallet();
    let sender = Address::parse(&address).unwrap();
    let transfer = Transfer {
        sender: sender.clone(),
        recipient: sender,
        amount: Amount::ONE,
        nonce: None,
    };
    // Right base64, wrong length for a 2048-bit key.
    let short = Signature::parse(&b64([1u8; 128])).unwrap();
    assert_eq!(
        transfer.verify(&short).unwrap_err(),
        WalletError::MalformedSignature {
            reason: "its length does not match the sender's key size"
        }
    );
    // Right length, but not below the modulus: no signature of this key, as
    // one made with another key may be.
    let too_big = Signature::parse(&b64([0xffu8; 256])).unwrap();
    assert_eq!(
        transfer.verify(&too_big).unwrap_err(),
        WalletError::BadSignature
    );
    // Right length and range, wrong value.
    let wrong = Signature::parse(&b64([1u8; 256])).unwrap();
    assert_eq!(
        transfer.verify(&wrong).unwrap_err(),
        WalletError::BadSignature
    );
}
