//! Property tests of the node state: random transfers and mined blocks keep ledger, pool and chain consistent; a rejected block changes nothing; adopting a longer chain loses no transfer.

mod common;

use std::collections::HashMap;

use common::*;
use node::chain::pow::PowTarget;
use node::chain::{Block, Chain, PreviousHash, Rule, Rules, Timestamp, Transaction};
use node::chain::{Ledger, LedgerError, Signatures};
use node::index::ChainIndex;
use node::pool::AdmitError;
use node::state::State;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use wallet::{Address, Amount, Signature};

/// Property cases per test: each case signs up to a few dozen transfers at about 1 ms each.
const CASES: u32 = 64;

/// A block holds at most 3 transfers and the reward, so pending transfers often wait for a later block.
const BLOCK_TRANSACTIONS: usize = 4;

/// A small pool cap, so that "pool full" happens too.
const POOL_CAP: usize = 5;

/// The mining reward of [`small_rules`].
const REWARD: u64 = 100;

/// Difficulty 2 (cheap to mine) with small blocks.
fn small_rules() -> Rules {
    Rules::new(
        2,
        Amount::new(REWARD).expect("100 is in the amount range"),
        0.0,
        BLOCK_TRANSACTIONS,
    )
}

/// The address of fixture wallet `who` (0 alice, 1 bob, 2 carol).
fn address(who: usize) -> &'static Address {
    wallets()[who].address()
}

fn signature_of(tx: &Transaction) -> &Signature {
    tx.signature()
        .expect("tests submit only signed transfers, never rewards")
}

fn sender_of(tx: &Transaction) -> &Address {
    match tx {
        Transaction::Signed { transfer, .. } => &transfer.sender,
        Transaction::Reward { .. } => panic!("tests submit only signed transfers, never rewards"),
    }
}

/// The signed transfers of `blocks`, in chain order.
fn signed_in(blocks: &[Block]) -> Vec<Transaction> {
    blocks
        .iter()
        .flat_map(|b| b.transactions.iter())
        .filter(|t| t.signature().is_some())
        .cloned()
        .collect()
}

fn pool_of(state: &State) -> Vec<Transaction> {
    state.pool().iter().cloned().collect()
}

fn invalid(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

// ---------------------------------------------------------------------------
// Random sequences of submissions and mined blocks, checked against a model.

/// One thing that happens to a node.
#[derive(Debug, Clone)]
enum Op {
    /// Sign and submit a transfer. Small nonces make the same signed transfer
    /// recur (RSA PKCS#1 v1.5 signatures are deterministic), i.e. replays.
    Pay {
        from: usize,
        to: usize,
        amount: u64,
        nonce: Option<u64>,
    },
    /// Submit again a transfer submitted before.
    Resubmit(Index),
    /// Mine a block paying `miner`.
    Mine { miner: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..3usize, 0..3usize, 1..=60u64, proptest::option::of(0..4u64))
            .prop_map(|(from, to, amount, nonce)| Op::Pay { from, to, amount, nonce }),
        1 => any::<Index>().prop_map(Op::Resubmit),
        3 => (0..3usize).prop_map(|miner| Op::Mine { miner }),
    ]
}

/// What the state should hold, computed without the node's ledger or pool.
#[derive(Default)]
struct Model {
    balances: HashMap<Address, u64>,
    minted: u64,
    /// Pending transfers in arrival order.
    pending: Vec<Transaction>,
    /// Every transfer the state admitted, in order.
    admitted: Vec<Transaction>,
    /// Signatures in the chain.
    confirmed: Vec<Signature>,
}

impl Model {
    fn balance(&self, address: &Address) -> u64 {
        self.balances.get(address).copied().unwrap_or(0)
    }

    fn outgoing(&self, address: &Address) -> u64 {
        self.pending
            .iter()
            .filter(|t| sender_of(t) == address)
            .map(|t| t.amount().get())
            .sum()
    }

