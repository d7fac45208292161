//! The web pages in process: each page shows the values of a known chain, everything from users and peers comes out escaped, and the operator page and the owner's payment answer only loopback callers.

mod common;

use common::open_node;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};

use actix_web::body::MessageBody as _;
use actix_web::dev::ServiceResponse;
use actix_web::{test, App};
use node::api;
use node::service::{node_id, Node};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use wallet::{Amount, Wallet};

const LOOPBACK: &str = "127.0.0.1:40000";
const REMOTE: &str = "203.0.113.7:40000";
/// `<script>alert(1)</script>` as the pages escape it.
const ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";

fn peer(addr: &str) -> SocketAddr {
    addr.parse().expect("a socket address")
}

async fn text_of(response: ServiceResponse) -> (u16, String) {
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .try_into_bytes()
        .unwrap_or_else(|_| panic!("a complete body"));
    (
        status,
        String::from_utf8(bytes.to_vec()).expect("pages are UTF-8"),
    )
}

macro_rules! app {
    ($node:expr) => {
        test::init_service(App::new().configure(api::configure($node.clone()))).await
    };
}

macro_rules! get {
    ($app:expr, $uri:expr) => {
        text_of(test::call_service(&$app, test::TestRequest::get().uri(&$uri).to_request()).await)
            .await
    };
}

/// The id the explorer gives a transfer: 16 bytes of the SHA-256 of the signature text, in hex.
fn transfer_id(transaction: &Value) -> String {
    let signature = transaction["signature"]
        .as_str()
        .expect("a signed transfer");
    hex::encode(&Sha256::digest(signature.as_bytes())[..16])
}

