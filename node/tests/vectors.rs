//! The shared test vectors: CPython-compatible hashing (`hashing.json`) and proof of work (`pow.json`), plus a mined chain's links.

use std::sync::atomic::AtomicBool;

use node::chain::pow::{valid_proof, PowTarget};
use node::chain::{python_json, Block, BlockHash, PreviousHash, Timestamp, Transaction};
use node::miner::mine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use wallet::{Amount, Wallet};

fn vectors(name: &str) -> Value {
    let path = format!("{}/../../shared/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the vectors at {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn field<'a>(case: &'a Value, name: &str) -> &'a Value {
    case.get(name)
        .unwrap_or_else(|| panic!("vector case lacks {name:?}: {case}"))
}

fn text<'a>(case: &'a Value, name: &str) -> &'a str {
    field(case, name)
        .as_str()
        .unwrap_or_else(|| panic!("{name:?} is not a string in {case}"))
}

fn number(case: &Value, name: &str) -> u64 {
    field(case, name)
        .as_u64()
        .unwrap_or_else(|| panic!("{name:?} is not a u64 in {case}"))
}

fn cases<'a>(vectors: &'a Value, name: &str) -> &'a [Value] {
    field(vectors, name)
        .as_array()
        .unwrap_or_else(|| panic!("{name:?} is not a list"))
}

#[test]
fn json_cases_match_cpython() {
    let vectors = vectors("hashing.json");
    let cases = cases(&vectors, "json");
    for case in cases {
        let value = field(case, "value");
        let canonical = python_json(value);
        assert_eq!(
            String::from_utf8_lossy(&canonical),
            text(case, "python_json"),
            "canonical JSON of {value}"
        );
        assert_eq!(
            sha256_hex(&canonical),
            text(case, "sha256"),
            "sha256 of {value}"
        );
    }
    assert_eq!(cases.len(), 27, "every json case was checked");
}

#[test]
fn block_cases_match_cpython_on_the_typed_and_generic_paths() {
    let vectors = vectors("hashing.json");
    let cases = cases(&vectors, "blocks");
    let mut typed = 0;
    let mut generic_only = Vec::new();
    for case in cases {
        let value = field(case, "block");
        let expected_json = text(case, "python_json");
        let expected_hash = text(case, "hash");

        // The generic path: whatever JSON was received, hashed as received.
        let canonical = python_json(value);
        assert_eq!(String::from_utf8_lossy(&canonical), expected_json);
        assert_eq!(sha256_hex(&canonical), expected_hash);

        // The typed path must give the very same bytes and hash.
        match Block::from_value(value) {
            Ok(block) => {
                typed += 1;
                assert_eq!(String::from_utf8_lossy(&python_json(&block)), expected_json);
                assert_eq!(block.hash().to_hex(), expected_hash);
                assert_eq!(block.hash(), expected_hash.parse::<BlockHash>().unwrap());
            }
            Err(e) => generic_only.push(format!("{}: {e}", number(value, "index"))),
        }
    }
    // Four blocks are well-formed; the seed README's example block (index 2)
    // uses made-up addresses such as "someone-other-address", which the
    // typed path rightly rejects.
    assert_eq!(typed, 4, "blocks taken by the typed path");
    assert_eq!(
        generic_only.len(),
        1,
        "blocks only on the generic path: {generic_only:?}"
    );
    assert!(
        generic_only[0].starts_with("2: ") && generic_only[0].contains("not a valid address"),
        "the rejected block is the README example, for its address: {generic_only:?}"
    );
    assert_eq!(cases.len(), typed + generic_only.len());
}

#[test]
fn genesis_from_config_matches_the_vector() {
    let vectors = vectors("hashing.json");
    let first = &cases(&vectors, "blocks")[0];
    assert_eq!(Block::genesis(0.0).hash().to_hex(), text(first, "hash"));
}