    /// Every reason the pool may give for refusing `tx`; empty if it must admit it.
    fn refusals(&self, tx: &Transaction, cap: usize) -> Vec<AdmitError> {
        let signature = signature_of(tx);
        let mut reasons = Vec::new();
        if self.confirmed.contains(signature) {
            reasons.push(AdmitError::ReplayInChain);
        }
        if self.pending.iter().any(|p| signature_of(p) == signature) {
            reasons.push(AdmitError::ReplayInPool);
        }
        let balance = self.balance(sender_of(tx));
        let pending = self.outgoing(sender_of(tx));
        let amount = tx.amount().get();
        if pending + amount > balance {
            reasons.push(AdmitError::InsufficientBalance {
                balance,
                pending,
                amount,
            });
        }
        if self.pending.len() >= cap {
            reasons.push(AdmitError::Full { cap });
        }
        reasons
    }

    /// Takes the block body the node should mine next and applies the block.
    fn mine(&mut self, room: usize, miner: &Address) -> Vec<Transaction> {
        let taken: Vec<Transaction> = self.pending.drain(..room.min(self.pending.len())).collect();
        for tx in &taken {
            let Transaction::Signed {
                transfer,
                signature,
            } = tx
            else {
                panic!("the model holds only signed transfers");
            };
            let amount = transfer.amount.get();
            let sender = self.balances.entry(transfer.sender.clone()).or_default();
            *sender = sender
                .checked_sub(amount)
                .expect("the model admits only transfers its sender can pay");
            *self.balances.entry(transfer.recipient.clone()).or_default() += amount;
            self.confirmed.push(signature.clone());
        }
        *self.balances.entry(miner.clone()).or_default() += REWARD;
        self.minted += REWARD;
        taken
    }
}

/// Submits `tx` to the state and checks the answer against the model.
fn submit(state: &mut State, model: &mut Model, tx: Transaction) -> Result<(), TestCaseError> {
    let refusals = model.refusals(&tx, POOL_CAP);
    match state.admit(tx.clone()) {
        Ok(()) => {
            prop_assert!(
                refusals.is_empty(),
                "admitted a transfer that should be refused with one of {:?}",
                refusals
            );
            model.pending.push(tx.clone());
            model.admitted.push(tx);
        }
        Err(error) => prop_assert!(
            refusals.contains(&error),
            "refused with {:?}, expected one of {:?}",
            error,
            refusals
        ),
    }
    Ok(())
}

