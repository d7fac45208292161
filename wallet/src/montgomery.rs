//! Arithmetic modulo one odd RSA modulus of up to 4096 bits on fixed-size u64 limbs, with Montgomery multiplication: just enough for x^65537 mod n.
//!
//! A number is held as [`MAX_LIMBS`] 64-bit limbs, least significant first;
//! only the modulus's own limb count is used. With R = 2^(64 * limbs),
//! Montgomery multiplication gives a·b·R⁻¹ mod n without any division, so
//! x^65537 = x^(2^16)·x costs 18 of them: one by R² to bring x into
//! Montgomery form, 16 squarings, and one by x that also brings the result
//! out of it. The squarings have their own code: a square needs only half
//! of the limb products of a general product (a_i·a_j = a_j·a_i), which
//! makes x^65537 about a tenth faster. Every loop over limbs runs two rows
//! at once with a carry chain each: a chain of additions with carry is
//! waited on step by step, and two independent ones keep the processor's
//! multipliers busier (about a tenth faster again). Nothing here needs
//! constant time: it only ever sees public keys and signatures.

use rsa::BigUint;

/// The most limbs a modulus may have: 4096 bits.
pub(crate) const MAX_LIMBS: usize = 64;

/// A number below 2^(64 · MAX_LIMBS), least significant limb first.
type Limbs = [u64; MAX_LIMBS];

/// An odd modulus with what Montgomery multiplication needs, computed once.
pub(crate) struct Modulus {
    /// How many limbs the modulus has (its top limb is not zero).
    len: usize,
    /// The modulus.
    n: Limbs,
    /// -n⁻¹ mod 2^64: the factor that makes the low limb of t + m·n zero.
    n0_inv: u64,
    /// R² mod n: multiplying by it brings a number into Montgomery form.
    r2: Limbs,
}

/// A number below the modulus it was made for.
///
/// Only [`Modulus::residue`] and [`Modulus::pow_65537`] make one, so the
/// multiplication's bound (both factors below n) holds by construction.
pub(crate) struct Residue(Limbs);

impl Modulus {
    /// Prepares an odd modulus of at most 4096 bits; `None` for any other.
    pub(crate) fn new(n: &BigUint) -> Option<Self> {
        let len = n.bits().div_ceil(64);
        let n_limbs = limbs_from_be(&n.to_bytes_be())?;
        // Montgomery reduction needs n coprime to R, a power of two.
        if len == 0 || len > MAX_LIMBS || n_limbs[0] & 1 == 0 {
            return None;
        }
        // One division per key, done by the general code: R² is 2·64·len bits.
        let r2 = (BigUint::from(1u8) << (128 * len)) % n;
        let r2 = limbs_from_be(&r2.to_bytes_be())?;
        Some(Modulus {
            len,
            n: n_limbs,
            n0_inv: neg_inverse(n_limbs[0]),
            r2,
        })
    }

    /// Reads a big-endian number; `None` if it is not below the modulus.
    pub(crate) fn residue(&self, bytes: &[u8]) -> Option<Residue> {
        let limbs = limbs_from_be(bytes)?;
        // Limbs above `len` are zero only if the number fits in the modulus's limbs.
        let fits = limbs[self.len..].iter().all(|&limb| limb == 0);
        (fits && self.below_n(&limbs[..self.len])).then_some(Residue(limbs))
    }

    /// x^65537 mod n.
    pub(crate) fn pow_65537(&self, x: &Residue) -> Residue {
        // x·R² ·R⁻¹ = x·R, the Montgomery form of x.
        let mut power = self.mul(&x.0, &self.r2);
        // After k squarings, power = x^(2^k)·R.
        for _ in 0..16 {
            power = self.square(&power);
        }
        // x^65536·R · x ·R⁻¹ = x^65537, back out of Montgomery form.
        Residue(self.mul(&power, &x.0))
    }

