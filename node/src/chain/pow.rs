//! Proof of work exactly as the seed defines it (PROTOCOL §4), with an allocation-free check and search.
//!
//! A proof is valid when the hex SHA-256 of `str(last_proof) + str(proof) +
//! last_hash_hex` starts with `difficulty` zero hex digits. That message is 66
//! to 104 bytes long, so with its padding it is always exactly two 64-byte
//! SHA-256 blocks. We lay the padded blocks out ourselves and call the raw
//! compression function: no hasher buffering, no hex encoding of the digest
//! (the leading hex digits are the leading nibbles of the state words), and in
//! a sequential search the proof digits are counted up in place.

use std::ops::RangeInclusive;

use sha2::digest::consts::U64;
use sha2::digest::generic_array::GenericArray;

use super::block::{Block, BlockHash};

/// The largest meaningful difficulty: a SHA-256 digest has 64 hex digits.
/// Above it no proof is valid.
pub const MAX_DIFFICULTY: u32 = 64;

/// Whether `proof` is a valid proof of work on top of a block with proof
/// `last_proof` and hash `last_hash`, as the seed's `valid_proof`.
///
/// Difficulty 0 accepts every proof; a difficulty above [`MAX_DIFFICULTY`] none.
pub fn valid_proof(last_proof: u64, proof: u64, last_hash: &BlockHash, difficulty: u32) -> bool {
    PowTarget::new(last_proof, *last_hash, difficulty).check(proof)
}

/// What the proof of the next block must satisfy: the previous block's proof
/// and hash, and the difficulty. Checking a proof against it allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowTarget {
    last_proof: u64,
    last_hash: BlockHash,
    difficulty: u32,
    /// `last_hash` as the lowercase hex that ends every message, encoded once.
    last_hash_hex: [u8; 64],
    /// `str(last_proof)`, which starts every message: `last_proof_digits[last_proof_at..]`.
    last_proof_digits: [u8; 20],
    last_proof_at: usize,
}

impl PowTarget {
    /// The target for a proof following a block with `last_proof` and `last_hash`.
    pub fn new(last_proof: u64, last_hash: BlockHash, difficulty: u32) -> Self {
        let mut last_hash_hex = [0u8; 64];
        hex::encode_to_slice(last_hash.0, &mut last_hash_hex)
            .expect("32 bytes always encode to exactly 64 hex digits");
        let (last_proof_digits, last_proof_at) = decimal_digits(last_proof);
        PowTarget {
            last_proof,
            last_hash,
            difficulty,
            last_hash_hex,
            last_proof_digits,
            last_proof_at,
        }
    }

    /// The target for the block that will follow `previous`.
    pub fn after(previous: &Block, difficulty: u32) -> Self {
        PowTarget::new(previous.proof, previous.hash(), difficulty)
    }

    /// The previous block's proof.
    pub fn last_proof(&self) -> u64 {
        self.last_proof
    }

    /// The previous block's hash.
    pub fn last_hash(&self) -> &BlockHash {
        &self.last_hash
    }

    /// How many leading zero hex digits the digest needs.
    pub fn difficulty(&self) -> u32 {
        self.difficulty
    }

    /// Whether `proof` is valid against this target.
    pub fn check(&self, proof: u64) -> bool {
        match self.difficulty {
            0 => true,
            d if d > MAX_DIFFICULTY => false,
            d => Message::new(self, proof).meets(d),
        }
    }

    /// The first valid proof in `proofs`, trying them in increasing order.
    ///
    /// This is the search loop: it writes the message once and then counts
    /// the proof digits up in place, so each try costs one two-block SHA-256
    /// compression. Returns `None` when no proof in the range is valid.
    pub fn first_valid_in(&self, proofs: RangeInclusive<u64>) -> Option<u64> {
        let (mut proof, last) = proofs.into_inner();
        if proof > last || self.difficulty > MAX_DIFFICULTY {
            return None;
        }
        if self.difficulty == 0 {
            return Some(proof);
        }
        let mut message = Message::new(self, proof);
        loop {
            if message.meets(self.difficulty) {
                return Some(proof);
            }
            if proof == last {
                return None;
            }
            proof += 1;
            if !message.increment_proof() {
                // The proof gained a digit (999 → 1000), which moves the hash
                // hex and the padding: lay the message out afresh.
                message = Message::new(self, proof);
            }
        }
    }
}