/// The invariants that hold after every step.
fn assert_consistent(state: &State, model: &Model) -> Result<(), TestCaseError> {
    let ledger = state.chain().ledger();
    prop_assert_eq!(ledger.total(), ledger.minted());
    prop_assert_eq!(ledger.minted(), model.minted);
    prop_assert_eq!(ledger.minted(), REWARD * (state.chain().len() as u64 - 1));
    for wallet in wallets() {
        let address = wallet.address();
        let (balance, outgoing) = state.balance(address);
        prop_assert_eq!(balance, model.balance(address));
        prop_assert_eq!(outgoing, model.outgoing(address));
        prop_assert!(
            outgoing <= balance,
            "pending spends {} exceed the balance {}",
            outgoing,
            balance
        );
    }
    let pool = pool_of(state);
    prop_assert_eq!(state.pool().len(), pool.len());
    prop_assert_eq!(&pool, &model.pending);
    let blocks = &state.all_blocks().unwrap();
    for tx in &model.admitted {
        let signature = signature_of(tx);
        let in_chain = occurrences(blocks, signature);
        let pending = usize::from(state.pool().contains(signature));
        prop_assert_eq!(
            in_chain + pending,
            1,
            "an admitted transfer is {} times in the chain and {} times pending",
            in_chain,
            pending
        );
        prop_assert_eq!(ledger.has_seen(signature), in_chain == 1);
    }
    // Together with the loop above: the chain and pool hold nothing that was not admitted.
    prop_assert_eq!(signed_in(blocks).len() + pool.len(), model.admitted.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn random_transfers_and_blocks_keep_the_state_consistent(ops in vec(op(), 1..40)) {
        let rules = small_rules();
        let mut state = State::new(rules.clone(), POOL_CAP);
        let mut model = Model::default();
        let mut submitted: Vec<Transaction> = Vec::new();
        for op in ops {
            match op {
                Op::Pay { from, to, amount, nonce } => {
                    let tx = pay(&wallets()[from], address(to), amount, nonce);
                    submitted.push(tx.clone());
                    submit(&mut state, &mut model, tx)?;
                }
                Op::Resubmit(which) => {
                    if !submitted.is_empty() {
                        let tx = submitted[which.index(submitted.len())].clone();
                        submit(&mut state, &mut model, tx)?;
                    }
                }
                Op::Mine { miner } => {
                    let job = state.mining_job();
                    prop_assert_eq!(job.index, state.chain().len() as u64 + 1);
                    prop_assert_eq!(&job.last_hash, state.chain().tip_hash());
                    prop_assert_eq!(job.last_proof, state.chain().tip().proof);
                    let mined = mine_state(&mut state, address(miner));
                    let taken = model.mine(BLOCK_TRANSACTIONS - 1, address(miner));
                    let mut body = taken.clone();
                    body.push(reward(&rules, address(miner)));
                    prop_assert_eq!(&mined.block.transactions, &body, "the oldest pending transfers, then the reward");
                    let taken: Vec<Signature> = taken.iter().map(|t| signature_of(t).clone()).collect();
                    prop_assert_eq!(&mined.included, &taken);
                    prop_assert_eq!(state.chain().tip(), &mined.block);
                }
            }
            assert_consistent(&state, &model)?;
        }

        let blocks = state.all_blocks().unwrap();
        let validated = Chain::validate(blocks.clone(), &rules, now(), &[]).map_err(invalid)?;
        prop_assert_eq!(validated.ledger(), state.chain().ledger());
        prop_assert_eq!(validated.hashes(), state.chain().hashes());

        // What a node stores (blocks and pool) restores the same state.
        let pending = pool_of(&state);
        let (restored, dropped) =
            State::from_blocks(rules, POOL_CAP, blocks, pending.clone(), now(), Signatures::Verify).map_err(invalid)?;
        prop_assert!(dropped.is_empty(), "restore dropped {:?}", dropped);
        prop_assert_eq!(pool_of(&restored), pending);
        prop_assert_eq!(restored.chain().ledger(), state.chain().ledger());
        // The index kept up block by block equals the one a restart builds.
        prop_assert_eq!(restored.index(), state.index());
    }
}

// ---------------------------------------------------------------------------
// A rejected block leaves the ledger and the chain as they were.

/// Genesis, one reward each to alice, bob and carol, then a block in which
/// alice pays bob 10 (mined by carol). Balances: alice 90, bob 110, carol 200.
/// Also returns that payment, for replays.
fn funded_chain(rules: &Rules) -> (Chain, Transaction) {
    let mut chain = Chain::new(rules);
    for who in 0..3 {
        extend(&mut chain, rules, vec![], address(who));
    }
    let spent = pay(alice(), bob().address(), 10, Some(0));
    extend(&mut chain, rules, vec![spent.clone()], carol().address());
    (chain, spent)
}

/// How the bad transfer breaks the ledger rules.
#[derive(Debug, Clone)]
enum Bad {
    /// `who` pays `over` more than it has at that point of the block.
    Overspend { who: usize, over: u64 },
    /// The transfer already in the chain, again.
    ReplayFromChain,
    /// A transfer earlier in the same block, again.
    ReplayInBlock(Index),
}

fn bad() -> impl Strategy<Value = Bad> {
    prop_oneof![
        (0..3usize, 1..=50u64).prop_map(|(who, over)| Bad::Overspend { who, over }),
        Just(Bad::ReplayFromChain),
        any::<Index>().prop_map(Bad::ReplayInBlock),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn a_rejected_block_changes_neither_ledger_nor_chain(
        prefix in vec((0..3usize, 0..3usize, 1..=30u64), 0..4),
        bad in bad(),
        trailing in any::<bool>(),
        miner in 0..3usize,
    ) {
        let rules = rules();
        let (chain, spent) = funded_chain(&rules);
        let mut balances: Vec<u64> =
            (0..3).map(|who| chain.ledger().balance(address(who))).collect();

        // Valid transfers first (at most 90 from anyone, who all have 90 or more).
        let mut body = Vec::new();
        for (n, &(from, to, amount)) in prefix.iter().enumerate() {
            body.push(pay(&wallets()[from], address(to), amount, Some(100 + n as u64)));
            balances[from] -= amount;
            balances[to] += amount;
        }
        let at = body.len();
        let (bad_tx, expected) = match bad {
            Bad::Overspend { who, over } => {
                let balance = balances[who];
                let amount = balance + over;
                let tx = pay(&wallets()[who], address((who + 1) % 3), amount, Some(999));
                (tx, LedgerError::Overspend { tx: at, balance, amount })
            }
            Bad::ReplayInBlock(which) if !body.is_empty() => {
                (body[which.index(body.len())].clone(), LedgerError::Replay { tx: at })
            }
            Bad::ReplayFromChain | Bad::ReplayInBlock(_) => {
                (spent.clone(), LedgerError::Replay { tx: at })
            }
        };
        body.push(bad_tx);
        if trailing {
            body.push(pay(carol(), alice().address(), 1, Some(1000)));
        }
        let block = mine_on(chain.tip(), &rules, body.clone(), address(miner));

        let mut ledger: Ledger = chain.ledger().clone();
        prop_assert_eq!(ledger.apply(&block), Err(expected.clone()));
        prop_assert_eq!(&ledger, chain.ledger(), "a rejected block changed the ledger");

        let mut pushed = chain.clone();
        let error = pushed.push(block, &rules, now(), true).expect_err("the block breaks a ledger rule");
        prop_assert_eq!(error, Rule::Ledger(expected).at(chain.len() as u64 + 1));
        prop_assert_eq!(pushed.len(), chain.len());
        prop_assert_eq!(pushed.tip_hash(), chain.tip_hash());
        prop_assert_eq!(pushed.blocks(), chain.blocks());
        prop_assert_eq!(pushed.ledger(), chain.ledger(), "a rejected block changed the chain's ledger");

        // The valid part alone is accepted: the bad transfer was the reason.
        let good = mine_on(chain.tip(), &rules, body[..at].to_vec(), address(miner));
        pushed.push(good, &rules, now(), true).map_err(invalid)?;
        for (who, &balance) in balances.iter().enumerate() {
            let reward = if who == miner { rules.mining_reward.get() } else { 0 };
            prop_assert_eq!(pushed.ledger().balance(address(who)), balance + reward);
        }
        prop_assert_eq!(pushed.ledger().total(), pushed.ledger().minted());
    }
}

/// A block breaking a header or signature rule is refused by `Chain::push`, which then changes nothing.
#[test]
fn a_block_breaking_any_rule_leaves_the_chain_unchanged() {
    let rules = rules();
    let (chain, spent) = funded_chain(&rules);
    let good = mine_on(
        chain.tip(),
        &rules,
        vec![pay(bob(), carol().address(), 5, Some(7))],
        alice().address(),
    );
    let target = PowTarget::after(chain.tip(), rules.difficulty);
    let bad_proof = (0..)
        .find(|p| !target.check(*p))
        .expect("most proofs are invalid");
    let genesis_hash = chain.hashes()[0];
    let future = Timestamp::from_secs_f64(now() + 3.0 * 3600.0).expect("a finite time");
    let other_signature = spent.signature().cloned().expect("a signed transfer");

    type Corrupt = Box<dyn Fn(&mut Block)>;
    type IsRule = fn(&Rule) -> bool;
    let cases: Vec<(&str, Corrupt, IsRule)> = vec![
        ("bad proof", Box::new(move |b| b.proof = bad_proof), |r| {
            matches!(r, Rule::Proof { .. })
        }),
        (
            "broken link",
            Box::new(move |b| b.previous_hash = PreviousHash::Hash(genesis_hash)),
            |r| *r == Rule::Link,
        ),
        ("wrong index", Box::new(|b| b.index += 1), |r| {
            matches!(r, Rule::Index { .. })
        }),
        (
            "reward too high",
            Box::new(|b| {
                let last = b.transactions.len() - 1;
                b.transactions[last] = Transaction::Reward {
                    recipient: alice().address().clone(),
                    amount: Amount::new(REWARD + 1).expect("in range"),
                };
            }),
            |r| matches!(r, Rule::RewardAmount { .. }),
        ),
        (
            "no reward",
            Box::new(|b| {
                b.transactions.pop();
            }),
            |r| *r == Rule::NoReward,
        ),
        (
            "bad signature",
            Box::new(move |b| {
                if let Transaction::Signed { signature, .. } = &mut b.transactions[0] {
                    *signature = other_signature.clone();
                }
            }),
            |r| matches!(r, Rule::Signature { tx: 0, .. }),
        ),
        (
            "timestamp too far ahead",
            Box::new(move |b| b.timestamp = future.clone()),
            |r| matches!(r, Rule::FutureTimestamp { .. }),
        ),
    ];
    for (what, corrupt, is_rule) in cases {
        let mut bad = good.clone();
        corrupt(&mut bad);
        let mut pushed = chain.clone();
        let error = pushed.push(bad, &rules, now(), true).expect_err(what);
        assert_eq!(error.block, chain.len() as u64 + 1, "{what}: {error}");
        assert!(is_rule(&error.rule), "{what}: wrong rule: {error}");
        assert_eq!(pushed.hashes(), chain.hashes(), "{what} changed the chain");
        assert_eq!(pushed.ledger(), chain.ledger(), "{what} changed the ledger");
    }

    let tight = Rules {
        max_block_transactions: 1,
        ..rules.clone()
    };
    let mut pushed = chain.clone();
    let error = pushed
        .push(good.clone(), &tight, now(), true)
        .expect_err("two transactions exceed a limit of one");
    assert!(matches!(
        error.rule,
        Rule::TooManyTransactions { count: 2, max: 1 }
    ));
    assert_eq!(pushed.hashes(), chain.hashes());

    // The uncorrupted block is accepted.
    pushed
        .push(good, &rules, now(), true)
        .expect("the uncorrupted block is valid");
    assert_eq!(pushed.len(), chain.len() + 1);
}

// ---------------------------------------------------------------------------
// Adopting a longer chain.

/// The pool adopting `candidate` should leave, and what it should drop:
/// transfers of our abandoned blocks in chain order, then our old pool in
/// arrival order; those in the new chain leave, those the new balances still
/// cover are pending, the rest are dropped with the reason.
fn expected_after_adopt(
    abandoned: &[Transaction],
    old_pool: &[Transaction],
    ledger: &Ledger,
) -> (Vec<Transaction>, Vec<(Transaction, AdmitError)>) {
    let mut pool: Vec<Transaction> = Vec::new();
    let mut dropped = Vec::new();
    let mut outgoing: HashMap<&Address, u64> = HashMap::new();
    for tx in abandoned.iter().chain(old_pool) {
        let signature = signature_of(tx);
        if ledger.has_seen(signature) || pool.iter().any(|p| signature_of(p) == signature) {
            continue;
        }
        let balance = ledger.balance(sender_of(tx));
        let pending = outgoing.get(sender_of(tx)).copied().unwrap_or(0);
        let amount = tx.amount().get();
        if pending + amount <= balance {
            outgoing.insert(sender_of(tx), pending + amount);
            pool.push(tx.clone());
        } else {
            let reason = AdmitError::InsufficientBalance {
                balance,
                pending,
                amount,
            };
            dropped.push((tx.clone(), reason));
        }
    }
    (pool, dropped)
}

/// One step of two diverging nodes.
#[derive(Debug, Clone)]
enum Step {
    /// A transfer submitted to one node (and to the other too if `shared`).
    Pay {
        from: usize,
        to: usize,
        amount: u64,
        shared: bool,
    },
    /// A block mined on one node.
    Mine { miner: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 0..3usize, 20..=100u64, any::<bool>())
            .prop_map(|(from, to, amount, shared)| Step::Pay { from, to, amount, shared }),
        1 => (0..3usize).prop_map(|miner| Step::Mine { miner }),
    ]
}

/// Pool cap for the adoption tests: room for everything they submit.
const LARGE_POOL: usize = 64;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn adopting_a_longer_chain_loses_no_transfer(
        // Steps on our node before the other one copies its chain.
        common in vec(step(), 0..6),
        // `true`: the step happens on the node that will adopt (ours).
        steps in vec((any::<bool>(), step()), 0..24),
        extra in 0..2usize,
    ) {
        let rules = small_rules();
        let mut ours = State::new(rules.clone(), LARGE_POOL);
        for who in 0..3 {
            mine_state(&mut ours, address(who));
        }
        // Every transfer our node ever admitted.
        let mut admitted: Vec<Transaction> = Vec::new();
        let mut nonce = 0..;
        for step in common {
            match step {
                Step::Pay { from, to, amount, .. } => {
                    let nonce = nonce.next().expect("an endless range");
                    let tx = pay(&wallets()[from], address(to), amount, Some(nonce));
                    if ours.admit(tx.clone()).is_ok() {
                        admitted.push(tx);
                    }
                }
                Step::Mine { miner } => {
                    mine_state(&mut ours, address(miner));
                }
            }
        }
        let mut theirs = State::new(rules.clone(), LARGE_POOL);
        let first = theirs.adopt(&chain_of(&ours), now()).unwrap().expect("four blocks are longer than genesis");
        prop_assert_eq!(first.kept, 1);
        prop_assert_eq!(first.returned, 0);
        prop_assert!(first.dropped.is_empty());
        prop_assert!(theirs.pool().is_empty());
        prop_assert_eq!(theirs.chain().hashes(), ours.chain().hashes());
        let shared_blocks = ours.chain().len();

        for (on_ours, step) in steps {
            let (this, other) = if on_ours { (&mut ours, &mut theirs) } else { (&mut theirs, &mut ours) };
            match step {
                Step::Pay { from, to, amount, shared } => {
                    let nonce = nonce.next().expect("an endless range");
                    let tx = pay(&wallets()[from], address(to), amount, Some(nonce));
                    let here = this.admit(tx.clone()).is_ok();
                    let there = shared && other.admit(tx.clone()).is_ok();
                    if (on_ours && here) || (!on_ours && there) {
                        admitted.push(tx);
                    }
                }
                Step::Mine { miner } => {
                    mine_state(this, address(miner));
                }
            }
        }
        while theirs.chain().len() <= ours.chain().len() + extra {
            mine_state(&mut theirs, address(2));
        }

        let old = ours.clone();
        let candidate = chain_of(&theirs);
        let adopted = ours.adopt(&candidate, now()).unwrap().expect("the candidate is longer");

        prop_assert_eq!(&ours.all_blocks().unwrap()[..], candidate.blocks());
        prop_assert_eq!(ours.chain().hashes(), candidate.hashes());
        prop_assert_eq!(ours.chain().ledger(), candidate.ledger());
        // The explorer's index follows the adoption as if built afresh.
        prop_assert_eq!(ours.index(), &ChainIndex::build(candidate.blocks(), candidate.hashes()));
        let kept = old
            .chain()
            .hashes()
            .iter()
            .zip(candidate.hashes())
            .take_while(|(a, b)| a == b)
            .count();
        prop_assert!(kept >= shared_blocks, "the blocks before the split are shared");
        prop_assert_eq!(adopted.kept, kept);
        prop_assert_eq!(&adopted.blocks[..], &candidate.blocks()[kept..]);

        let abandoned = signed_in(&old.all_blocks().unwrap()[kept..]);
        let (pool, dropped) = expected_after_adopt(&abandoned, &pool_of(&old), candidate.ledger());
        prop_assert_eq!(&pool_of(&ours), &pool);
        prop_assert_eq!(&adopted.dropped, &dropped);
        let returned = pool.iter().filter(|t| abandoned.contains(t)).count();
        prop_assert_eq!(adopted.returned, returned);

        // Nothing lost: every transfer ours admitted is in the chain, pending or dropped, once.
        for tx in &admitted {
            let signature = signature_of(tx);
            let in_chain = occurrences(&ours.all_blocks().unwrap(), signature);
            let pending = usize::from(ours.pool().contains(signature));
            let was_dropped = adopted.dropped.iter().filter(|(t, _)| t == tx).count();
            prop_assert_eq!(in_chain + pending + was_dropped, 1, "transfer {:?}", tx);
        }
        for wallet in wallets() {
            let (balance, outgoing) = ours.balance(wallet.address());
            prop_assert!(outgoing <= balance, "pending spends {} exceed the balance {}", outgoing, balance);
        }

        // A chain that is not longer is not adopted, and changes nothing.
        let before = theirs.chain().hashes().to_vec();
        prop_assert!(theirs.adopt(&chain_of(&ours), now()).unwrap().is_none());
        prop_assert_eq!(theirs.chain().hashes(), &before[..]);

        // The rebuilt pool makes valid blocks until it is empty.
        while !ours.pool().is_empty() {
            mine_state(&mut ours, address(0));
        }
        let validated =
            Chain::validate(ours.all_blocks().unwrap(), &rules, now(), &[]).map_err(invalid)?;
        prop_assert_eq!(validated.ledger(), ours.chain().ledger());
        prop_assert_eq!(validated.ledger().total(), validated.ledger().minted());
        for tx in &admitted {
            let in_chain = occurrences(&ours.all_blocks().unwrap(), signature_of(tx));
            let was_dropped = adopted.dropped.iter().any(|(t, _)| t == tx);
            prop_assert_eq!(in_chain, usize::from(!was_dropped));
        }
    }
}

