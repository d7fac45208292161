//! Chain validation: a mined chain validates, and a chain broken in each way is rejected naming the block and the rule.

mod common;

use base64::Engine as _;
use common::*;
use node::chain::LedgerError;
use node::chain::{Block, Chain, Rule, Rules, Timestamp, Transaction, ValidationError};
use node::chain::{FormError, PreviousHash};
use serde_json::Value;
use wallet::{Amount, WalletError};

/// Genesis, a block paying alice, and a block in which alice pays bob 30.
fn good_chain(rules: &Rules) -> Vec<Block> {
    let mut chain = Chain::new(rules);
    extend(&mut chain, rules, vec![], alice().address());
    extend(
        &mut chain,
        rules,
        vec![pay(alice(), bob().address(), 30, None)],
        carol().address(),
    );
    chain.blocks().to_vec()
}

fn validate(blocks: Vec<Block>, rules: &Rules) -> Result<Chain, ValidationError> {
    Chain::validate(blocks, rules, now(), &[])
}

/// Validates and expects `rule` broken at `block`, printing the error for the log.
fn expect_broken(blocks: Vec<Block>, rules: &Rules, block: u64, is_rule: impl Fn(&Rule) -> bool) {
    let err = validate(blocks, rules).expect_err("the broken chain must be rejected");
    assert_eq!(err.block, block, "wrong block named: {err}");
    assert!(is_rule(&err.rule), "wrong rule: {err}");
    assert!(err.to_string().starts_with(&format!("block {block}: ")));
}

#[test]
fn mined_chain_validates_with_right_balances() {
    let rules = rules();
    let chain = validate(good_chain(&rules), &rules).unwrap();
    assert_eq!(chain.len(), 3);
    let ledger = chain.ledger();
    assert_eq!(ledger.balance(alice().address()), 70);
    assert_eq!(ledger.balance(bob().address()), 30);
    assert_eq!(ledger.balance(carol().address()), 100);
    assert_eq!(ledger.minted(), 200);
    assert_eq!(ledger.total(), 200);
}

#[test]
fn bad_proof() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    let target = node::chain::pow::PowTarget::after(&blocks[1], rules.difficulty);
    blocks[2].proof = (0..).find(|p| !target.check(*p)).unwrap();
    expect_broken(blocks, &rules, 3, |r| matches!(r, Rule::Proof { .. }));
}

#[test]
fn broken_link() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    blocks[2].previous_hash = PreviousHash::Hash(blocks[0].hash());
    expect_broken(blocks, &rules, 3, |r| *r == Rule::Link);
}

#[test]
fn wrong_index() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    blocks[2].index = 7;
    expect_broken(blocks, &rules, 3, |r| {
        *r == Rule::Index {
            expected: 3,
            found: 7,
        }
    });
}

#[test]
fn reward_too_high() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    let last = blocks[2].transactions.len() - 1;
    blocks[2].transactions[last] = Transaction::Reward {
        recipient: carol().address().clone(),
        amount: Amount::new(101).unwrap(),
    };
    expect_broken(blocks, &rules, 3, |r| {
        *r == Rule::RewardAmount {
            expected: 100,
            found: 101,
        }
    });
}

#[test]
fn two_rewards() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    blocks[2]
        .transactions
        .push(reward(&rules, carol().address()));
    expect_broken(blocks, &rules, 3, |r| *r == Rule::RewardNotLast { tx: 1 });
}

#[test]
fn reward_not_last() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    blocks[2].transactions.swap(0, 1);
    expect_broken(blocks, &rules, 3, |r| *r == Rule::RewardNotLast { tx: 0 });
}

#[test]
fn no_reward() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    blocks[2].transactions.pop();
    expect_broken(blocks, &rules, 3, |r| *r == Rule::NoReward);
}

#[test]
fn bad_signature() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    // Bob signs a transfer claiming to be from alice.
    let forged = pay(bob(), carol().address(), 5, None);
    let Transaction::Signed { signature, .. } = forged else {
        unreachable!()
    };
    let Transaction::Signed { transfer, .. } = pay(alice(), carol().address(), 5, None) else {
        unreachable!()
    };
    blocks[2].transactions.insert(
        0,
        Transaction::Signed {
            transfer,
            signature,
        },
    );
    expect_broken(blocks, &rules, 3, |r| {
        *r == Rule::Signature {
            tx: 0,
            source: WalletError::BadSignature,
        }
    });
}

#[test]
fn amount_changed_after_signing() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    if let Transaction::Signed { transfer, .. } = &mut blocks[2].transactions[0] {
        transfer.amount = Amount::new(31).unwrap();
    }
    expect_broken(blocks, &rules, 3, |r| {
        matches!(r, Rule::Signature { tx: 0, .. })
    });
}

#[test]
fn overspend() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    blocks[2].transactions[0] = pay(alice(), bob().address(), 101, None);
    expect_broken(blocks, &rules, 3, |r| {
        *r == Rule::Ledger(LedgerError::Overspend {
            tx: 0,
            balance: 100,
            amount: 101,
        })
    });
}

#[test]
fn replay_within_a_block() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    let again = blocks[2].transactions[0].clone();
    blocks[2].transactions.insert(1, again);
    expect_broken(blocks, &rules, 3, |r| {
        *r == Rule::Ledger(LedgerError::Replay { tx: 1 })
    });
}

