//! Shared test fixtures: a few wallets made once, signing, and mining blocks at a low difficulty.
#![allow(dead_code)]

use std::sync::OnceLock;

use node::chain::pow::PowTarget;
use node::chain::{Block, Chain, PreviousHash, Rules, Timestamp, Transaction};
use wallet::{Address, Amount, Nonce, Wallet};

/// Rules for tests: difficulty 2 mines in about 256 tries.
pub fn rules() -> Rules {
    Rules::new(2, Amount::new(100).unwrap(), 0.0, 50)
}

/// Three wallets, generated once per test binary.
pub fn wallets() -> &'static [Wallet; 3] {
    static WALLETS: OnceLock<[Wallet; 3]> = OnceLock::new();
    WALLETS.get_or_init(|| [Wallet::generate(), Wallet::generate(), Wallet::generate()])
}

pub fn alice() -> &'static Wallet {
    &wallets()[0]
}

pub fn bob() -> &'static Wallet {
    &wallets()[1]
}

pub fn carol() -> &'static Wallet {
    &wallets()[2]
}

/// A signed transfer from `from` to `to`.
pub fn pay(from: &Wallet, to: &Address, amount: u64, nonce: Option<u64>) -> Transaction {
    let nonce = nonce.map(|n| Nonce::new(n).unwrap());
    Transaction::sign(from, to, Amount::new(amount).unwrap(), nonce)
}

/// The reward transaction of a block mined by `miner`.
pub fn reward(rules: &Rules, miner: &Address) -> Transaction {
    Transaction::Reward {
        recipient: miner.clone(),
        amount: rules.mining_reward,
    }
}

/// Mines a block on top of `previous` holding `transactions` then the reward to `miner`.
pub fn mine_on(
    previous: &Block,
    rules: &Rules,
    transactions: Vec<Transaction>,
    miner: &Address,
) -> Block {
    let proof = PowTarget::after(previous, rules.difficulty)
        .first_valid_in(0..=u64::MAX)
        .expect("some proof is valid at a low difficulty");
    let mut transactions = transactions;
    transactions.push(reward(rules, miner));
    Block {
        index: previous.index + 1,
        previous_hash: PreviousHash::Hash(previous.hash()),
        proof,
        timestamp: Timestamp::now(),
        transactions,
    }
}

/// Mines and appends a block to `chain`.
pub fn extend(
    chain: &mut Chain,
    rules: &Rules,
    transactions: Vec<Transaction>,
    miner: &Address,
) -> Block {
    let block = mine_on(chain.tip(), rules, transactions, miner);
    chain
        .push(block.clone(), rules, now(), true)
        .expect("a freshly mined block is valid");
    block
}

/// A node in the fresh directory `dir` with one miner thread at difficulty
/// 2, after `change` has adjusted the configuration (the in-process tests).
pub fn open_node_with(
    dir: &std::path::Path,
    change: impl FnOnce(&mut node::config::Config),
) -> node::service::Node {
    let mut config = node::config::Config::default();
    config.node.data_dir = dir.to_owned();
    config.node.miner_threads = 1;
    config.chain.difficulty = 2;
    change(&mut config);
    node::server::open(config).expect("a node opens in a fresh directory")
}

/// [`open_node_with`] the configuration as it is.
pub fn open_node(dir: &std::path::Path) -> node::service::Node {
    open_node_with(dir, |_| {})
}

/// This machine's clock, in seconds.
pub fn now() -> f64 {
    Timestamp::now().as_secs_f64()
}

/// The mining job of `state` and a proof found for it, as a node's search gives them.
pub fn job_and_proof(state: &node::state::State) -> (node::state::MiningJob, u64) {
    let job = state.mining_job();
    let proof = PowTarget::new(job.last_proof, job.last_hash, state.rules().difficulty)
        .first_valid_in(0..=u64::MAX)
        .expect("some proof is valid at a low difficulty");
    (job, proof)
}

/// Mines one block on `state` as a node does: a job, a proof search, then `complete_block` paying `miner`.
pub fn mine_state(state: &mut node::state::State, miner: &Address) -> node::state::Mined {
    let (job, proof) = job_and_proof(state);
    state
        .complete_block(&job, proof, miner, Timestamp::now())
        .expect("nothing changes the state between the job and the block")
}

/// How many times a transaction with `signature` appears in `blocks`.
pub fn occurrences(blocks: &[Block], signature: &wallet::Signature) -> usize {
    blocks
        .iter()
        .flat_map(|b| b.transactions.iter())
        .filter(|t| t.signature() == Some(signature))
        .count()
}