/// A worked example: our block is abandoned; one transfer of it is also in
/// the new chain, one now overspends, one is still valid; our pending one stays.
#[test]
fn adopt_returns_valid_transfers_and_drops_overspends() {
    let rules = small_rules();
    let mut ours = State::new(rules.clone(), LARGE_POOL);
    for who in 0..3 {
        mine_state(&mut ours, address(who));
    }
    let mut theirs = ours.clone();

    let overspent = pay(alice(), bob().address(), 60, Some(1));
    let still_valid = pay(bob(), carol().address(), 30, Some(2));
    let shared = pay(carol(), alice().address(), 10, Some(3));
    for tx in [&overspent, &still_valid, &shared] {
        ours.admit(tx.clone()).expect("the sender has 100");
    }
    let mined = mine_state(&mut ours, alice().address());
    assert_eq!(mined.included.len(), 3);
    let pending = pay(carol(), bob().address(), 5, Some(4));
    ours.admit(pending.clone())
        .expect("carol has 120 in our chain");

    let theirs_spend = pay(alice(), carol().address(), 70, Some(5));
    theirs.admit(shared.clone()).expect("carol has 100");
    theirs.admit(theirs_spend).expect("alice has 100");
    mine_state(&mut theirs, carol().address());
    mine_state(&mut theirs, carol().address());

    let adopted = ours
        .adopt(&chain_of(&theirs), now())
        .unwrap()
        .expect("6 blocks are longer than 5");
    assert_eq!(adopted.kept, 4);
    assert_eq!(adopted.blocks.len(), 2);
    assert_eq!(ours.chain().hashes(), theirs.chain().hashes());
    assert_eq!(adopted.returned, 1, "only bob's payment comes back");
    assert_eq!(
        adopted.dropped,
        vec![(
            overspent,
            AdmitError::InsufficientBalance {
                balance: 40,
                pending: 0,
                amount: 60
            }
        )],
        "alice has 100 + 10 - 70 = 40 in the new chain"
    );
    assert_eq!(pool_of(&ours), vec![still_valid, pending]);
    assert_eq!(ours.balance(bob().address()), (100, 30));
    // carol: 100 - 10 + 70 + two rewards of 100.
    assert_eq!(ours.balance(carol().address()), (360, 5));
}

