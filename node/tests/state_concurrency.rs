//! Concurrency of the node state behind one mutex: threads submitting the same signed transfers while blocks are mined admit each exactly once and lose none.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use node::chain::pow::PowTarget;
use node::chain::{Chain, Rules, Timestamp, Transaction};
use node::miner::Miner;
use node::pool::AdmitError;
use node::state::{MineError, State};
use wallet::Signature;

/// How long a whole test may take before it counts as hung (a deadlock).
const DEADLINE: Duration = Duration::from_secs(120);

/// A reward big enough that no sender runs out in these tests.
const REWARD: u64 = 1_000_000;

/// Blocks of at most 9 transfers, so a run takes many blocks and transfers
/// keep arriving while proofs are searched.
const BLOCK_TRANSACTIONS: usize = 10;

/// Pool cap: above the number of transfers, so "pool full" never interferes.
const POOL_CAP: usize = 1000;

const POISONED: &str = "no thread panics while holding the state lock";

fn busy_rules(difficulty: u32) -> Rules {
    Rules::new(
        difficulty,
        wallet::Amount::new(REWARD).expect("a million is in the amount range"),
        0.0,
        BLOCK_TRANSACTIONS,
    )
}

/// Runs `body` on its own thread and fails the test if it does not finish
/// within [`DEADLINE`], so a deadlock fails instead of hanging.
fn within_deadline<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = mpsc::channel();
    let handle = thread::spawn(move || {
        // The receiver is gone only if the test already failed on the deadline.
        let _ = sender.send(body());
    });
    match receiver.recv_timeout(DEADLINE) {
        Ok(value) => {
            handle
                .join()
                .expect("the body thread has sent its result, after which it cannot panic");
            value
        }
        Err(RecvTimeoutError::Disconnected) => {
            let panic = handle
                .join()
                .expect_err("the body thread ended without sending a result, so it panicked");
            std::panic::resume_unwind(panic)
        }
        Err(RecvTimeoutError::Timeout) => {
            panic!("the test did not finish within {DEADLINE:?}: a deadlock?")
        }
    }
}

/// What one mining thread did.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    mined: usize,
    stale: usize,
    included: usize,
}

/// Everything a run produced, for the assertions.
struct Outcome {
    funded: State,
    state: State,
    transfers: Vec<Transaction>,
    /// Per submitting thread: (transfer number, what `admit` answered).
    answers: Vec<Vec<(usize, Result<(), AdmitError>)>>,
    tallies: Vec<Tally>,
    lanes: usize,
}

/// Submits, in order, every transfer of `lane` as an HTTP handler would:
/// verify the signature outside the lock, admit under it.
fn submit_lane(
    state: &Mutex<State>,
    transfers: &[Transaction],
    lane: usize,
    lanes: usize,
    start: &Barrier,
) -> Vec<(usize, Result<(), AdmitError>)> {
    start.wait();
    transfers
        .iter()
        .enumerate()
        .filter(|(i, _)| i % lanes == lane)
        .map(|(i, tx)| {
            let Transaction::Signed {
                transfer,
                signature,
            } = tx
            else {
                panic!("the test pre-signs transfers only");
            };
            transfer
                .verify(signature)
                .expect("the pre-signed transfers verify");
            let answer = state.lock().expect(POISONED).admit(tx.clone());
            (i, answer)
        })
        .collect()
}

/// Mines blocks paying bob while anything is pending, until `done` says the
/// submitters have finished and the pool is empty. The search runs outside
/// the lock, as the node's miner does.
fn mine_until_done(
    state: &Mutex<State>,
    done: &AtomicBool,
    start: &Barrier,
    deadline: Instant,
) -> Tally {
    let miner = Miner::new(1);
    let cancel = AtomicBool::new(false);
    let mut tally = Tally::default();
    start.wait();
    loop {
        assert!(
            Instant::now() < deadline,
            "mining did not finish in time: {tally:?}"
        );
        // Read before locking: if it is set, every admission has already happened.
        let finished = done.load(Ordering::Acquire);
        let next = {
            let state = state.lock().expect(POISONED);
            if state.pool().is_empty() {
                if finished {
                    return tally;
                }
                None
            } else {
                Some((state.mining_job(), state.rules().difficulty))
            }
        };
        let Some((job, difficulty)) = next else {
            // Nothing to mine yet; a short bounded pause (the loop checks the deadline).
            thread::sleep(Duration::from_micros(200));
            continue;
        };
        let target = PowTarget::new(job.last_proof, job.last_hash, difficulty);
        let proof = miner
            .search(&target, &cancel)
            .expect("nobody cancels this search and low difficulties have proofs");
        let completed = state.lock().expect(POISONED).complete_block(
            &job,
            proof,
            bob().address(),
            Timestamp::now(),
        );
        match completed {
            Ok(mined) => {
                tally.mined += 1;
                tally.included += mined.included.len();
            }
            Err(MineError::Stale) => tally.stale += 1,
            Err(MineError::Invalid(error)) => panic!("the node's own block is invalid: {error}"),
        }
    }
}

