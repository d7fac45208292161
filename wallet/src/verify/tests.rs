//! The fast check against the `rsa` crate's: the shared vectors, and random keys, messages and damaged signatures, with the same verdict every time.

use std::sync::OnceLock;

use md5::{Digest, Md5};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::Value;

use super::{FastKey, MD5_DIGEST_INFO};
use crate::{Address, Signature, WalletError};

#[test]
fn the_digest_info_is_the_rsa_crates() {
    assert_eq!(*Pkcs1v15Sign::new::<Md5>().prefix, MD5_DIGEST_INFO);
}

/// `../shared/vectors/wallet.json`.
fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/wallet.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).expect("wallet.json is JSON")
}

fn field<'a>(case: &'a Value, name: &str) -> &'a str {
    case[name].as_str().expect("vector fields are strings")
}

#[test]
fn the_vectors_take_the_fast_path_and_get_their_verdicts() {
    let vectors = vectors();
    for wallet in vectors["wallets"].as_array().unwrap() {
        let address = Address::parse(field(wallet, "address")).unwrap();
        assert!(address.has_fast_check(), "{address:?} has a 65537 key");
    }
    let cases = vectors["signatures"].as_array().unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for case in cases {
        let sender = Address::parse(field(case, "sender")).unwrap();
        let signature = Signature::parse(field(case, "signature")).unwrap();
        let message = field(case, "message").as_bytes();
        let fast = sender.verify(message, &signature);
        assert_eq!(fast, sender.verify_with_rsa_crate(message, &signature));
        if case["valid"] == Value::Bool(true) {
            assert_eq!(fast, Ok(()));
            valid += 1;
        } else {
            assert_eq!(fast, Err(WalletError::BadSignature));
            invalid += 1;
        }
    }
    assert!(
        valid >= 5 && invalid >= 3,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn only_exponent_65537_and_odd_moduli_of_2048_to_4096_bits_are_fast() {
    let one = BigUint::from(1u8);
    let key = |n: BigUint, e: u32| RsaPublicKey::new_unchecked(n, BigUint::from(e));
    let odd = |bits: usize| (&one << (bits - 1)) + &one;
    assert!(FastKey::new(&key(odd(2048), 65537)).is_some());
    assert!(FastKey::new(&key(odd(4096), 65537)).is_some());
    assert!(FastKey::new(&key(odd(2048), 3)).is_none());
    assert!(FastKey::new(&key(odd(2048), 65539)).is_none());
    assert!(FastKey::new(&key(odd(2047), 65537)).is_none());
    assert!(FastKey::new(&key(odd(4097), 65537)).is_none());
    assert!(FastKey::new(&key(&one << 2047, 65537)).is_none());
}

/// A key pair for the properties, and its address.
struct TestKey {
    private: RsaPrivateKey,
    address: Address,
}

/// The properties' keys, as (bits, public exponent): three 2048-bit keys,
/// sizes that fill neither whole limbs (2052, 3000) nor whole bytes (2052),
/// 4096 bits, and an exponent-3 key that only the `rsa` crate checks.
const KEY_SIZES: [(usize, u32); 7] = [
    (2048, 65537),
    (2048, 65537),
    (2048, 65537),
    (2052, 65537),
    (3000, 65537),
    (4096, 65537),
    (2048, 3),
];

/// Key generation is slow (a 4096-bit key takes seconds), so the properties
/// share these keys, made once from a fixed seed so that a failure reproduces.
fn keys() -> &'static [TestKey] {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(65537);
        KEY_SIZES
            .into_iter()
            .map(|(bits, exp)| {
                let exp = BigUint::from(exp);
                let private = RsaPrivateKey::new_with_exp(&mut rng, bits, &exp)
                    .expect("keys of these sizes and exponents can always be generated");
                let address = Address::from_key(private.to_public_key());
                TestKey { private, address }
            })
            .collect()
    })
}

fn sign(key: &RsaPrivateKey, message: &[u8]) -> Vec<u8> {
    key.sign(Pkcs1v15Sign::new::<Md5>(), &Md5::digest(message))
        .expect("signing an MD5 digest with a key of 2048 bits or more cannot fail")
}