#[test]
fn replay_across_blocks() {
    let rules = rules();
    let mut chain = validate(good_chain(&rules), &rules).unwrap();
    let replayed = chain.blocks()[2].transactions[0].clone();
    let block = mine_on(chain.tip(), &rules, vec![replayed], carol().address());
    let err = chain.push(block.clone(), &rules, now(), true).unwrap_err();
    assert_eq!(err.block, 4);
    assert_eq!(err.rule, Rule::Ledger(LedgerError::Replay { tx: 0 }));
    let mut blocks = chain.blocks().to_vec();
    blocks.push(block);
    expect_broken(blocks, &rules, 4, |r| {
        *r == Rule::Ledger(LedgerError::Replay { tx: 0 })
    });
}

#[test]
fn different_genesis() {
    let rules = rules();
    let blocks = good_chain(&rules);
    let other = Rules::new(2, Amount::new(100).unwrap(), 1.0, 50);
    expect_broken(blocks.clone(), &other, 1, |r| *r == Rule::Genesis);
    // An integer 0 is not the float 0.0: the hash covers the JSON form.
    let mut int_genesis = blocks;
    int_genesis[0] = Block::from_value(&serde_json::json!({
        "index": 1, "previous_hash": 1, "proof": 1, "timestamp": 0, "transactions": []
    }))
    .unwrap();
    expect_broken(int_genesis, &rules, 1, |r| *r == Rule::Genesis);
}

#[test]
fn timestamp_too_far_ahead() {
    let rules = rules();
    let mut blocks = good_chain(&rules);
    blocks[2].timestamp = Timestamp::from_secs_f64(now() + 3.0 * 3600.0).unwrap();
    expect_broken(blocks.clone(), &rules, 3, |r| {
        matches!(r, Rule::FutureTimestamp { .. })
    });
    // One hour ahead is within the allowed clock drift.
    blocks[2].timestamp = Timestamp::from_secs_f64(now() + 3600.0).unwrap();
    validate(blocks, &rules).unwrap();
}

#[test]
fn too_many_transactions() {
    let rules = Rules::new(2, Amount::new(100).unwrap(), 0.0, 2);
    let mut blocks = good_chain(&rules);
    blocks[2]
        .transactions
        .insert(0, pay(alice(), bob().address(), 1, Some(1)));
    expect_broken(blocks, &rules, 3, |r| {
        *r == Rule::TooManyTransactions { count: 3, max: 2 }
    });
}

#[test]
fn empty_chain() {
    let rules = rules();
    expect_broken(vec![], &rules, 1, |r| *r == Rule::Empty);
}

fn as_values(blocks: &[Block]) -> Vec<Value> {
    blocks
        .iter()
        .map(|b| serde_json::to_value(b).unwrap())
        .collect()
}

fn expect_form_error(values: Vec<Value>, block: u64) -> FormError {
    let rules = rules();
    let err = Chain::from_values(&values, &rules, now(), &[]).unwrap_err();
    assert_eq!(err.block, block, "{err}");
    match err.rule {
        Rule::Form(form) => form,
        other => panic!("expected a form error, got {other}"),
    }
}

#[test]
fn json_round_trip_validates() {
    let rules = rules();
    let blocks = good_chain(&rules);
    let chain = Chain::from_values(&as_values(&blocks), &rules, now(), &[]).unwrap();
    assert_eq!(chain.blocks(), &blocks[..]);
}

#[test]
fn non_canonical_address() {
    let rules = rules();
    let mut values = as_values(&good_chain(&rules));
    // Same key, PEM with a trailing newline: decodes, but is not the canonical text.
    let recipient = values[2]["transactions"][0]["recipient"]
        .as_str()
        .unwrap()
        .to_owned();
    let pem = String::from_utf8(base64_decode(&recipient)).unwrap() + "\n";
    values[2]["transactions"][0]["recipient"] = Value::String(base64_encode(pem.as_bytes()));
    let form = expect_form_error(values, 3);
    assert_eq!(
        form,
        FormError::Transaction(
            0,
            Box::new(FormError::Address(
                "recipient",
                WalletError::NonCanonicalAddress
            ))
        )
    );
}

#[test]
fn extra_field() {
    let rules = rules();
    let mut values = as_values(&good_chain(&rules));
    values[2]["miner_note"] = Value::from("hello");
    let form = expect_form_error(values.clone(), 3);
    assert!(form.to_string().contains("miner_note"), "{form}");
    // Also in a transaction.
    let mut values = as_values(&good_chain(&rules));
    values[1]["transactions"][0]["fee"] = Value::from(1);
    let form = expect_form_error(values, 2);
    assert!(form.to_string().contains("fee"), "{form}");
}

#[test]
fn string_amount_in_a_block_is_malformed() {
    let rules = rules();
    let mut values = as_values(&good_chain(&rules));
    values[2]["transactions"][0]["amount"] = Value::from("30");
    let form = expect_form_error(values, 3);
    assert!(
        matches!(&form, FormError::Transaction(0, inner) if matches!(**inner, FormError::Structure(_))),
        "a digit-string amount in a block is a JSON type error of transaction 0: {form:?}"
    );
}

#[test]
fn trusted_prefix_skips_nothing_that_changed() {
    let rules = rules();
    let blocks = good_chain(&rules);
    let ours = validate(blocks.clone(), &rules).unwrap();
    // A peer's chain that shares our first two blocks but forges the third.
    let mut theirs = blocks;
    if let Transaction::Signed { transfer, .. } = &mut theirs[2].transactions[0] {
        transfer.amount = Amount::new(60).unwrap();
    }
    let err = Chain::validate(theirs, &rules, now(), ours.hashes()).unwrap_err();
    assert_eq!(err.block, 3);
    assert!(matches!(err.rule, Rule::Signature { .. }), "{err}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