/// SHA-256's initial state (FIPS 180-4 §5.3.3).
const SHA256_INITIAL: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The decimal digits of `n` as Python's `str(n)` writes them, right-aligned
/// in a stack buffer; returns the buffer and where the digits start.
pub(super) fn decimal_digits(mut n: u64) -> ([u8; 20], usize) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return (digits, start);
        }
    }
}

/// The two padded SHA-256 blocks of one proof-of-work message.
struct Message {
    blocks: [GenericArray<u8, U64>; 2],
    /// Where the proof's digits sit in the first block.
    proof_at: usize,
    proof_len: usize,
}

impl Message {
    fn new(target: &PowTarget, proof: u64) -> Self {
        let (proof_digits, proof_start) = decimal_digits(proof);
        let last_proof = &target.last_proof_digits[target.last_proof_at..];
        let proof = &proof_digits[proof_start..];

        let mut bytes = [0u8; 128];
        let proof_at = last_proof.len();
        let hex_at = proof_at + proof.len();
        let len = hex_at + target.last_hash_hex.len();
        bytes[..proof_at].copy_from_slice(last_proof);
        bytes[proof_at..hex_at].copy_from_slice(proof);
        bytes[hex_at..len].copy_from_slice(&target.last_hash_hex);
        // SHA-256 padding: a 1 bit, zeros, then the length in bits, big-endian,
        // in the last 8 bytes. `len` is 66..=104, so it always fits in two blocks.
        bytes[len] = 0x80;
        let bits = u64::try_from(len * 8).expect("a message of at most 104 bytes");
        bytes[120..].copy_from_slice(&bits.to_be_bytes());

        Message {
            blocks: [
                GenericArray::clone_from_slice(&bytes[..64]),
                GenericArray::clone_from_slice(&bytes[64..]),
            ],
            proof_at,
            proof_len: proof.len(),
        }
    }

    /// Adds one to the proof's digits in place. Returns false, leaving the
    /// digits all zero, when the proof needs one more digit.
    fn increment_proof(&mut self) -> bool {
        // At most 20 + 20 bytes precede the hash, so the digits are all in block 0.
        let digits = &mut self.blocks[0][self.proof_at..self.proof_at + self.proof_len];
        for digit in digits.iter_mut().rev() {
            if *digit == b'9' {
                *digit = b'0';
            } else {
                *digit += 1;
                return true;
            }
        }
        false
    }