/// Funds the three wallets, pre-signs `count` transfers, and has `submitters`
/// threads submit each transfer twice (threads `t` and `t + submitters / 2`
/// submit the same ones in the same order) while `miners` threads mine at `difficulty`.
fn run(difficulty: u32, submitters: usize, miners: usize, count: usize) -> Outcome {
    assert!(submitters >= 2 && submitters.is_multiple_of(2));
    let lanes = submitters / 2;
    let mut state = State::new(busy_rules(difficulty), POOL_CAP);
    for wallet in wallets() {
        mine_state(&mut state, wallet.address());
    }
    let funded = state.clone();
    let transfers: Vec<Transaction> = (0..count)
        .map(|i| {
            let from = i % 3;
            let to = (from + 1 + (i / 3) % 2) % 3;
            pay(
                &wallets()[from],
                wallets()[to].address(),
                1 + (i % 97) as u64,
                Some(i as u64),
            )
        })
        .collect();

    let state = Mutex::new(state);
    let done = AtomicBool::new(false);
    let start = Barrier::new(submitters + miners);
    let deadline = Instant::now() + DEADLINE - Duration::from_secs(10);
    let (answers, tallies) = thread::scope(|scope| {
        let mining: Vec<_> = (0..miners)
            .map(|_| scope.spawn(|| mine_until_done(&state, &done, &start, deadline)))
            .collect();
        let submitting: Vec<_> = (0..submitters)
            .map(|t| {
                let (state, transfers, start) = (&state, &transfers, &start);
                scope.spawn(move || submit_lane(state, transfers, t % lanes, lanes, start))
            })
            .collect();
        // Join without unwrapping first, so that the miners are told to stop
        // even if a submitter panicked.
        let answers: Vec<_> = submitting.into_iter().map(|h| h.join()).collect();
        done.store(true, Ordering::Release);
        let tallies: Vec<_> = mining.into_iter().map(|h| h.join()).collect();
        let answers: Vec<_> = answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect();
        let tallies: Vec<_> = tallies
            .into_iter()
            .map(|t| t.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect();
        (answers, tallies)
    });
    Outcome {
        funded,
        state: state.into_inner().expect(POISONED),
        transfers,
        answers,
        tallies,
        lanes,
    }
}

/// Nothing duplicated, nothing lost, arrival order kept, and a valid chain.
fn assert_outcome(outcome: &Outcome) {
    let count = outcome.transfers.len();
    let mut answers: Vec<Vec<&Result<(), AdmitError>>> = vec![Vec::new(); count];
    for (i, answer) in outcome.answers.iter().flatten() {
        answers[*i].push(answer);
    }
    for (i, answers) in answers.iter().enumerate() {
        assert_eq!(answers.len(), 2, "transfer {i} is submitted twice");
        let admitted = answers.iter().filter(|a| a.is_ok()).count();
        assert_eq!(
            admitted, 1,
            "transfer {i} admitted {admitted} times: {answers:?}"
        );
        for answer in answers {
            if let Err(error) = answer {
                assert!(
                    matches!(error, AdmitError::ReplayInPool | AdmitError::ReplayInChain),
                    "the second submission of transfer {i} was refused for the wrong reason: {error}"
                );
            }
        }
    }

    let state = &outcome.state;
    assert!(
        state.pool().is_empty(),
        "{} transfers still pending",
        state.pool().len()
    );
    let blocks = &state.all_blocks().unwrap();
    let mut position: HashMap<&Signature, (usize, usize)> = HashMap::new();
    for (b, block) in blocks.iter().enumerate() {
        for (t, tx) in block.transactions.iter().enumerate() {
            if let Some(signature) = tx.signature() {
                let earlier = position.insert(signature, (b, t));
                assert!(earlier.is_none(), "a transfer is in the chain twice");
            }
        }
    }
    assert_eq!(
        position.len(),
        count,
        "the chain holds exactly the transfers"
    );
    let positions: Vec<(usize, usize)> = outcome
        .transfers
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            let signature = tx.signature().expect("a signed transfer");
            *position
                .get(signature)
                .unwrap_or_else(|| panic!("transfer {i} is not in the chain"))
        })
        .collect();
    // Both threads of a lane submit in number order, so its transfers arrive,
    // and must be mined, in number order.
    for lane in 0..outcome.lanes {
        let in_lane: Vec<_> = positions.iter().skip(lane).step_by(outcome.lanes).collect();
        assert!(
            in_lane.windows(2).all(|w| w[0] < w[1]),
            "lane {lane} was mined out of arrival order: {in_lane:?}"
        );
    }

    let mined: usize = outcome.tallies.iter().map(|t| t.mined).sum();
    let included: usize = outcome.tallies.iter().map(|t| t.included).sum();
    assert_eq!(included, count);
    assert_eq!(state.chain().len(), outcome.funded.chain().len() + mined);

    let validated = Chain::validate(blocks.to_vec(), state.rules(), now(), &[])
        .unwrap_or_else(|e| panic!("the mined chain is invalid: {e}"));
    assert_eq!(validated.ledger(), state.chain().ledger());
    let ledger = state.chain().ledger();
    assert_eq!(ledger.total(), ledger.minted());
    assert_eq!(ledger.minted(), REWARD * (blocks.len() as u64 - 1));

    // Each balance: funding, plus what it received, minus what it sent, plus bob's rewards.
    let mut expected: HashMap<&wallet::Address, u64> = wallets()
        .iter()
        .map(|w| {
            let address = w.address();
            (address, outcome.funded.chain().ledger().balance(address))
        })
        .collect();
    *expected
        .get_mut(bob().address())
        .expect("bob is a fixture wallet") += REWARD * mined as u64;
    for tx in &outcome.transfers {
        let Transaction::Signed { transfer, .. } = tx else {
            panic!("the test pre-signs transfers only");
        };
        *expected
            .get_mut(&transfer.sender)
            .expect("senders are fixture wallets") -= transfer.amount.get();
        *expected
            .get_mut(&transfer.recipient)
            .expect("recipients are fixture wallets") += transfer.amount.get();
    }
    for (address, balance) in expected {
        assert_eq!(ledger.balance(address), balance);
    }
}