#[test]
fn extending_with_a_peers_blocks_keeps_the_index_and_the_pool_right() {
    let rules = small_rules();
    let (chain, spent) = funded_chain(&rules);
    let mut state = State::new(rules.clone(), POOL_CAP);
    let last = chain.len() - 1;
    let funded = state.extend(chain.blocks()[1..last].to_vec(), now());
    assert!(funded.error.is_none(), "{:?}", funded.error);
    assert!(funded.unpooled.is_empty());
    // Pending here, mined in the peer's last block: it leaves our pool.
    state.admit(spent.clone()).unwrap();
    let extended = state.extend(chain.blocks()[last..].to_vec(), now());
    assert!(extended.error.is_none(), "{:?}", extended.error);
    assert_eq!(extended.appended.len(), 1);
    assert_eq!(extended.unpooled, vec![signature_of(&spent).clone()]);
    assert!(state.pool().is_empty());
    assert_eq!(state.chain().hashes(), chain.hashes());
    assert_eq!(
        state.index(),
        &ChainIndex::build(chain.blocks(), chain.hashes())
    );
}

/// The whole chain `state` holds, validated afresh: a peer's chain to adopt.
fn chain_of(state: &State) -> Chain {
    Chain::validate(state.all_blocks().unwrap(), state.rules(), now(), &[])
        .expect("a state's chain is valid")
}