    /// Whether the message's SHA-256 starts with `difficulty` (1..=64) zero hex digits.
    fn meets(&self, difficulty: u32) -> bool {
        let mut state = SHA256_INITIAL;
        sha2::compress256(&mut state, &self.blocks);
        // The digest is the state words in big-endian order, so its hex digits
        // are the words' nibbles from the most significant down.
        let full_words = (difficulty / 8) as usize;
        let rest_nibbles = difficulty % 8;
        if state[..full_words].iter().any(|&word| word != 0) {
            return false;
        }
        rest_nibbles == 0 || state[full_words] >> (32 - 4 * rest_nibbles) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The seed's `valid_proof` for every difficulty at once, written the slow
    /// and obvious way: how many leading zero digits the hex digest has.
    fn seed_leading_zeros(last_proof: u64, proof: u64, last_hash: &BlockHash) -> u32 {
        let guess = format!("{last_proof}{proof}{}", last_hash.to_hex());
        let digest = hex::encode(Sha256::digest(guess.as_bytes()));
        digest.bytes().take_while(|&b| b == b'0').count() as u32
    }

    fn hash_of(seed: u8) -> BlockHash {
        BlockHash(Sha256::digest([seed]).into())
    }

    /// Proofs around every change of digit count, and the extremes.
    fn awkward_proofs() -> Vec<u64> {
        let mut proofs = vec![0, 1, u64::MAX - 1, u64::MAX];
        let mut power = 1u64;
        while let Some(next) = power.checked_mul(10) {
            power = next;
            proofs.extend([power - 1, power, power + 1]);
        }
        proofs
    }

    #[test]
    fn fast_check_agrees_with_the_seed_definition() {
        // Low difficulties so that both outcomes occur often; the digest
        // comparison for high difficulties is tested separately below.
        let mut valid = 0;
        for seed in 0..4 {
            let hash = hash_of(seed);
            for last_proof in awkward_proofs() {
                for proof in awkward_proofs().into_iter().chain(0..300) {
                    let zeros = seed_leading_zeros(last_proof, proof, &hash);
                    for difficulty in 0..=3 {
                        let expected = zeros >= difficulty;
                        assert_eq!(
                            valid_proof(last_proof, proof, &hash, difficulty),
                            expected,
                            "last_proof {last_proof} proof {proof} difficulty {difficulty}"
                        );
                        valid += usize::from(expected && difficulty > 0);
                    }
                }
            }
        }
        assert!(valid > 1000, "the cases include valid proofs ({valid})");
    }

    #[test]
    fn digest_prefix_check_counts_nibbles_across_words() {
        let mut message = Message::new(&PowTarget::new(1, hash_of(0), 1), 0);
        // Find messages whose digests have 0, 1, 2 and 3 leading zero digits
        // and check every difficulty up to 64 against the hex digest.
        let mut seen = [false; 4];
        for proof in 0..100_000u64 {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&message.blocks[0]);
            bytes.extend_from_slice(&message.blocks[1]);
            let len = message.proof_at + message.proof_len + 64;
            let digest = hex::encode(Sha256::digest(&bytes[..len]));
            let zeros = digest.bytes().take_while(|&b| b == b'0').count();
            if zeros < seen.len() {
                seen[zeros] = true;
            }
            for difficulty in 1..=MAX_DIFFICULTY {
                assert_eq!(
                    message.meets(difficulty),
                    zeros >= difficulty as usize,
                    "proof {proof} digest {digest} difficulty {difficulty}"
                );
            }
            if seen.iter().all(|&s| s) {
                return;
            }
            if !message.increment_proof() {
                message = Message::new(&PowTarget::new(1, hash_of(0), 1), proof + 1);
            }
        }
        panic!("no digests with up to 3 leading zeros found: {seen:?}");
    }

    #[test]
    fn sequential_search_agrees_with_single_checks_across_digit_boundaries() {
        let target = PowTarget::new(7, hash_of(9), 1);
        for start in [0u64, 95, 990, 99_990, 9_999_999_990, u64::MAX - 200] {
            let end = start.saturating_add(200);
            let mut from = start;
            let mut found = Vec::new();
            while let Some(proof) = target.first_valid_in(from..=end) {
                found.push(proof);
                if proof == end {
                    break;
                }
                from = proof + 1;
            }
            let expected: Vec<u64> = (start..=end).filter(|&p| target.check(p)).collect();
            assert!(!expected.is_empty(), "difficulty 1 hits about 1 in 16");
            assert_eq!(found, expected, "range starting at {start}");
        }
    }

    #[test]
    fn difficulty_bounds() {
        let hash = hash_of(1);
        assert!(
            valid_proof(5, 12345, &hash, 0),
            "difficulty 0 accepts anything"
        );
        assert_eq!(PowTarget::new(5, hash, 0).first_valid_in(17..=20), Some(17));
        assert!(!valid_proof(5, 12345, &hash, MAX_DIFFICULTY + 1));
        assert_eq!(
            PowTarget::new(5, hash, MAX_DIFFICULTY + 1).first_valid_in(0..=1000),
            None
        );
        assert_eq!(
            PowTarget::new(5, hash, 1).first_valid_in(RangeInclusive::new(10, 9)),
            None
        );
    }

    #[test]
    fn target_after_a_block_uses_its_proof_and_hash() {
        let genesis = Block::genesis(0.0);
        let target = PowTarget::after(&genesis, 4);
        assert_eq!(target.last_proof(), 1);
        assert_eq!(target.last_hash(), &genesis.hash());
        assert_eq!(target.difficulty(), 4);
    }
}
