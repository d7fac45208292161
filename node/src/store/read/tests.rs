//! Unit tests of the read side: a reader whose address book lacks what a commit stored reads it from its own snapshot.

use std::path::Path;
use std::sync::Arc;

use wallet::{Amount, Nonce, Wallet};

use super::{Live, StoreReader};
use crate::chain::{Block, PreviousHash, Timestamp, Transaction};
use crate::store::{schema, NetworkId, Op, Store, StoreError, STORE_FILE};

fn block(index: u64, from: &Wallet, to: &Wallet) -> Block {
    Block {
        index,
        previous_hash: PreviousHash::Hash(Block::genesis(0.5).hash()),
        proof: index * 7,
        timestamp: Timestamp::from_secs_f64(1_700_000_000.125 + index as f64).unwrap(),
        transactions: vec![
            Transaction::sign(
                from,
                to.address(),
                Amount::ONE,
                Some(Nonce::new(index).unwrap()),
            ),
            Transaction::Reward {
                recipient: to.address().clone(),
                amount: Amount::ONE,
            },
        ],
    }
}

#[test]
fn addresses_missing_from_the_book_are_read_from_the_snapshot() {
    fn sent<T: Send>() {}
    sent::<StoreReader>();

    let dir = tempfile::tempdir().unwrap();
    let genesis = Block::genesis(0.5);
    let network = NetworkId {
        genesis: genesis.hash(),
        difficulty: 1,
    };
    let (alice, bob) = (Wallet::generate(), Wallet::generate());
    let blocks: Vec<Block> = (2..=4).map(|i| block(i, &alice, &bob)).collect();
    {
        let (store, _) = Store::open(dir.path(), &network, &genesis).unwrap();
        store
            .write(
                blocks
                    .iter()
                    .map(|b| Op::AppendBlock {
                        block: b.clone(),
                        mined: Vec::new(),
                    })
                    .collect(),
            )
            .unwrap();
    }
    let path: Arc<Path> = dir.path().join(STORE_FILE).into();
    let db = schema::open_database(dir.path(), &path).unwrap();
    // As if the commit that numbered both wallets were not yet in the book.
    let live = Live::new(db, Vec::new());
    let closed = || StoreError::WriterGone {
        path: path.to_path_buf(),
    };
    let reader = StoreReader::open(&live, path.clone(), closed).unwrap();
    assert_eq!(reader.len(), 4);
    assert_eq!(reader.block(3).unwrap().as_ref(), Some(&blocks[1]));
    let read: Vec<Block> = reader.blocks(2, 5).collect::<Result<_, _>>().unwrap();
    assert_eq!(read, blocks);
    assert_eq!(live.book().len(), 0, "the fallback does not fill the book");

    // Once the handle is closed, no reader can begin.
    live.replace(None);
    assert!(matches!(
        StoreReader::open(&live, path.clone(), closed),
        Err(StoreError::WriterGone { .. })
    ));
}