    /// a·b·R⁻¹ mod n, for a, b < n (CIOS: Koç, Acar and Kaliski, 1996).
    fn mul(&self, a: &Limbs, b: &Limbs) -> Limbs {
        let len = self.len;
        let n = &self.n[..len];
        let a = &a[..len];
        // t < 2n after each step, so len + 1 limbs hold it.
        let mut t = [0u64; MAX_LIMBS + 1];
        let t = &mut t[..=len];
        for &b_i in &b[..len] {
            // t = (t + a·b_i + m·n) / 2^64, with m chosen to make the low limb
            // zero so that the division is exact. The two products' carries
            // run in separate chains, each below 2^64.
            let (low, mut carry_a) = mul_add(a[0], b_i, t[0], 0);
            let m = low.wrapping_mul(self.n0_inv);
            let (_, mut carry_n) = mul_add(m, n[0], low, 0);
            for j in 1..len {
                let (low, high) = mul_add(a[j], b_i, t[j], carry_a);
                carry_a = high;
                (t[j - 1], carry_n) = mul_add(m, n[j], low, carry_n);
            }
            let (sum, overflow_a) = t[len].overflowing_add(carry_a);
            let (sum, overflow_n) = sum.overflowing_add(carry_n);
            t[len - 1] = sum;
            t[len] = u64::from(overflow_a) + u64::from(overflow_n);
        }
        // t < 2n: one subtraction brings it below n.
        if t[len] != 0 || !self.below_n(&t[..len]) {
            sub_assign(&mut t[..len], n);
        }
        let mut product = [0; MAX_LIMBS];
        product[..len].copy_from_slice(&t[..len]);
        product
    }

    /// a²·R⁻¹ mod n, for a < n: [`Modulus::mul`] of a by itself, with half
    /// the limb products.
    ///
    /// The square is computed whole first (2·len limbs): the products a_i·a_j
    /// with i < j once, doubled, plus the squares a_i² on the diagonal. Then
    /// Montgomery reduction, a limb at a time: adding m·n with m chosen to
    /// zero the lowest remaining limb, len times, leaves (a² + M·n) / R in the
    /// upper half, below 2n.
    fn square(&self, a: &Limbs) -> Limbs {
        let len = self.len;
        let n = &self.n[..len];
        let a = &a[..len];
        let mut t = [0u64; 2 * MAX_LIMBS];
        let t = &mut t[..2 * len];
        // The products a_i·a_j, i < j, at limb i + j: rows i and i + 1 in
        // one pass, each with its own carry chain. Row i + 1 starts two limbs
        // after row i; limbs i + len and i + 1 + len are written by no
        // earlier pass. (A last row of an odd count has no products.)
        let mut i = 0;
        while i + 1 < len {
            let (a_0, a_1) = (a[i], a[i + 1]);
            let mut carry_0;
            (t[2 * i + 1], carry_0) = mul_add(a_0, a_1, t[2 * i + 1], 0);
            if i + 2 < len {
                (t[2 * i + 2], carry_0) = mul_add(a_0, a[i + 2], t[2 * i + 2], carry_0);
                let mut carry_1 = 0;
                for j in i + 3..len {
                    let (low, high) = mul_add(a_0, a[j], t[i + j], carry_0);
                    carry_0 = high;
                    (t[i + j], carry_1) = mul_add(a_1, a[j - 1], low, carry_1);
                }
                (t[i + len], t[i + 1 + len]) = mul_add(a_1, a[len - 1], carry_0, carry_1);
            } else {
                t[i + len] = carry_0;
            }
            i += 2;
        }
        // Doubled: a shift by one bit (the sum is below 2^(128·len - 1)).
        let mut shifted_out = 0;
        for limb in t.iter_mut() {
            (*limb, shifted_out) = ((*limb << 1) | shifted_out, *limb >> 63);
        }
        // Plus the diagonal a_i² at limb 2i; the total a² < 2^(128·len) fits.
        let mut carry = false;
        for (pair, &a_i) in t.chunks_exact_mut(2).zip(a) {
            let (low, high) = mul_add(a_i, a_i, pair[0], u64::from(carry));
            pair[0] = low;
            (pair[1], carry) = pair[1].overflowing_add(high);
        }
        // Reduction: after the step for limb i the limbs below i + 1 are
        // zero; `above` carries what overflowed limb i + len into limb
        // i + 1 + len. Two limbs a step: the second factor is known once the
        // first row's lowest products are in, and the two rows' carries then
        // run in separate chains, as in `mul`.
        let mut above = 0u64;
        let mut i = 0;
        while i + 1 < len {
            let m_0 = t[i].wrapping_mul(self.n0_inv);
            let (_, carry_0) = mul_add(m_0, n[0], t[i], 0);
            let (low, mut carry_0) = mul_add(m_0, n[1], t[i + 1], carry_0);
            let m_1 = low.wrapping_mul(self.n0_inv);
            let (_, mut carry_1) = mul_add(m_1, n[0], low, 0);
            for j in 2..len {
                let (low, high) = mul_add(m_0, n[j], t[i + j], carry_0);
                carry_0 = high;
                (t[i + j], carry_1) = mul_add(m_1, n[j - 1], low, carry_1);
            }
            // Limb i + len takes the first row's carry and what came from
            // below, then the second row's last product; limb i + 1 + len
            // takes what overflowed.
            let (sum, overflow_carry) = t[i + len].overflowing_add(carry_0);
            let (sum, overflow_above) = sum.overflowing_add(above);
            let (low, high) = mul_add(m_1, n[len - 1], sum, carry_1);
            t[i + len] = low;
            let (sum, overflow_high) = t[i + 1 + len].overflowing_add(high);
            let (sum, overflow_below) =
                sum.overflowing_add(u64::from(overflow_carry) + u64::from(overflow_above));
            t[i + 1 + len] = sum;
            above = u64::from(overflow_high) + u64::from(overflow_below);
            i += 2;
        }
        // An odd limb count leaves one limb, reduced alone.
        if i < len {
            let m = t[i].wrapping_mul(self.n0_inv);
            let mut carry = 0;
            for (t_ij, &n_j) in t[i..i + len].iter_mut().zip(n) {
                (*t_ij, carry) = mul_add(m, n_j, *t_ij, carry);
            }
            let (sum, overflow_carry) = t[i + len].overflowing_add(carry);
            let (sum, overflow_above) = sum.overflowing_add(above);
            t[i + len] = sum;
            above = u64::from(overflow_carry) + u64::from(overflow_above);
        }
        // (a² + M·n) / R < 2n: one subtraction brings it below n.
        let mut square = [0; MAX_LIMBS];
        square[..len].copy_from_slice(&t[len..]);
        if above != 0 || !self.below_n(&square[..len]) {
            sub_assign(&mut square[..len], n);
        }
        square
    }

