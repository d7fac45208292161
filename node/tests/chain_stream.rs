//! `GET /chain` streamed from the store, in process: the bytes are exactly today's answer, and a long answer blocks no one.

mod common;

use std::path::Path;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::web::Bytes;
use actix_web::{test, App};
use node::api;
use node::chain::{Block, Transaction};
use node::service::Node;
use serde::Serialize;
use wallet::{Amount, Nonce, Wallet};

/// More than one chunk of the streamed body (256 blocks).
const BLOCKS: u64 = 300;

/// The answer's form, as `serde_json::to_vec` gives it.
#[derive(Serialize)]
struct ChainBody<'a> {
    chain: &'a [Block],
    length: usize,
}

fn open_node(dir: &Path) -> Node {
    common::open_node_with(dir, |config| config.chain.difficulty = 1)
}

macro_rules! app {
    ($node:expr) => {
        test::init_service(App::new().configure(api::configure($node.clone()))).await
    };
}

/// The next piece of a streamed body, `None` at its end.
async fn next_chunk(body: &mut actix_web::body::BoxBody) -> Option<Bytes> {
    std::future::poll_fn(|cx| Pin::new(&mut *body).poll_next(cx))
        .await
        .map(|chunk| chunk.expect("the body streams without error"))
}

async fn whole_body(response: ServiceResponse) -> (u16, Vec<u8>) {
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await {
        bytes.extend_from_slice(&chunk);
    }
    (status, bytes)
}

/// Mines until the chain has `blocks` blocks, with signed transfers (some
/// with a nonce, some without) from the node's own rewards in some blocks.
async fn grow(node: &Node, blocks: u64) {
    let owner = Wallet::from_secret(&node.secret()).expect("the node's secret is valid");
    let friend = Wallet::generate();
    let mut round = 0;
    loop {
        let length = node.with_state(|s| s.chain().len() as u64);
        if length >= blocks {
            return;
        }
        if length > 3 && length.is_multiple_of(20) {
            round += 1;
            // Without a nonce, a transfer is told apart by its amount.
            let nonce = Nonce::new(round).expect("a small nonce");
            let amount = Amount::new(round).expect("a small amount");
            for pay in [
                Transaction::sign(&owner, friend.address(), Amount::ONE, Some(nonce)),
                Transaction::sign(&owner, friend.address(), amount, None),
            ] {
                node.submit(pay).await.expect("the owner can pay");
            }
        }
        node.mine().await.expect("a block is mined");
    }
}

/// What the answer to `/chain?from&limit` must be: `serde_json::to_vec` of the blocks in memory.
fn expected(blocks: &[Block], from: usize, limit: usize) -> Vec<u8> {
    let start = (from - 1).min(blocks.len());
    let end = start.saturating_add(limit).min(blocks.len());
    serde_json::to_vec(&ChainBody {
        chain: &blocks[start..end],
        length: blocks.len(),
    })
    .unwrap()
}

#[actix_web::test]
async fn the_streamed_chain_is_byte_for_byte_the_chain_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    grow(&node, BLOCKS).await;
    let blocks: Vec<Block> = node.with_state(|s| s.all_blocks().unwrap());
    assert!(
        blocks.iter().any(|b| b.transactions.len() == 3),
        "some blocks hold signed transfers"
    );
    assert!(
        blocks
            .iter()
            .any(|b| !serde_json::to_string(&b.timestamp).unwrap().ends_with(".0")),
        "timestamps with fractions"
    );
    let n = blocks.len();
    let cases = [
        ("/chain".to_owned(), expected(&blocks, 1, usize::MAX)),
        ("/blockchain".to_owned(), expected(&blocks, 1, usize::MAX)),
        (
            "/chain?from=1&limit=1000".to_owned(),
            expected(&blocks, 1, 1000),
        ),
        ("/chain?from=2&limit=3".to_owned(), expected(&blocks, 2, 3)),
        ("/chain?from=40".to_owned(), expected(&blocks, 40, 500)),
        ("/chain?limit=7".to_owned(), expected(&blocks, 1, 7)),
        (
            "/chain?from=3&limit=5000".to_owned(),
            expected(&blocks, 3, 1000),
        ),
        (format!("/chain?from={n}"), expected(&blocks, n, 500)),
        (
            format!("/chain?from={}", n + 5),
            expected(&blocks, n + 5, 500),
        ),
    ];
    for (uri, want) in cases {
        let request = test::TestRequest::get().uri(&uri).to_request();
        let (status, got) = whole_body(test::call_service(&app, request).await).await;
        assert_eq!(status, 200, "{uri}");
        assert!(
            got == want,
            "{uri}: {} bytes streamed, {} expected; first difference at byte {:?}",
            got.len(),
            want.len(),
            got.iter().zip(&want).position(|(a, b)| a != b)
        );
    }
}