fn query(address: &str) -> String {
    address
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// A node that mined two blocks, paid 1 coin to a friend, and mined that
/// payment into block 4: the chain every page test reads.
async fn known_chain(node: &Node) -> (Wallet, Value) {
    node.mine().await.expect("block 2");
    node.mine().await.expect("block 3");
    let friend = Wallet::generate();
    let paid = node
        .pay(friend.address(), Amount::ONE)
        .await
        .expect("the node has 2 coins to pay 1");
    node.mine().await.expect("block 4");
    (friend, serde_json::to_value(&paid.transaction).unwrap())
}

#[actix_web::test]
async fn every_page_shows_the_known_chain() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    let (friend, payment) = known_chain(&node).await;
    let id = transfer_id(&payment);
    let (blocks, hashes) =
        node.with_state(|s| (s.all_blocks().unwrap(), s.chain().hashes().to_vec()));

    let (status, page) = get!(app, "/");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"<dd id="length">4</dd>"#), "{page}");
    assert!(page.contains(&hashes[3].to_hex()), "the tip");
    assert!(
        page.contains(&node_id(node.address())),
        "the node's short address"
    );
    assert!(page.contains(r#"href="/block/1""#), "genesis is listed");
    assert!(page.contains("<label for=\"search-q\">"), "a real label");

    let (status, page) = get!(app, "/block/4");
    assert_eq!(status, 200);
    assert!(page.contains(&hashes[3].to_hex()));
    assert!(
        page.contains(&format!(r#"href="/block/{}""#, hashes[2].to_hex())),
        "previous hash linked"
    );
    assert!(
        page.contains(&format!("<dd>{}</dd>", blocks[3].proof)),
        "the proof"
    );
    assert!(
        page.contains(&format!(r#"href="/tx/{id}""#)),
        "the transfer"
    );
    assert!(page.contains(&node_id(friend.address())));
    assert!(page.contains(" UTC"), "a human time");
    let (_, by_hash) = get!(app, format!("/block/{}", hashes[3].to_hex()));
    assert_eq!(by_hash, page, "a block by hash is the same page");
    let (_, genesis) = get!(app, "/block/1");
    assert!(genesis.contains("1970-01-01 00:00:00 UTC"), "{genesis}");
    assert!(genesis.contains("genesis block"));
    assert_eq!(get!(app, "/block/5").0, 404);
    assert_eq!(get!(app, format!("/block/{}", "ab".repeat(32))).0, 404);

    let (status, page) = get!(app, format!("/tx/{id}"));
    assert_eq!(status, 200);
    assert!(
        page.contains("in <a href=\"/block/4\">block 4</a> at position 1"),
        "{page}"
    );
    assert!(page.contains(payment["signature"].as_str().unwrap()));

    let (status, page) = get!(
        app,
        format!("/address?address={}", query(friend.address().as_str()))
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"<dd id="balance">1</dd>"#), "{page}");
    assert!(page.contains(friend.address().as_str()), "the full form");
    assert!(page.contains("<td>in</td>"));
    let (_, page) = get!(
        app,
        format!("/address?address={}", query(node.address().as_str()))
    );
    // Three rewards of 1 coin, one payment of 1.
    assert!(page.contains(r#"<dd id="balance">2</dd>"#), "{page}");
    assert!(page.contains("<td>out</td>") && page.contains("<td>reward</td>"));
    assert_eq!(get!(app, "/address?address=nope").0, 400);

    let (status, page) = get!(app, "/pool");
    assert_eq!(status, 200);
    assert!(page.contains("0 waiting"), "{page}");
}

/// Blocks older than those memory holds are read back from the store: their
/// pages, their transfers, an address's history and a restart all show them.
#[actix_web::test]
async fn pages_of_blocks_no_longer_in_memory_come_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let (friend, payment) = known_chain(&node).await;
    for _ in 0..node::chain::RECENT_BLOCKS {
        node.mine().await.expect("a block");
    }
    let (first_recent, hashes, index) = node.with_state(|s| {
        (
            s.chain().first_recent(),
            s.chain().hashes().to_vec(),
            s.index().clone(),
        )
    });
    assert!(
        first_recent >= 4,
        "block 4 (position 3) left memory ({first_recent})"
    );
    let app = app!(node);

    let (status, page) = get!(app, "/block/4");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&hashes[3].to_hex()), "{page}");
    let (status, by_hash) = get!(app, format!("/block/{}", hashes[3].to_hex()));
    assert_eq!((status, &by_hash), (200, &page));
    let id = transfer_id(&payment);
    let (status, page) = get!(app, format!("/tx/{id}"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"href="/block/4""#), "{page}");
    let (status, page) = get!(
        app,
        format!("/address?address={}", query(friend.address().as_str()))
    );
    assert_eq!(status, 200);
    assert!(page.contains(&format!(r#"href="/tx/{id}""#)), "{page}");
    let (status, page) = get!(app, "/blocks?page=52");
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"href="/block/1""#),
        "the last page ends at genesis"
    );

    // A restart reads every block back from the store into the same state.
    drop(app);
    drop(node);
    let node = open_node(dir.path());
    node.with_state(|s| {
        assert_eq!(s.chain().hashes(), &hashes[..]);
        assert_eq!(s.index(), &index);
        assert_eq!(s.all_blocks().unwrap().len(), hashes.len());
    });
}

#[actix_web::test]
async fn lists_are_paged_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    for _ in 0..24 {
        node.mine().await.unwrap();
    }
    let (_, first) = get!(app, "/blocks");
    assert!(first.contains(r#"href="/block/25""#) && first.contains(r#"href="/block/6""#));
    assert!(!first.contains(r#"href="/block/5""#));
    assert!(first.contains("Page 1 of 2") && first.contains(r#"href="/blocks?page=2""#));
    let (_, second) = get!(app, "/blocks?page=2");
    assert!(second.contains(r#"href="/block/5""#) && second.contains(r#"href="/block/1""#));
    assert!(!second.contains(r#"href="/block/6""#));
    // Out of range and unreadable pages clamp.
    assert_eq!(get!(app, "/blocks?page=99").1, second);
    assert_eq!(get!(app, "/blocks?page=x").1, first);

    let (_, own) = get!(
        app,
        format!("/address?address={}", query(node.address().as_str()))
    );
    assert!(own.contains("Page 1 of 2") && own.contains(r#"href="/block/25""#));
    assert!(!own.contains(r#"href="/block/5""#));
}

#[actix_web::test]
async fn pending_transfers_show_on_the_pool_and_their_page() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    node.mine().await.unwrap();
    let friend = Wallet::generate();
    let paid = node.pay(friend.address(), Amount::ONE).await.unwrap();
    let id = paid.id.to_string();
    assert_eq!(
        id,
        transfer_id(&serde_json::to_value(&paid.transaction).unwrap())
    );
    let (_, pool) = get!(app, "/pool");
    assert!(
        pool.contains("1 waiting") && pool.contains(&format!(r#"href="/tx/{id}""#)),
        "{pool}"
    );
    let (_, overview) = get!(app, "/");
    assert!(overview.contains(&format!(r#"href="/tx/{id}""#)));
    let (status, page) = get!(app, format!("/tx/{id}"));
    assert_eq!(status, 200);
    assert!(page.contains("<dd>pending</dd>"), "{page}");
    let (_, address) = get!(
        app,
        format!("/address?address={}", query(node.address().as_str()))
    );
    assert!(
        address.contains(r#"<dd id="pending-out">1</dd>"#),
        "{address}"
    );
}

#[actix_web::test]
async fn search_finds_blocks_transfers_and_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    let (friend, payment) = known_chain(&node).await;
    let tip = node.tip().1.to_hex();
    let id = transfer_id(&payment);
    let cases = [
        (tip.clone(), format!("/block/{tip}")),
        (tip.to_ascii_uppercase(), format!("/block/{tip}")),
        ("3".to_owned(), "/block/3".to_owned()),
        (id.clone(), format!("/tx/{id}")),
        (
            friend.address().as_str().to_owned(),
            format!("/address?address={}", query(friend.address().as_str())),
        ),
    ];
    for (q, location) in cases {
        let uri = format!("/search?q={}", query(&q));
        let response =
            test::call_service(&app, test::TestRequest::get().uri(&uri).to_request()).await;
        assert_eq!(response.status().as_u16(), 303, "{q}");
        assert_eq!(
            response.headers().get("location").unwrap(),
            location.as_str(),
            "{q}"
        );
    }
    let (status, page) = get!(app, "/search?q=99");
    assert_eq!(status, 404, "{page}");
}

#[actix_web::test]
async fn hostile_text_comes_out_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    for uri in [
        "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/tx/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/block/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ] {
        let (status, page) = get!(app, uri);
        assert!(status >= 400, "{uri}");
        assert!(!page.contains("<script>alert"), "{uri}: {page}");
        assert!(page.contains(ESCAPED), "{uri}: {page}");
    }
}

/// A peer that answers every request with a chain whose second block carries
/// a hostile field name (the error naming it quotes it).
fn hostile_peer(genesis: Value) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut block = genesis.clone();
    block["index"] = json!(2);
    block["<script>alert(1)</script>"] = json!(1);
    // Longer than the node's chain, so it is read and checked.
    let body =
        json!({ "chain": [genesis, block.clone(), block.clone(), block], "length": 4 }).to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

fn token_of(page: &str) -> String {
    let at = page
        .find(r#"name="token" value=""#)
        .expect("the page has a form token")
        + 20;
    page[at..at + 32].to_owned()
}

macro_rules! post_form {
    ($app:expr, $uri:expr, $from:expr, $form:expr) => {{
        let request = test::TestRequest::post()
            .uri($uri)
            .peer_addr(peer($from))
            .set_form($form)
            .to_request();
        text_of(test::call_service(&$app, request).await).await
    }};
}

#[actix_web::test]
async fn the_operator_page_acts_and_escapes_a_peers_words() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    let request = test::TestRequest::get()
        .uri("/operator")
        .peer_addr(peer(LOOPBACK))
        .to_request();
    let (status, page) = text_of(test::call_service(&app, request).await).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"<label for="pay-amount">"#));
    let token = token_of(&page);

    let (status, page) = post_form!(app, "/operator/mine", LOOPBACK, &[("token", &token)]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Mined block 2"), "{page}");

    let friend = Wallet::generate();
    let recipient = friend.address().as_str();
    let form = [
        ("token", token.as_str()),
        ("recipient", recipient),
        ("amount", "1"),
    ];
    let (status, page) = post_form!(app, "/operator/pay", LOOPBACK, &form);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Paid 1 to"), "{page}");
    assert_eq!(node.with_state(|s| s.pool().len()), 1);
    let form = [
        ("token", token.as_str()),
        ("recipient", recipient),
        ("amount", "5"),
    ];
    let (status, page) = post_form!(app, "/operator/pay", LOOPBACK, &form);
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("insufficient balance"), "{page}");
    let form = [
        ("token", token.as_str()),
        ("recipient", "<script>alert(1)</script>"),
        ("amount", "1"),
    ];
    let (status, page) = post_form!(app, "/operator/pay", LOOPBACK, &form);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not a valid address"), "{page}");

    let genesis =
        serde_json::to_value(node.with_state(|s| s.all_blocks().unwrap()[0].clone())).unwrap();
    let hostile = hostile_peer(genesis).to_string();
    let form = [
        ("token", token.as_str()),
        ("peers", hostile.as_str()),
        ("join", "1"),
    ];
    let (status, page) = post_form!(app, "/operator/peers", LOOPBACK, &form);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Our chain is authoritative"), "{page}");
    assert!(page.contains(ESCAPED), "the peer's words are shown: {page}");
    assert!(!page.contains("<script>alert"), "{page}");
}

#[actix_web::test]
async fn the_operator_and_the_owners_payment_refuse_others() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    let request = test::TestRequest::get()
        .uri("/operator")
        .peer_addr(peer(REMOTE))
        .to_request();
    let (status, page) = text_of(test::call_service(&app, request).await).await;
    assert_eq!(status, 403, "{page}");
    assert!(!page.contains(r#"name="token""#));
    let request = test::TestRequest::get()
        .uri("/operator")
        .peer_addr(peer(LOOPBACK))
        .to_request();
    let token = token_of(&text_of(test::call_service(&app, request).await).await.1);

    for action in [
        "/operator/mine",
        "/operator/pay",
        "/operator/peers",
        "/operator/resolve",
    ] {
        let (status, _) = post_form!(app, action, REMOTE, &[("token", &token)]);
        assert_eq!(status, 403, "{action} from elsewhere");
        let (status, _) = post_form!(app, action, LOOPBACK, &[("token", "0")]);
        assert_eq!(status, 403, "{action} without the page's token");
    }
    // A site whose name resolves to 127.0.0.1 (DNS rebinding).
    let request = test::TestRequest::get()
        .uri("/operator")
        .peer_addr(peer(LOOPBACK))
        .insert_header(("Host", "evil.example:5000"))
        .to_request();
    assert_eq!(
        text_of(test::call_service(&app, request).await).await.0,
        403
    );
    assert_eq!(node.with_state(|s| s.chain().len()), 1, "nothing was mined");

    let friend = Wallet::generate();
    let body = json!({ "recipient": friend.address(), "amount": 1 });
    let pay = |from: &str| {
        test::TestRequest::post()
            .uri("/wallet/pay")
            .peer_addr(peer(from))
            .set_json(&body)
            .to_request()
    };
    let (status, answer) = text_of(test::call_service(&app, pay(REMOTE)).await).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("loopback"), "{answer}");
    node.mine().await.unwrap();
    let (status, answer) = text_of(test::call_service(&app, pay(LOOPBACK)).await).await;
    assert_eq!(status, 201, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["message"], "Transaction will be added to Block 3");
    assert_eq!(answer["id"], transfer_id(&answer["transaction"]));
    // A form post of the same words (what another site could make a browser send).
    let request = test::TestRequest::post()
        .uri("/wallet/pay")
        .peer_addr(peer(LOOPBACK))
        .insert_header(("Content-Type", "text/plain"))
        .set_payload(body.to_string())
        .to_request();
    assert_eq!(
        text_of(test::call_service(&app, request).await).await.0,
        400
    );
    assert_eq!(node.with_state(|s| s.pool().len()), 1);
}