    /// Whether the `len`-limb number `x` is below n.
    fn below_n(&self, x: &[u64]) -> bool {
        // Most significant limb first: the first difference decides.
        x.iter().rev().lt(self.n[..self.len].iter().rev())
    }
}

impl Residue {
    /// Writes the number big-endian into `out`, which must be wide enough
    /// (the modulus's size in bytes is).
    pub(crate) fn write_be(&self, out: &mut [u8]) {
        let mut limbs = self.0.iter();
        for chunk in out.rchunks_mut(8) {
            let limb = limbs.next().copied().unwrap_or(0).to_be_bytes();
            chunk.copy_from_slice(&limb[8 - chunk.len()..]);
        }
        debug_assert!(limbs.all(|&limb| limb == 0), "the number fits in `out`");
    }
}

/// Reads a big-endian number into limbs; `None` if it has more than [`MAX_LIMBS`].
fn limbs_from_be(bytes: &[u8]) -> Option<Limbs> {
    if bytes.len() > 8 * MAX_LIMBS {
        return None;
    }
    let mut limbs = [0; MAX_LIMBS];
    // The last chunk (the most significant limb) may be short.
    for (limb, chunk) in limbs.iter_mut().zip(bytes.rchunks(8)) {
        *limb = chunk
            .iter()
            .fold(0, |acc, &byte| (acc << 8) | u64::from(byte));
    }
    Some(limbs)
}

/// a·b + c + d as (low, high) limbs; it cannot overflow 128 bits:
/// (2^64 - 1)² + 2·(2^64 - 1) = 2^128 - 1.
#[inline(always)]
fn mul_add(a: u64, b: u64, c: u64, d: u64) -> (u64, u64) {
    let wide = u128::from(a) * u128::from(b) + u128::from(c) + u128::from(d);
    (wide as u64, (wide >> 64) as u64)
}

/// x -= y, both of the same length, ignoring the final borrow (the caller
/// knows the true difference is not negative).
fn sub_assign(x: &mut [u64], y: &[u64]) {
    let mut borrow = false;
    for (x_i, &y_i) in x.iter_mut().zip(y) {
        let (diff, borrow_1) = x_i.overflowing_sub(y_i);
        let (diff, borrow_2) = diff.overflowing_sub(u64::from(borrow));
        *x_i = diff;
        borrow = borrow_1 | borrow_2;
    }
}

/// -x⁻¹ mod 2^64 for an odd x, by Newton's iteration: y ← y·(2 - x·y)
/// doubles the number of correct low bits, and y = 1 has one.
fn neg_inverse(x: u64) -> u64 {
    let mut y: u64 = 1;
    for _ in 0..6 {
        y = y.wrapping_mul(2u64.wrapping_sub(x.wrapping_mul(y)));
    }
    y.wrapping_neg()
}

#[cfg(test)]
mod tests;