/// What is done to the signature before it is checked.
#[derive(Debug, Clone)]
enum Damage {
    None,
    FlipBit(usize),
    /// s + n: the same value modulo n, but not below it.
    AddModulus,
    /// n + r for some r: at or above the modulus, still of the key's size if it fits.
    AtOrAboveModulus(Vec<u8>),
    /// n - 1, the largest value below the modulus.
    ModulusMinusOne,
    AllZero,
    AllFf,
    /// Random bytes of the key's size.
    Random(Vec<u8>),
    /// Drops the first byte.
    Shorter,
    /// A zero byte in front: the same number, one byte too long.
    LeadingZero,
    /// A byte appended.
    Longer(u8),
    Empty,
    /// The signature of another message by the same key.
    OtherMessage(Vec<u8>),
    /// The signature of the same message by another key.
    OtherKey(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..520);
    prop_oneof![
        4 => Just(Damage::None),
        4 => any::<usize>().prop_map(Damage::FlipBit),
        1 => Just(Damage::AddModulus),
        1 => bytes().prop_map(Damage::AtOrAboveModulus),
        1 => Just(Damage::ModulusMinusOne),
        1 => Just(Damage::AllZero),
        1 => Just(Damage::AllFf),
        1 => bytes().prop_map(Damage::Random),
        1 => Just(Damage::Shorter),
        1 => Just(Damage::LeadingZero),
        1 => any::<u8>().prop_map(Damage::Longer),
        1 => Just(Damage::Empty),
        2 => bytes().prop_map(Damage::OtherMessage),
        2 => any::<usize>().prop_map(Damage::OtherKey),
    ]
}

/// The big-endian bytes of `x`, zero-padded in front to `size`.
fn padded(x: &BigUint, size: usize) -> Vec<u8> {
    let bytes = x.to_bytes_be();
    let mut out = vec![0; size.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    out
}

/// The signature bytes that `damage` makes of key `index`'s signature of `message`.
fn damaged(index: usize, message: &[u8], damage: &Damage) -> Vec<u8> {
    let key = &keys()[index];
    let n = key.private.n();
    let size = key.private.size();
    let mut signature = sign(&key.private, message);
    match damage {
        Damage::None => {}
        Damage::FlipBit(bit) => {
            let bit = bit % (8 * size);
            signature[bit / 8] ^= 1 << (bit % 8);
        }
        Damage::AddModulus => signature = (BigUint::from_bytes_be(&signature) + n).to_bytes_be(),
        Damage::AtOrAboveModulus(bytes) => {
            // r below 2^(8·size) - n keeps n + r within the key's size.
            let room = (BigUint::from(1u8) << (8 * size)) - n;
            let r = BigUint::from_bytes_be(bytes) % room;
            signature = padded(&(n + r), size);
        }
        Damage::ModulusMinusOne => signature = padded(&(n - BigUint::from(1u8)), size),
        Damage::AllZero => signature = vec![0; size],
        Damage::AllFf => signature = vec![0xff; size],
        Damage::Random(bytes) => {
            signature = bytes.iter().copied().cycle().take(size).collect();
            signature.resize(size, 0);
        }
        Damage::Shorter => signature = signature[1..].to_vec(),
        Damage::LeadingZero => signature.insert(0, 0),
        Damage::Longer(byte) => signature.push(*byte),
        Damage::Empty => signature.clear(),
        Damage::OtherMessage(other) => signature = sign(&key.private, other),
        Damage::OtherKey(other) => {
            let others = keys().len() - 1;
            let other = (index + 1 + other % others) % keys().len();
            signature = sign(&keys()[other].private, message);
        }
    }
    signature
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_fast_check_agrees_with_the_rsa_crate(
        index in 0..KEY_SIZES.len(),
        message in proptest::collection::vec(any::<u8>(), 0..200),
        damage in damage(),
    ) {
        let key = &keys()[index];
        let signature = Signature::from_bytes(&damaged(index, &message, &damage));
        let fast = key.address.verify(&message, &signature);
        let reference = key.address.verify_with_rsa_crate(&message, &signature);
        prop_assert_eq!(&fast, &reference, "damage {:?}", damage);
        // Every key but the exponent-3 one goes through the fast check.
        prop_assert_eq!(key.address.has_fast_check(), *key.private.e() == BigUint::from(65537u32));
        if matches!(damage, Damage::None) {
            prop_assert_eq!(fast, Ok(()));
        }
    }
}
