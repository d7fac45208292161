//! The wallet against `../shared/vectors/wallet.json`, made by pycryptodome: same secret, same address; same message, same signature.

mod support;

use support::{text, vectors};

use serde_json::Value;
use wallet::{Address, Amount, Nonce, Signature, Transfer, Wallet, WalletError};

#[test]
fn same_secret_gives_same_address_and_secret() {
    let vectors = vectors();
    let wallets = vectors["wallets"].as_array().unwrap();
    assert!(!wallets.is_empty());
    for case in wallets {
        let wallet = Wallet::from_secret(text(case, "secret")).unwrap();
        assert_eq!(wallet.address().as_str(), text(case, "address"));
        assert_eq!(wallet.secret().as_str(), text(case, "secret"));
        let address = Address::parse(text(case, "address")).unwrap();
        assert_eq!(&address, wallet.address());
        assert_eq!(address.as_str().len(), 600);
    }
}

/// The wallet (from the vector's list) whose address is `address`.
fn signer(vectors: &Value, address: &str) -> Option<Wallet> {
    vectors["wallets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| text(w, "address") == address)
        .map(|w| Wallet::from_secret(text(w, "secret")).unwrap())
}

#[test]
fn signatures_match_pycryptodome_byte_for_byte() {
    let vectors = vectors();
    let mut valid_cases = 0;
    for case in vectors["signatures"].as_array().unwrap() {
        if case["valid"] != Value::Bool(true) {
            continue;
        }
        valid_cases += 1;
        let message = text(case, "message").as_bytes();
        let expected = Signature::parse(text(case, "signature")).unwrap();
        let sender = Address::parse(text(case, "sender")).unwrap();
        let wallet =
            signer(&vectors, sender.as_str()).expect("the sender's secret is in the vectors");

        // Raw message level: every valid case, including an amount beyond our range.
        assert_eq!(wallet.sign_message(message), expected);
        sender.verify(message, &expected).unwrap();

        // Transfer level: our one message builder gives the vector's message.
        match text(case, "amount").parse::<Amount>() {
            Ok(amount) => {
                let transfer = Transfer {
                    sender: sender.clone(),
                    recipient: Address::parse(text(case, "recipient")).unwrap(),
                    amount,
                    nonce: case
                        .get("nonce")
                        .map(|n| n.as_str().unwrap().parse::<Nonce>().unwrap()),
                };
                assert_eq!(transfer.message(), message);
                assert_eq!(wallet.sign(&transfer), expected);
                transfer.verify(&expected).unwrap();
            }
            Err(err) => {
                // 18446744073709551615 signs fine in Python but exceeds 2^53-1.
                assert_eq!(err, WalletError::Amount("must be at most 9007199254740991"));
            }
        }
    }
    assert!(valid_cases >= 5);
}

#[test]
fn invalid_signatures_are_rejected() {
    let vectors = vectors();
    let mut invalid_cases = 0;
    for case in vectors["signatures"].as_array().unwrap() {
        if case["valid"] != Value::Bool(false) {
            continue;
        }
        invalid_cases += 1;
        let why = text(case, "why");
        let sender = Address::parse(text(case, "sender")).unwrap();
        let signature = Signature::parse(text(case, "signature")).unwrap();
        let message = text(case, "message").as_bytes();
        assert_eq!(
            sender.verify(message, &signature),
            Err(WalletError::BadSignature),
            "case: {why}"
        );
    }
    assert_eq!(invalid_cases, 3);
}
