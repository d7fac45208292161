//! Montgomery arithmetic against the `rsa` crate's general big integers, on random and on extreme moduli.

use proptest::prelude::*;
use rsa::BigUint;

use super::{neg_inverse, Modulus, MAX_LIMBS};

/// An odd modulus of exactly `bits` bits from `seed` bytes.
fn odd_modulus(bits: usize, seed: &[u8]) -> BigUint {
    let len = bits.div_ceil(8);
    let mut bytes: Vec<u8> = seed.iter().copied().cycle().take(len).collect();
    let spare = len * 8 - bits;
    bytes[0] &= 0xff >> spare;
    bytes[0] |= 0x80 >> spare;
    bytes[len - 1] |= 1;
    BigUint::from_bytes_be(&bytes)
}

/// x^65537 mod n by the fast code, as a number.
fn fast_pow(modulus: &Modulus, n: &BigUint, x: &BigUint) -> BigUint {
    let size = n.bits().div_ceil(8);
    let mut bytes = x.to_bytes_be();
    // The fast code reads numbers of the modulus's size, leading zeros included.
    let mut padded = vec![0; size - bytes.len().min(size)];
    padded.append(&mut bytes);
    let residue = modulus.residue(&padded).expect("x is below n");
    let mut out = vec![0; size];
    modulus.pow_65537(&residue).write_be(&mut out);
    BigUint::from_bytes_be(&out)
}

fn slow_pow(n: &BigUint, x: &BigUint) -> BigUint {
    x.modpow(&BigUint::from(65537u32), n)
}

/// Checks x^65537 for x = 0, 1, 2, n - 1, n - 2 and `extra`, all reduced mod n.
fn check_modulus(n: &BigUint, extra: &[BigUint]) {
    let modulus = Modulus::new(n).expect("an odd modulus of at most 4096 bits is accepted");
    let one = BigUint::from(1u8);
    let mut xs = vec![
        BigUint::from(0u8),
        one.clone(),
        BigUint::from(2u8),
        n - &one,
    ];
    if *n > BigUint::from(2u8) {
        xs.push(n - BigUint::from(2u8));
    }
    xs.extend_from_slice(extra);
    for x in xs.iter().map(|x| x % n) {
        let x = &x;
        assert_eq!(
            fast_pow(&modulus, n, x),
            slow_pow(n, x),
            "n = {n:x}, x = {x:x}"
        );
    }
}

#[test]
fn extreme_moduli_agree_with_the_general_code() {
    let one = BigUint::from(1u8);
    let mut moduli = vec![
        BigUint::from(1u8),
        BigUint::from(3u8),
        BigUint::from(u64::MAX),
    ];
    for bits in [64, 65, 127, 128, 1024, 2047, 2048, 2049, 3072, 4095, 4096] {
        // All ones: t is often at or above R, the case of the extra top bit.
        moduli.push((&one << bits) - &one);
        // Top and bottom bits only.
        moduli.push((&one << (bits - 1)) + &one);
    }
    let big = (&one << 4095) + BigUint::from(0x1234_5678_9abc_def1u64);
    for n in &moduli {
        check_modulus(n, &[big.clone(), n >> 1, n - (n >> 3)]);
    }
}

#[test]
fn moduli_that_are_even_zero_or_too_long_are_refused() {
    let one = BigUint::from(1u8);
    assert!(Modulus::new(&BigUint::from(0u8)).is_none());
    assert!(Modulus::new(&(&one << 2048)).is_none());
    assert!(Modulus::new(&BigUint::from(65536u32)).is_none());
    assert!(Modulus::new(&((&one << (64 * MAX_LIMBS)) + &one)).is_none());
    assert!(Modulus::new(&((&one << (64 * MAX_LIMBS)) - &one)).is_some());
}

#[test]
fn only_numbers_below_the_modulus_are_residues() {
    let one = BigUint::from(1u8);
    let n = (&one << 2047) + BigUint::from(12345u32);
    let modulus = Modulus::new(&n).unwrap();
    let bytes = |x: &BigUint| {
        let mut b = x.to_bytes_be();
        let mut padded = vec![0; 256 - b.len()];
        padded.append(&mut b);
        padded
    };
    assert!(modulus.residue(&bytes(&(&n - &one))).is_some());
    assert!(modulus.residue(&bytes(&n)).is_none());
    assert!(modulus.residue(&bytes(&(&n + &one))).is_none());
    assert!(modulus.residue(&bytes(&((&one << 2048) - &one))).is_none());
    // Short and zero-padded forms are read as the same numbers.
    assert!(modulus.residue(&[1]).is_some());
    assert!(modulus.residue(&[]).is_some());
    let mut long = vec![0; 300];
    long[299] = 7;
    assert!(modulus.residue(&long).is_some());
    long[0] = 1;
    assert!(modulus.residue(&long).is_none());
    assert!(modulus.residue(&vec![0; 8 * MAX_LIMBS + 1]).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn neg_inverse_is_the_negated_inverse(x in any::<u64>()) {
        let x = x | 1;
        prop_assert_eq!(x.wrapping_mul(neg_inverse(x)), u64::MAX);
    }

    #[test]
    fn a_square_is_the_product_of_a_number_by_itself(
        bits in prop_oneof![2048usize..=4096, 1usize..2048],
        seed in proptest::collection::vec(any::<u8>(), 1..600),
        x in proptest::collection::vec(any::<u8>(), 0..520),
        near_n in any::<bool>(),
    ) {
        let n = odd_modulus(bits, &seed);
        let x = BigUint::from_bytes_be(&x) % &n;
        // Numbers just below n make the largest squares and carries.
        let x = if near_n { &n - BigUint::from(1u8) - (&x >> (bits / 2)) } else { x };
        let modulus = Modulus::new(&n).unwrap();
        let size = n.bits().div_ceil(8);
        let mut bytes = vec![0; size];
        let x_bytes = x.to_bytes_be();
        bytes[size - x_bytes.len()..].copy_from_slice(&x_bytes);
        let residue = modulus.residue(&bytes).expect("x is below n");
        prop_assert_eq!(modulus.square(&residue.0), modulus.mul(&residue.0, &residue.0));
    }

    #[test]
    fn pow_65537_agrees_with_the_general_code(
        bits in prop_oneof![2048usize..=4096, 1usize..2048],
        seed in proptest::collection::vec(any::<u8>(), 1..600),
        x in proptest::collection::vec(any::<u8>(), 0..520),
    ) {
        let n = odd_modulus(bits, &seed);
        let x = BigUint::from_bytes_be(&x) % &n;
        let modulus = Modulus::new(&n).unwrap();
        prop_assert_eq!(fast_pow(&modulus, &n, &x), slow_pow(&n, &x));
    }
}
