//! Property tests: signing round trips for any amount and nonce, address text round trips, and no flipped bit ever verifies.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use proptest::prelude::*;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{BigUint, RsaPublicKey};
use wallet::{Address, Amount, Nonce, Signature, Transfer, Wallet, WalletError, MAX_SAFE_INTEGER};

/// Key generation takes a noticeable fraction of a second, so the properties
/// share three keys made once.
fn wallets() -> &'static [Wallet; 3] {
    static WALLETS: OnceLock<[Wallet; 3]> = OnceLock::new();
    WALLETS.get_or_init(|| [Wallet::generate(), Wallet::generate(), Wallet::generate()])
}

/// A transfer between two of the shared wallets (possibly the same one).
fn transfer() -> impl Strategy<Value = (usize, Transfer)> {
    (
        0..3usize,
        0..3usize,
        1..=MAX_SAFE_INTEGER,
        proptest::option::of(0..=MAX_SAFE_INTEGER),
    )
        .prop_map(|(from, to, amount, nonce)| {
            let wallets = wallets();
            let transfer = Transfer {
                sender: wallets[from].address().clone(),
                recipient: wallets[to].address().clone(),
                amount: Amount::new(amount).expect("the strategy stays within 1..=2^53-1"),
                nonce: nonce.map(|n| Nonce::new(n).expect("the strategy stays within 0..=2^53-1")),
            };
            (from, transfer)
        })
}

/// The address text of any public key, as PROTOCOL §1 spells it.
fn address_text(key: &RsaPublicKey) -> String {
    let pem = key.to_public_key_pem(LineEnding::LF).unwrap();
    STANDARD.encode(pem.trim_end_matches('\n'))
}

/// An RSA public key with a random odd modulus of exactly `bits` bits. It need
/// not be a product of two primes: an address only carries the public half.
fn public_key(bits: usize, seed: &[u8]) -> RsaPublicKey {
    let len = bits.div_ceil(8);
    let mut bytes: Vec<u8> = seed.iter().copied().cycle().take(len).collect();
    let spare = len * 8 - bits;
    bytes[0] &= 0xff >> spare;
    bytes[0] |= 0x80 >> spare;
    bytes[len - 1] |= 1;
    RsaPublicKey::new_unchecked(BigUint::from_bytes_be(&bytes), BigUint::from(65537u32))
}