fn pow_cases() -> Vec<(u64, BlockHash, u32, u64)> {
    let vectors = vectors("pow.json");
    cases(&vectors, "cases")
        .iter()
        .map(|case| {
            let hash: BlockHash = text(case, "last_hash")
                .parse()
                .expect("vector hashes are 64 lowercase hex digits");
            let difficulty = u32::try_from(number(case, "difficulty")).expect("a small difficulty");
            (
                number(case, "last_proof"),
                hash,
                difficulty,
                number(case, "first_valid_proof"),
            )
        })
        .collect()
}

#[test]
fn smallest_valid_proofs_match_the_seed() {
    let cases = pow_cases();
    assert_eq!(cases.len(), 20, "every pow case");
    for (last_proof, hash, difficulty, first) in cases {
        let what = format!("last_proof {last_proof} hash {hash} difficulty {difficulty}");
        // One proof at a time, through the public function the validator uses.
        let smallest = (0..=first).find(|&p| valid_proof(last_proof, p, &hash, difficulty));
        assert_eq!(smallest, Some(first), "{what}");
        assert!(
            (0..first).all(|p| !valid_proof(last_proof, p, &hash, difficulty)),
            "{what}"
        );
        // The miner's sequential search finds the same.
        let target = PowTarget::new(last_proof, hash, difficulty);
        assert_eq!(target.first_valid_in(0..=u64::MAX), Some(first), "{what}");
    }
}

#[test]
fn the_parallel_miner_finds_valid_proofs_for_every_case() {
    let cancel = AtomicBool::new(false);
    for (last_proof, hash, difficulty, first) in pow_cases() {
        let target = PowTarget::new(last_proof, hash, difficulty);
        let proof = mine(&target, 2, &cancel).expect("nobody cancels the search");
        assert!(
            valid_proof(last_proof, proof, &hash, difficulty),
            "proof {proof} for last_proof {last_proof} difficulty {difficulty}"
        );
        assert!(
            proof >= first,
            "nothing valid lies below the smallest proof"
        );
    }
}

#[test]
fn a_mined_chain_links_block_to_block() {
    let miner_wallet = Wallet::generate();
    let reward = Amount::new(1).expect("1 is a valid amount");
    let cancel = AtomicBool::new(false);
    let mut chain = vec![Block::genesis(0.0)];
    for (index, difficulty) in (2..=8).zip([2, 3].into_iter().cycle()) {
        let previous = chain.last().expect("the chain starts with genesis");
        let target = PowTarget::after(previous, difficulty);
        let proof = mine(&target, 2, &cancel).expect("nobody cancels the search");
        chain.push(Block {
            index,
            previous_hash: PreviousHash::Hash(previous.hash()),
            proof,
            timestamp: Timestamp::from_secs_f64(1_700_000_000.5 + index as f64)
                .expect("a finite timestamp"),
            transactions: vec![Transaction::Reward {
                recipient: miner_wallet.address().clone(),
                amount: reward,
            }],
        });
    }

    for (pair, difficulty) in chain.windows(2).zip([2, 3].into_iter().cycle()) {
        let (previous, block) = (&pair[0], &pair[1]);
        assert_eq!(block.index, previous.index + 1);
        assert_eq!(block.previous_hash, PreviousHash::Hash(previous.hash()));
        assert!(
            valid_proof(previous.proof, block.proof, &previous.hash(), difficulty),
            "block {} proof {}",
            block.index,
            block.proof
        );
        // What a peer receives parses back to the same block and hash.
        let received: Value =
            serde_json::from_slice(&python_json(block)).expect("canonical JSON is JSON");
        let parsed = Block::from_value(&received).expect("a mined block is well-formed");
        assert_eq!(&parsed, block);
        assert_eq!(parsed.hash(), block.hash());
        assert_eq!(sha256_hex(&python_json(&received)), block.hash().to_hex());
    }
    assert_eq!(chain.len(), 8);
}