#[test]
fn eight_submitters_and_a_miner_admit_each_transfer_once_and_lose_none() {
    let outcome = within_deadline(|| run(2, 8, 1, 200));
    assert_outcome(&outcome);
    let tally = outcome.tallies[0];
    assert_eq!(tally.stale, 0, "a lone miner's jobs never go stale");
    assert!(
        tally.mined >= 200 / (BLOCK_TRANSACTIONS - 1),
        "200 transfers need at least 23 blocks of 9"
    );
}

/// Two miners on one state: when both find a proof for the same tip, the
/// second is stale (difficulty 3 makes the searches long enough to overlap
/// often; how often is up to the scheduler).
#[test]
fn two_racing_miners_lose_and_duplicate_nothing() {
    let outcome = within_deadline(|| run(3, 4, 2, 60));
    assert_outcome(&outcome);
    let blocks: usize = outcome.tallies.iter().map(|t| t.mined).sum();
    assert!(blocks >= 60 / (BLOCK_TRANSACTIONS - 1));
}

/// A transfer admitted while a proof is searched goes into that block.
#[test]
fn a_transfer_admitted_during_the_search_is_in_the_block() {
    let mut state = State::new(busy_rules(2), POOL_CAP);
    mine_state(&mut state, alice().address());
    let (job, proof) = job_and_proof(&state);
    let late = pay(alice(), bob().address(), 5, Some(1));
    state.admit(late.clone()).expect("alice has the reward");
    let mined = state
        .complete_block(&job, proof, carol().address(), Timestamp::now())
        .expect("the tip has not moved");
    assert_eq!(mined.block.transactions[0], late);
    assert_eq!(
        mined.included,
        vec![late.signature().cloned().expect("signed")]
    );
    assert!(state.pool().is_empty());
}

/// A proof found for a tip that has since moved is refused, and changes nothing.
#[test]
fn a_proof_for_an_old_tip_is_stale_and_changes_nothing() {
    let mut state = State::new(busy_rules(2), POOL_CAP);
    mine_state(&mut state, alice().address());
    let (job, proof) = job_and_proof(&state);
    mine_state(&mut state, bob().address());
    let pending = pay(alice(), carol().address(), 5, Some(2));
    state.admit(pending.clone()).expect("alice has the reward");
    let before = state.clone();

    let result = state.complete_block(&job, proof, carol().address(), Timestamp::now());
    assert!(
        matches!(result, Err(MineError::Stale)),
        "expected Stale, got {result:?}"
    );
    assert_eq!(state.chain().hashes(), before.chain().hashes());
    assert_eq!(
        state.pool().iter().collect::<Vec<_>>(),
        vec![&pending],
        "the pending transfer waits for the next block"
    );
}
