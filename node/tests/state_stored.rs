//! The state with most blocks out of memory: reads of old blocks go through `OlderBlocks` and are checked against their hashes, a fork deeper than the blocks in memory is adopted, and a store that is behind is reported, never trusted.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use node::chain::{Block, Chain, Signatures, RECENT_BLOCKS};
use node::index::ChainIndex;
use node::state::{AdoptError, OlderBlocks, State, Unreadable};
use wallet::Address;

/// A stand-in for the store: the blocks "committed", which a test can change.
#[derive(Clone, Default)]
struct FakeStore(Arc<Mutex<Vec<Block>>>);

impl OlderBlocks for FakeStore {
    fn read(&self, from: usize, to: usize) -> Vec<Block> {
        let blocks = self.0.lock().unwrap();
        blocks[from.min(blocks.len())..to.min(blocks.len())].to_vec()
    }
}

/// A valid chain of `count` blocks, each with a reward to `miner` (no transfers: quick to mine).
fn chain_of(count: usize, miner: &Address) -> Vec<Block> {
    let rules = rules();
    let mut chain = Chain::new(&rules);
    while chain.len() < count {
        extend(&mut chain, &rules, Vec::new(), miner);
    }
    chain.blocks().to_vec()
}

/// What an adoption that fails must leave as it was: the hashes and the ledger.
fn snapshot(state: &State) -> (Vec<node::chain::BlockHash>, node::chain::Ledger) {
    (
        state.chain().hashes().to_vec(),
        state.chain().ledger().clone(),
    )
}

/// `blocks` restored into a state reading older blocks from `store`, in chunks of 100.
fn restored(blocks: &[Block], store: &FakeStore) -> State {
    *store.0.lock().unwrap() = blocks.to_vec();
    let chunks: Vec<Result<Vec<Block>, ()>> = blocks.chunks(100).map(|c| Ok(c.to_vec())).collect();
    let older: Arc<dyn OlderBlocks> = Arc::new(store.clone());
    let (state, dropped) = State::restore(
        rules(),
        100,
        older,
        blocks.len(),
        chunks,
        || Ok,
        Vec::new(),
        now(),
        Signatures::TrustStored,
    )
    .expect("a valid chain restores");
    assert!(dropped.is_empty());
    state
}

#[test]
fn old_blocks_are_read_back_and_checked_against_their_hashes() {
    let miner = alice().address();
    let blocks = chain_of(RECENT_BLOCKS + 60, miner);
    let store = FakeStore::default();
    let state = restored(&blocks, &store);

    assert_eq!(state.chain().first_recent(), 60);
    assert_eq!(state.all_blocks().unwrap(), blocks);
    assert_eq!(state.block(3).unwrap().unwrap().as_ref(), &blocks[3]);
    assert_eq!(state.block_of(&blocks[7].hash()), Some(7));
    assert_eq!(
        state.index(),
        &ChainIndex::build(&blocks, state.chain().hashes())
    );

    // A store that holds something else than the chain at a position is
    // not believed: the block is reported unreadable.
    store.0.lock().unwrap()[3].proof += 1;
    assert_eq!(
        state.block(3).unwrap().unwrap_err(),
        Unreadable { index: 4 }
    );
    // Blocks in memory do not need the store.
    store.0.lock().unwrap().clear();
    assert!(state.block(RECENT_BLOCKS + 59).unwrap().is_ok());
    assert_eq!(
        state.block(10).unwrap().unwrap_err(),
        Unreadable { index: 11 }
    );
    assert!(state.block(RECENT_BLOCKS + 60).is_none(), "past the tip");
}

#[test]
fn a_fork_deeper_than_the_blocks_in_memory_is_adopted() {
    let ours_miner = alice().address();
    let theirs_miner = bob().address();
    let shared = 40;
    let ours = chain_of(RECENT_BLOCKS + 100, ours_miner);
    // Their chain shares our first 40 blocks, then is longer.
    let mut theirs = Chain::validate(ours[..shared].to_vec(), &rules(), now(), &[]).unwrap();
    while theirs.len() < ours.len() + 5 {
        extend(&mut theirs, &rules(), Vec::new(), theirs_miner);
    }
    let store = FakeStore::default();
    let mut state = restored(&ours, &store);

    let adopted = state
        .adopt(&theirs, now())
        .expect("our abandoned blocks are readable")
        .expect("their chain is longer");
    assert_eq!(adopted.kept, shared);
    assert_eq!(adopted.blocks.len(), theirs.len() - shared);
    assert_eq!(state.chain().hashes(), theirs.hashes());
    assert_eq!(state.chain().ledger(), theirs.ledger());
    assert_eq!(
        state.chain().ledger().balance(ours_miner),
        shared as u64 * 100 - 100
    );
    // The store commits the adoption; then every block reads back.
    *store.0.lock().unwrap() = theirs.blocks().to_vec();
    assert_eq!(state.all_blocks().unwrap(), theirs.blocks());
    assert_eq!(
        state.index(),
        &ChainIndex::build(theirs.blocks(), theirs.hashes())
    );
}

#[test]
fn a_deep_fork_is_refused_while_our_old_blocks_cannot_be_read() {
    let ours = chain_of(RECENT_BLOCKS + 30, alice().address());
    let mut theirs = Chain::validate(ours[..10].to_vec(), &rules(), now(), &[]).unwrap();
    while theirs.len() < ours.len() + 1 {
        extend(&mut theirs, &rules(), Vec::new(), bob().address());
    }
    let store = FakeStore::default();
    let mut state = restored(&ours, &store);
    let before = snapshot(&state);
    // The store is behind (a commit in flight): block 11 reads as another block.
    store.0.lock().unwrap()[10].proof += 1;
    assert_eq!(
        state.adopt(&theirs, now()).unwrap_err(),
        AdoptError::Unreadable(Unreadable { index: 11 })
    );
    assert_eq!(snapshot(&state), before, "nothing changed");
}

#[test]
fn a_branch_that_breaks_a_rule_changes_nothing() {
    let ours = chain_of(60, alice().address());
    let mut theirs = Chain::validate(ours[..20].to_vec(), &rules(), now(), &[]).unwrap();
    while theirs.len() < ours.len() + 3 {
        extend(&mut theirs, &rules(), Vec::new(), bob().address());
    }
    let store = FakeStore::default();
    let mut state = restored(&ours, &store);
    let before = snapshot(&state);
    let mut branch = theirs.blocks()[20..].to_vec();
    // A wrong index breaks this block whatever its proof.
    branch[30].index += 1;
    let error = state.adopt_branch(20, branch, now()).unwrap_err();
    assert!(
        matches!(&error, AdoptError::Invalid(e) if e.block == 51),
        "{error:?}"
    );
    assert_eq!(snapshot(&state), before, "nothing changed");
    assert_eq!(state.all_blocks().unwrap(), ours);
    assert_eq!(
        state.index(),
        &ChainIndex::build(&ours, state.chain().hashes())
    );
}
