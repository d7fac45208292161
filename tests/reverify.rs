//! What a start checks: hashes, links, proofs and balances of the stored chain always; signatures again only with `--reverify`. Blocks are altered behind the node's back to show both.

mod support;

use std::path::Path;

use node::chain::{Block, Rules, Transaction};
use node::store::{NetworkId, Op, Store};
use support::{start_command, NodeOptions, Start, TestNode};
use wallet::{Amount, Nonce, Wallet};

const DIFFICULTY: u32 = 3;

fn options(extra: &[&str]) -> NodeOptions {
    NodeOptions {
        difficulty: DIFFICULTY,
        args: extra.iter().map(|a| (*a).to_owned()).collect(),
        ..NodeOptions::default()
    }
}

/// A stopped node's data directory holding genesis, two blocks and a tip
/// block with a signed transfer; returns the directory's parent (kept alive).
fn chain_with_a_transfer_at_the_tip() -> (tempfile::TempDir, std::path::PathBuf) {
    let mut node = TestNode::start_with(options(&[]));
    node.mine();
    node.mine();
    let owner = Wallet::from_secret(&node.secret()).expect("a node's secret loads");
    let friend = Wallet::generate();
    let pay = Transaction::sign(
        &owner,
        friend.address(),
        Amount::ONE,
        Some(Nonce::new(1).unwrap()),
    );
    let (status, body) = node.post("/transactions/new", &serde_json::to_value(&pay).unwrap());
    assert_eq!(status, 201, "{body}");
    node.mine();
    assert!(node.stop(), "the node stops cleanly");
    let keep = tempfile::tempdir().expect("a temporary directory");
    let dir = keep.path().join("data");
    copy_dir(&node.data_dir, &dir);
    (keep, dir)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Rewrites the stored block at 1-based `index` through the store, as damage
/// or a tamperer with write access would, keeping the blocks after it.
fn alter_block(dir: &Path, index: usize, alter: impl FnOnce(&mut Block)) {
    let rules = Rules::new(DIFFICULTY, Amount::ONE, 0.0, 1000);
    let network = NetworkId {
        genesis: rules.genesis_hash,
        difficulty: DIFFICULTY,
    };
    let (store, loaded) = Store::open(dir, &network, &rules.genesis).expect("the store opens");
    let reader = store.reader().expect("a reader opens");
    let mut blocks: Vec<Block> = reader
        .blocks(1, loaded.length + 1)
        .collect::<Result<_, _>>()
        .expect("every stored block reads");
    drop(reader);
    alter(&mut blocks[index - 1]);
    let tail = blocks.split_off(index - 1);
    store
        .write(vec![Op::ReplaceChain {
            keep: (index - 1) as u64,
            blocks: tail,
            pool: loaded.pool,
        }])
        .expect("the altered chain is written");
}

/// Swaps the tip's transfer signature for the signature of another transfer
/// by the same sender: well formed, but not this transfer's.
fn forge_signature(block: &mut Block) {
    let Transaction::Signed {
        transfer,
        signature,
    } = &mut block.transactions[0]
    else {
        panic!("the tip holds the transfer first");
    };
    let other = Wallet::generate();
    let mut changed = transfer.clone();
    changed.amount = Amount::new(2).unwrap();
    *signature = other.sign(&changed);
    // The same length as a 2048-bit signature of the sender, so the form is fine.
    assert_eq!(signature.as_str().len(), 344);
}

fn start(dir: &Path, extra: &[&str]) -> Start {
    start_command(
        TestNode::command(dir, &options(extra)),
        &dir.with_extension("log"),
    )
}

#[test]
fn a_forged_tip_signature_is_caught_only_by_reverify() {
    let (_keep, dir) = chain_with_a_transfer_at_the_tip();
    alter_block(&dir, 4, forge_signature);

    // The documented trade-off: a normal start trusts the signatures it
    // verified before storing them (the store checksums its pages), and the
    // tip's hash is linked by no later block.
    match start(&dir, &[]) {
        Start::Listening { process, url } => {
            let (status, health) =
                support::http("GET", &format!("{url}/health"), None, support::HTTP_TIMEOUT);
            assert_eq!(status, 200);
            assert_eq!(health["length"], 4);
            drop(process);
        }
        Start::Exited { stderr, .. } => panic!("a normal start refused the chain:\n{stderr}"),
    }
    match start(&dir, &["--reverify"]) {
        Start::Listening { .. } => panic!("--reverify accepted a forged signature"),
        Start::Exited { status, stderr } => {
            assert_eq!(status.code(), Some(1), "{stderr}");
            let line = stderr.lines().last().unwrap_or_default();
            assert!(
                line.contains("block 4") && line.contains("signature"),
                "{line}"
            );
        }
    }
}

#[test]
fn an_altered_block_before_the_tip_is_refused_at_a_normal_start() {
    let (_keep, dir) = chain_with_a_transfer_at_the_tip();
    // Block 2's proof changed: its hash no longer matches block 3's link, and its proof fails.
    alter_block(&dir, 2, |block| block.proof += 1);
    match start(&dir, &[]) {
        Start::Listening { .. } => panic!("a normal start accepted an altered block"),
        Start::Exited { status, stderr } => {
            assert_eq!(status.code(), Some(1), "{stderr}");
            let line = stderr.lines().last().unwrap_or_default();
            assert!(line.contains("block"), "{line}");
        }
    }
}