#[actix_web::test]
async fn a_paused_chain_stream_blocks_neither_transfers_nor_mining() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    grow(&node, BLOCKS).await;
    let before: Vec<Block> = node.with_state(|s| s.all_blocks().unwrap());

    let request = test::TestRequest::get().uri("/chain").to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status().as_u16(), 200);
    let mut body = response.into_body();
    let mut got = Vec::new();
    // The opening, then a first chunk of blocks; the reader stops there.
    for _ in 0..2 {
        got.extend_from_slice(&next_chunk(&mut body).await.expect("more to come"));
    }
    assert!(got.len() < expected(&before, 1, usize::MAX).len());

    let owner = Wallet::from_secret(&node.secret()).unwrap();
    let pay = Transaction::sign(&owner, Wallet::generate().address(), Amount::ONE, None);
    let request = test::TestRequest::post()
        .uri("/transactions/new")
        .set_json(&pay)
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status().as_u16(), 201, "a transfer is admitted");
    let mined = test::call_service(&app, test::TestRequest::get().uri("/mine").to_request());
    assert_eq!(mined.await.status().as_u16(), 200, "a block is mined");
    assert_eq!(node.with_state(|s| s.chain().len()), before.len() + 1);

    // The rest of the answer is the chain as it was asked for: one snapshot.
    while let Some(chunk) = next_chunk(&mut body).await {
        got.extend_from_slice(&chunk);
    }
    assert!(
        got == expected(&before, 1, usize::MAX),
        "the snapshot's chain"
    );
    let request = test::TestRequest::get().uri("/chain").to_request();
    let (_, now) = whole_body(test::call_service(&app, request).await).await;
    let after: Vec<Block> = node.with_state(|s| s.all_blocks().unwrap());
    assert!(
        now == expected(&after, 1, usize::MAX),
        "a new answer has the new block"
    );
}

#[actix_web::test]
async fn a_client_that_stops_taking_the_chain_is_cut_off_and_its_snapshot_let_go() {
    let stall = std::time::Duration::from_secs(1);
    let dir = tempfile::tempdir().unwrap();
    let node = common::open_node_with(dir.path(), |config| {
        config.chain.difficulty = 1;
        config.node.stall_timeout = stall;
    });
    let app = app!(node);
    grow(&node, BLOCKS).await;
    let blocks: Vec<Block> = node.with_state(|s| s.all_blocks().unwrap());

    // Pauses shorter than the timeout, between every two chunks: the whole answer.
    let request = test::TestRequest::get().uri("/chain").to_request();
    let mut body = test::call_service(&app, request).await.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await {
        got.extend_from_slice(&chunk);
        actix_web::rt::time::sleep(stall / 4).await;
    }
    assert!(got == expected(&blocks, 1, usize::MAX), "the whole chain");

    // A client that takes the opening and one chunk of blocks, then nothing:
    // its snapshot is let go, and the answer ends in an error, not in a
    // finished body.
    let request = test::TestRequest::get().uri("/chain").to_request();
    let mut body = test::call_service(&app, request).await.into_body();
    let mut got = Vec::new();
    for _ in 0..2 {
        got.extend_from_slice(&next_chunk(&mut body).await.expect("a chunk"));
    }
    actix_web::rt::time::sleep(stall * 3).await;
    let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await;
    let error = match next {
        Some(Err(e)) => e.to_string(),
        Some(Ok(chunk)) => panic!("{} more bytes after the stall", chunk.len()),
        None => panic!("the body ended as if it were whole"),
    };
    assert!(error.contains("took nothing"), "{error}");
    assert!(std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx))
        .await
        .is_none());
    assert!(got.len() < expected(&blocks, 1, usize::MAX).len());
}