fn flip_bit(bytes: &mut [u8], bit: usize) {
    let bit = bit % (bytes.len() * 8);
    bytes[bit / 8] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn signed_transfers_verify((from, transfer) in transfer()) {
        let signature = wallets()[from].sign(&transfer);
        prop_assert_eq!(transfer.verify(&signature), Ok(()));
        // The signature text survives a trip through its parser unchanged.
        prop_assert_eq!(Signature::parse(signature.as_str()), Ok(signature.clone()));
        // And it is the sender's alone: under any other key it is rejected.
        let other = &wallets()[(from + 1) % 3];
        let forged = Transfer { sender: other.address().clone(), ..transfer };
        let result = forged.verify(&signature);
        prop_assert!(
            matches!(result, Err(WalletError::BadSignature)),
            "another key's check gave {:?}",
            result
        );
    }

    #[test]
    fn a_flipped_message_bit_never_verifies((from, transfer) in transfer(), bit in any::<usize>()) {
        let signature = wallets()[from].sign(&transfer);
        let mut message = transfer.message();
        flip_bit(&mut message, bit);
        prop_assert_eq!(
            transfer.sender.verify(&message, &signature),
            Err(WalletError::BadSignature)
        );
    }

    #[test]
    fn a_flipped_signature_bit_never_verifies((from, transfer) in transfer(), bit in any::<usize>()) {
        let signature = wallets()[from].sign(&transfer);
        let mut bytes = STANDARD.decode(signature.as_str()).unwrap();
        flip_bit(&mut bytes, bit);
        let flipped = STANDARD.encode(&bytes);
        // Whether or not the flip pushes the value past the modulus, it is
        // not the sender's signature.
        if let Ok(flipped) = Signature::parse(&flipped) {
            let result = transfer.verify(&flipped);
            prop_assert!(
                matches!(
                    result,
                    Err(WalletError::BadSignature)
                ),
                "flipped signature gave {:?}",
                result
            );
        }
    }

    #[test]
    fn nonce_and_seed_forms_never_share_a_signature((from, transfer) in transfer(), nonce in 0..=MAX_SAFE_INTEGER) {
        let seed_form = Transfer { nonce: None, ..transfer.clone() };
        let nonce_form = Transfer { nonce: Some(Nonce::new(nonce).unwrap()), ..transfer };
        let signature = wallets()[from].sign(&seed_form);
        prop_assert_eq!(nonce_form.verify(&signature), Err(WalletError::BadSignature));
    }

    #[test]
    fn addresses_round_trip(bits in 2048usize..=4096, seed in proptest::collection::vec(any::<u8>(), 1..64)) {
        let text = address_text(&public_key(bits, &seed));
        let address = Address::parse(&text).unwrap();
        prop_assert_eq!(address.as_str(), text.as_str());
        prop_assert_eq!(Address::parse(address.as_str()).unwrap(), address.clone());
        // The serde form is the same text.
        let json = serde_json::to_string(&address).unwrap();
        prop_assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), address);
    }

    #[test]
    fn key_sizes_outside_2048_to_4096_are_rejected(
        bits in prop_oneof![512usize..2048, 4097usize..=8192],
        seed in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let text = address_text(&public_key(bits, &seed));
        prop_assert_eq!(
            Address::parse(&text),
            Err(WalletError::KeySize { what: "address", bits })
        );
    }

    /// `Signature::parse` relies on the decoder refusing every non-canonical
    /// text (padding, trailing bits): whatever it accepts re-encodes to itself,
    /// and the canonical text of any bytes is accepted.
    #[test]
    fn a_signature_text_is_accepted_only_if_canonical(
        bytes in proptest::collection::vec(any::<u8>(), 1..300),
        at in any::<usize>(),
        with in prop_oneof![Just('='), Just('A'), Just('B'), Just('/'), Just('+'), Just('z')],
        cut in 0usize..3,
    ) {
        let text = STANDARD.encode(&bytes);
        prop_assert_eq!(Signature::parse(&text).map(|s| s.as_str().to_owned()), Ok(text.clone()));
        let mut changed: Vec<char> = text.chars().collect();
        let at = at % changed.len();
        changed[at] = with;
        changed.truncate(changed.len() - cut.min(changed.len() - 1));
        let changed: String = changed.into_iter().collect();
        if let Ok(signature) = Signature::parse(&changed) {
            let decoded = STANDARD.decode(&changed).expect("accepted text decodes");
            prop_assert_eq!(STANDARD.encode(decoded), changed.clone());
            prop_assert_eq!(signature.as_str(), changed.as_str());
        }
    }

    #[test]
    fn arbitrary_text_is_an_address_only_if_canonical(text in "[A-Za-z0-9+/=]{0,80}|LS0t[A-Za-z0-9+/=]{0,700}") {
        if let Ok(address) = Address::parse(&text) {
            prop_assert_eq!(address.as_str(), text.as_str());
        }
    }

}

#[test]
fn generated_wallets_round_trip_through_their_texts() {
    for wallet in wallets() {
        let address = Address::parse(wallet.address().as_str()).unwrap();
        assert_eq!(&address, wallet.address());
        assert_eq!(address.as_str().len(), 600);
        let reloaded = Wallet::from_secret(&wallet.secret()).unwrap();
        assert_eq!(reloaded.address(), wallet.address());
        assert_eq!(reloaded.secret(), wallet.secret());
    }
}
