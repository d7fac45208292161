//! End-to-end tests of the node's HTTP API against the real `node` binary: the seed's story, a table of bad requests, replays and balances, concurrent submissions, serving while mining, concurrent mining and `/secret`.
//!
//! Run `cargo build --workspace` first (or `cargo test --workspace`): the
//! harness starts `target/debug/sigchain-node` and signs with `target/debug/sigscript`.

mod support;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use node::chain::{Block, Transaction};
use serde_json::{json, Value};
use support::{http, sign, urlencode, wait_until, NodeOptions, TestNode};
use wallet::{Address, Amount, Nonce, Transfer, Wallet};

/// Bound on one HTTP call made by these tests.
const CALL: Duration = Duration::from_secs(30);
/// Generous bound on how long any request may take while a block is being searched.
/// Timing goals belong to the benchmarks; this only catches a blocked server.
const RESPONSIVE: Duration = Duration::from_secs(5);

/// The node's own wallet, loaded from its `/secret`.
fn node_wallet(node: &TestNode) -> Wallet {
    Wallet::from_secret(&node.secret()).expect("the node's /secret is a valid secret")
}

/// A transfer from `sender`'s wallet.
fn transfer(sender: &Wallet, recipient: &Address, amount: u64, nonce: Option<u64>) -> Transfer {
    Transfer {
        sender: sender.address().clone(),
        recipient: recipient.clone(),
        amount: Amount::new(amount).expect("test amounts are in range"),
        nonce: nonce.map(|n| Nonce::new(n).expect("test nonces are in range")),
    }
}

/// The `/transactions/new` body of `transfer` signed by `signer`, amount and nonce as JSON numbers.
fn signed_body(signer: &Wallet, transfer: &Transfer) -> Value {
    let transaction = Transaction::Signed {
        transfer: transfer.clone(),
        signature: signer.sign(transfer),
    };
    serde_json::to_value(&transaction).expect("a transaction is JSON")
}

/// Mines `count` blocks (1 coin each to the node).
fn mine_blocks(node: &TestNode, count: usize) {
    for _ in 0..count {
        node.mine();
    }
}

/// The `error` text of an error answer, checking it is a JSON object with a non-empty string.
fn error_text<'a>(what: &str, body: &'a Value) -> &'a str {
    let text = body
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or_else(|| {
            panic!("{what}: the answer is not JSON with an \"error\" string: {body}")
        });
    assert!(!text.trim().is_empty(), "{what}: empty error text");
    text
}

/// Asserts an error answer: the exact status and an error naming the problem (`keyword`, case-insensitive).
fn expect_error(what: &str, answer: &(u16, Value), status: u16, keyword: &str) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{what}: status; body {body}");
    let text = error_text(what, body);
    assert!(
        text.to_lowercase().contains(&keyword.to_lowercase()),
        "{what}: error {text:?} does not mention {keyword:?}"
    );
}

/// A copy of `address` that decodes to the same key but is not canonical (a trailing newline in the PEM).
fn non_canonical(address: &str) -> String {
    let mut pem = B64.decode(address).expect("an address is base64");
    pem.push(b'\n');
    B64.encode(pem)
}

/// What a bad request must not change: the chain, the pool and the peers.
fn snapshot(node: &TestNode) -> (Value, Value, Value) {
    let chain = node.get("/chain");
    let pool = node.get("/transactions");
    let peers = node.get("/nodes");
    for (status, body) in [&chain, &pool, &peers] {
        assert_eq!(*status, 200, "{body}");
    }
    (chain.1, pool.1, peers.1)
}

/// The CPU time (user + system, in clock ticks) a process has used so far, from `/proc`.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

#[test]
fn seed_story_end_to_end() {
    let node = TestNode::start();
    let (status, health) = node.get("/health");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["length"], 1, "a new node holds only genesis");

    // /secret gives the key behind /wallet's address.
    let me = node_wallet(&node);
    assert_eq!(me.address().as_str(), node.address());
    let friend = Wallet::generate();

    mine_blocks(&node, 12);
    let chain = node.chain();
    assert_eq!(chain.len(), 13);
    assert_eq!(node.balance(me.address().as_str()), 12);

    // Seed form (no nonce), amount as a JSON number, signed by the sigscript binary.
    let first = transfer(&me, friend.address(), 7, None);
    let signature = sign(
        me.address().as_str(),
        friend.address().as_str(),
        7,
        &node.secret(),
        None,
    );
    assert_eq!(
        signature,
        me.sign(&first).as_str(),
        "sigscript and the wallet crate sign the same bytes (PKCS#1 v1.5 is deterministic)"
    );
    let (status, body) = node.post(
        "/transactions/new",
        &json!({
            "sender": me.address().as_str(),
            "recipient": friend.address().as_str(),
            "amount": 7,
            "signature": signature,
        }),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["message"], "Transaction will be added to Block 14");

    // Nonce form, amount as the string "5" (as the seed's sendTransaction client sends it).
    let second = transfer(&me, friend.address(), 5, Some(1));
    let mut second_body = signed_body(&me, &second);
    second_body["amount"] = json!("5");
    let (status, body) = node.post("/transactions/new", &second_body);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["message"], "Transaction will be added to Block 14");

    // The pool holds both, amounts stored as integers, the nonce only where given.
    let (status, pool) = node.get("/transactions");
    assert_eq!(status, 200, "{pool}");
    assert_eq!(pool["length"], 2, "{pool}");
    let pending = pool["transactions"].as_array().expect("a list");
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0]["amount"], json!(7));
    assert!(pending[0]["amount"].is_u64());
    assert!(pending[0].get("nonce").is_none(), "{}", pending[0]);
    assert_eq!(pending[0]["signature"], json!(signature));
    assert_eq!(pending[1]["amount"], json!(5));
    assert!(
        pending[1]["amount"].is_u64(),
        "string amounts are stored as integers"
    );
    assert_eq!(pending[1]["nonce"], json!(1));
    for t in pending {
        assert_eq!(t["sender"], json!(me.address().as_str()));
        assert_eq!(t["recipient"], json!(friend.address().as_str()));
    }

    // Pending spends show, the chain balance does not move yet.
    let (status, wallet) = node.get("/wallet");
    assert_eq!(status, 200, "{wallet}");
    assert_eq!(wallet["address"], json!(me.address().as_str()));
    assert_eq!(
        (&wallet["balance"], &wallet["pending"], &wallet["available"]),
        (&json!(12), &json!(12), &json!(0)),
        "{wallet}"
    );

    let (_, health) = node.get("/health");
    let tip = health["tip"].as_str().expect("the tip hash").to_owned();

    let mined = node.mine();
    assert_eq!(mined["message"], "New Block Created");
    assert_eq!(mined["index"], 14);
    assert_eq!(
        mined["previous_hash"],
        json!(tip),
        "the block links to the old tip"
    );
    assert!(mined["proof"].is_u64(), "{mined}");
    let included = mined["transactions"].as_array().expect("a list");
    assert_eq!(included.len(), 3, "{mined}");
    assert_eq!(&included[0], &pending[0]);
    assert_eq!(&included[1], &pending[1]);
    assert_eq!(
        included[2],
        json!({"sender": "0", "recipient": me.address().as_str(), "amount": 1}),
        "the reward comes last, from \"0\" to the node, with no signature"
    );

    // /chain shows the block as /mine described it; /blockchain is the same answer.
    let (status, chain_body) = node.get("/chain");
    assert_eq!(status, 200);
    assert_eq!(chain_body["length"], 14);
    let blocks = chain_body["chain"].as_array().expect("a list");
    assert_eq!(blocks.len(), 14);
    let last = &blocks[13];
    for key in ["index", "transactions", "proof", "previous_hash"] {
        assert_eq!(last[key], mined[key], "{key}");
    }
    assert_eq!(node.get("/blockchain"), (200, chain_body.clone()));
    let (_, pool) = node.get("/transactions");
    assert_eq!(pool, json!({"transactions": [], "length": 0}));

    // Balances moved: 12 - 7 - 5 + 1 reward.
    let (status, mine) = node.get(&format!(
        "/balance?address={}",
        urlencode(me.address().as_str())
    ));
    assert_eq!(status, 200);
    assert_eq!(
        (&mine["balance"], &mine["pending"], &mine["available"]),
        (&json!(1), &json!(0), &json!(1)),
        "{mine}"
    );
    assert_eq!(node.balance(friend.address().as_str()), 12);
    let (_, wallet) = node.get("/wallet");
    assert_eq!(wallet["balance"], 1);

    // Peers: /nodes/add_nodes = /nodes/register, /nodes/sync = /nodes/resolve.
    let (status, body) = node.post(
        "/nodes/add_nodes",
        &json!({"nodes": ["http://127.0.0.1:1"]}),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["message"], "New nodes have been added");
    assert_eq!(body["total_nodes"], json!(["127.0.0.1:1"]));
    let (status, body) = node.post("/nodes/register", &json!({"nodes": ["127.0.0.1:2"]}));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["total_nodes"], json!(["127.0.0.1:1", "127.0.0.1:2"]));
    let (status, nodes) = node.get("/nodes");
    assert_eq!(status, 200);
    assert_eq!(nodes["nodes"], json!(["127.0.0.1:1", "127.0.0.1:2"]));
    assert_eq!(nodes["length"], 2);
    // Beside the seed's keys, each peer's standing.
    assert_eq!(nodes["peers"][0]["address"], "127.0.0.1:1");
    assert_eq!(nodes["peers"][0]["state"], "ok");
    for path in ["/nodes/resolve", "/nodes/sync"] {
        let (status, body) = node.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["message"], "Our chain is authoritative", "{path}");
        assert_eq!(body["chain"], chain_body["chain"], "{path}");
        let reports = body["peers"].as_array().expect("a per-peer report");
        assert_eq!(reports.len(), 2, "{path}: {body}");
        for report in reports {
            assert_eq!(report["result"], "unreachable", "{path}: {report}");
        }
    }

    let (status, health) = node.get("/health");
    assert_eq!(status, 200);
    assert_eq!(health["length"], 14);
    assert_eq!(health["pending"], 0);
    assert_eq!(health["peers"], 2);
}

/// One bad request and what it must get.
struct Case {
    name: String,
    method: &'static str,
    path: &'static str,
    body: Option<Vec<u8>>,
    status: u16,
    keyword: &'static str,
}

fn case(name: impl Into<String>, method: &'static str, path: &'static str) -> Case {
    Case {
        name: name.into(),
        method,
        path,
        body: None,
        status: 400,
        keyword: "",
    }
}

impl Case {
    fn raw(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.body = Some(body.into());
        self
    }
    fn json(self, body: Value) -> Case {
        self.raw(body.to_string())
    }
    fn expect(mut self, status: u16, keyword: &'static str) -> Case {
        self.status = status;
        self.keyword = keyword;
        self
    }
}

#[test]
fn bad_requests_get_their_4xx_and_change_nothing() {
    let node = TestNode::start();
    // Funds, so that a forged transfer would be admitted if its signature were not checked.
    mine_blocks(&node, 3);
    let me = node_wallet(&node);
    let secret = node.secret();
    let other = Wallet::generate();
    let good = transfer(&me, other.address(), 2, Some(9));
    let valid = signed_body(&me, &good);
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = valid.clone();
        body.as_object_mut().expect("an object").remove(key);
        body
    };
    let huge = "A".repeat(60 * 1024);
    let over_limit = format!(r#"{{"sender": "{}"}}"#, "A".repeat(70 * 1024));
    let forged = other.sign(&good);
    let mut changed = good.clone();
    changed.amount = Amount::new(3).expect("in range");

    let tx = |name: &str| case(name, "POST", "/transactions/new");
    let reg = |name: &str| case(name, "POST", "/nodes/register");
    let nodes = |entries: Value| json!({ "nodes": entries });
    let cases = vec![
        tx("empty body").raw("").expect(400, "empty"),
        tx("blank body").raw(" \n\t").expect(400, "empty"),
        tx("not JSON")
            .raw("sender=a&amount=5")
            .expect(400, "not valid JSON"),
        tx("truncated JSON")
            .raw(r#"{"sender": "#)
            .expect(400, "not valid JSON"),
        tx("JSON array")
            .json(json!([valid.clone()]))
            .expect(400, "JSON object"),
        tx("JSON string")
            .json(json!("hello"))
            .expect(400, "JSON object"),
        tx("JSON null").raw("null").expect(400, "JSON object"),
        tx("number sender")
            .json(with("sender", json!(12)))
            .expect(400, "sender must be a string"),
        tx("array recipient")
            .json(with("recipient", json!([1])))
            .expect(400, "recipient must be a string"),
        tx("object amount")
            .json(with("amount", json!({"n": 5})))
            .expect(400, "amount"),
        tx("boolean amount")
            .json(with("amount", json!(true)))
            .expect(400, "amount"),
        tx("number signature")
            .json(with("signature", json!(5)))
            .expect(400, "signature must be a string"),
        tx("missing sender")
            .json(without("sender"))
            .expect(400, "missing values: sender"),
        tx("missing recipient")
            .json(without("recipient"))
            .expect(400, "missing values: recipient"),
        tx("missing amount")
            .json(without("amount"))
            .expect(400, "missing values: amount"),
        tx("missing signature")
            .json(without("signature"))
            .expect(400, "missing values: signature"),
        tx("null amount")
            .json(with("amount", Value::Null))
            .expect(400, "missing values: amount"),
        tx("empty object")
            .json(json!({}))
            .expect(400, "sender, recipient, amount, signature"),
        tx("60 KB sender")
            .json(with("sender", json!(huge)))
            .expect(400, "sender is not a valid address"),
        tx("60 KB recipient")
            .json(with("recipient", json!(huge)))
            .expect(400, "recipient is not a valid address"),
        tx("60 KB signature")
            .json(with("signature", json!(huge)))
            .expect(400, "longer than"),
        tx("negative amount")
            .json(with("amount", json!(-5)))
            .expect(400, "negative"),
        tx("zero amount")
            .json(with("amount", json!(0)))
            .expect(400, "at least 1"),
        tx("zero amount string")
            .json(with("amount", json!("0")))
            .expect(400, "at least 1"),
        tx("fractional amount")
            .json(with("amount", json!(5.5)))
            .expect(400, "whole number"),
        tx("2^53 amount")
            .json(with("amount", json!(1u64 << 53)))
            .expect(400, "at most"),
        tx("1e30 amount")
            .raw(
                with("amount", json!(0))
                    .to_string()
                    .replace("\"amount\":0", "\"amount\":1e30"),
            )
            .expect(400, "whole number"),
        tx("u64 overflow amount string")
            .json(with("amount", json!("18446744073709551616")))
            .expect(400, "at most"),
        tx("leading-zero amount")
            .json(with("amount", json!("05")))
            .expect(400, "leading zeros"),
        tx("signed amount string")
            .json(with("amount", json!("-5")))
            .expect(400, "digits only"),
        tx("empty amount string")
            .json(with("amount", json!("")))
            .expect(400, "empty"),
        tx("2^53 nonce")
            .json(with("nonce", json!(1u64 << 53)))
            .expect(400, "nonce"),
        tx("negative nonce")
            .json(with("nonce", json!(-1)))
            .expect(400, "nonce"),
        tx("text nonce")
            .json(with("nonce", json!("nine")))
            .expect(400, "nonce"),
        tx("bad base64 signature")
            .json(with("signature", json!("not base64!")))
            .expect(400, "base64"),
        tx("empty signature")
            .json(with("signature", json!("")))
            .expect(400, "signature"),
        // Only the sender's key says how long its signatures are, so this is found while verifying;
        // it is still a malformed field (PROTOCOL §6: 400), not a signature that fails to verify.
        tx("signature of the wrong length")
            .json(with("signature", json!(B64.encode([7u8; 128]))))
            .expect(400, "length"),
        tx("signature not below the modulus")
            .json(with("signature", json!(B64.encode([0xffu8; 256]))))
            .expect(401, "does not verify"),
        tx("secret as sender")
            .json(with("sender", json!(secret)))
            .expect(400, "PUBLIC KEY"),
        tx("secret as recipient")
            .json(with("recipient", json!(secret)))
            .expect(400, "recipient is not a valid address"),
        tx("non-canonical sender")
            .json(with("sender", json!(non_canonical(me.address().as_str()))))
            .expect(400, "canonical"),
        tx("non-canonical recipient")
            .json(with(
                "recipient",
                json!(non_canonical(other.address().as_str())),
            ))
            .expect(400, "canonical"),
        tx("sender \"0\"")
            .json(with("sender", json!("0")))
            .expect(400, "reserved"),
        tx("recipient garbage")
            .json(with("recipient", json!("bob")))
            .expect(400, "recipient"),
        tx("forged signature")
            .json(with("signature", json!(forged.as_str())))
            .expect(401, "does not verify"),
        tx("amount changed after signing")
            .json(with("amount", json!(3)))
            .expect(401, "does not verify"),
        tx("nonce changed after signing")
            .json(with("nonce", json!(10)))
            .expect(401, "does not verify"),
        tx("nonce dropped after signing")
            .json(without("nonce"))
            .expect(401, "does not verify"),
        tx("signature of another transfer")
            .json(with("signature", json!(me.sign(&changed).as_str())))
            .expect(401, "does not verify"),
        tx("body over max_body_bytes")
            .raw(over_limit.clone())
            .expect(413, "65536"),
        reg("missing nodes")
            .json(json!({"node": ["127.0.0.1:5000"]}))
            .expect(400, "missing field: nodes"),
        reg("null nodes")
            .json(json!({"nodes": null}))
            .expect(400, "nodes"),
        reg("nodes a string")
            .json(nodes(json!("127.0.0.1:5000")))
            .expect(400, "list"),
        reg("nodes an object")
            .json(nodes(json!({"a": "127.0.0.1:5000"})))
            .expect(400, "list"),
        reg("empty list")
            .json(nodes(json!([])))
            .expect(400, "empty"),
        reg("number entry")
            .json(nodes(json!([5000])))
            .expect(400, "nodes[0]"),
        reg("null second entry")
            .json(nodes(json!(["127.0.0.1:7", null])))
            .expect(400, "nodes[1]"),
        reg("https")
            .json(nodes(json!(["https://x:1"])))
            .expect(400, "plain HTTP"),
        reg("ftp")
            .json(nodes(json!(["ftp://a"])))
            .expect(400, "scheme `ftp`"),
        reg("no port")
            .json(nodes(json!(["host"])))
            .expect(400, "no port"),
        reg("port 0")
            .json(nodes(json!(["host:0"])))
            .expect(400, "port `0`"),
        reg("port 99999")
            .json(nodes(json!(["host:99999"])))
            .expect(400, "from 1 to 65535"),
        reg("space in host")
            .json(nodes(json!(["a b:1"])))
            .expect(400, "whitespace"),
        reg("user info")
            .json(nodes(json!(["http://u@h:1"])))
            .expect(400, "user name"),
        reg("path")
            .json(nodes(json!(["http://h:1/path"])))
            .expect(400, "has a path"),
        reg("query")
            .json(nodes(json!(["h:1?x=1"])))
            .expect(400, "has a query"),
        reg("empty entry")
            .json(nodes(json!([""])))
            .expect(400, "empty"),
        reg("bare IPv6")
            .json(nodes(json!(["::1:5000"])))
            .expect(400, "brackets"),
        reg("bad host name")
            .json(nodes(json!(["bad!host:1"])))
            .expect(400, "not a valid host name"),
        reg("60 KB entry")
            .json(nodes(json!([huge])))
            .expect(400, "at most 255"),
        reg("one bad among good")
            .json(nodes(json!(["127.0.0.1:7", "ftp://a"])))
            .expect(400, "scheme `ftp`"),
        reg("too many peers")
            .json(nodes(json!((1000..1065)
                .map(|p| format!("127.0.0.1:{p}"))
                .collect::<Vec<_>>())))
            .expect(400, "too many peers"),
        reg("not JSON").raw("nodes=a").expect(400, "not valid JSON"),
        reg("JSON array")
            .json(json!(["127.0.0.1:5000"]))
            .expect(400, "JSON object"),
        reg("empty body").raw("").expect(400, "empty"),
        reg("body over max_body_bytes")
            .raw(over_limit)
            .expect(413, "65536"),
        case("POST /mine", "POST", "/mine")
            .json(json!({}))
            .expect(405, "GET"),
        case("PUT /mine", "PUT", "/mine").expect(405, "method not allowed"),
        case("DELETE /mine", "DELETE", "/mine").expect(405, "method not allowed"),
        case("GET /transactions/new", "GET", "/transactions/new").expect(405, "POST"),
        case("GET /nodes/register", "GET", "/nodes/register").expect(405, "POST"),
        case("GET /nope", "GET", "/nope").expect(404, "/nope"),
        case("POST /nope", "POST", "/nope")
            .json(json!({}))
            .expect(404, "no such endpoint"),
        case("balance without address", "GET", "/balance").expect(400, "address"),
        case("balance of garbage", "GET", "/balance?address=bob")
            .expect(400, "address is not valid"),
    ];
    assert!(cases.len() >= 30);

    let before = snapshot(&node);
    for c in &cases {
        let answer = http(
            c.method,
            &format!("{}{}", node.url, c.path),
            c.body.clone(),
            CALL,
        );
        assert!(answer.0 < 500, "{}: a server error: {:?}", c.name, answer);
        expect_error(&c.name, &answer, c.status, c.keyword);
        let text = error_text(&c.name, &answer.1);
        assert!(
            text.len() <= 1024,
            "{}: the error echoes too much ({} bytes)",
            c.name,
            text.len()
        );
    }

    let (status, health) = node.get("/health");
    assert_eq!(status, 200, "the node still serves: {health}");
    assert_eq!(
        snapshot(&node),
        before,
        "no bad request changed the chain, the pool or the peers"
    );
    // The untouched transfer the table was built from is still admissible.
    let (status, body) = node.post("/transactions/new", &valid);
    assert_eq!(status, 201, "{body}");
    let log = node.log_text();
    assert!(!log.contains("panicked"), "the node panicked:\n{log}");
}

#[test]
fn replays_and_overspending_are_refused() {
    let node = TestNode::start();
    mine_blocks(&node, 5);
    let me = node_wallet(&node);
    let friend = Wallet::generate();

    // The same signed transfer twice: admitted, then a replay of a pending transfer.
    let once = signed_body(&me, &transfer(&me, friend.address(), 2, Some(1)));
    let (status, body) = node.post("/transactions/new", &once);
    assert_eq!(status, 201, "{body}");
    expect_error(
        "replay while pending",
        &node.post("/transactions/new", &once),
        409,
        "replay",
    );
    // Once mined, still a replay (of a transfer in the chain).
    node.mine();
    let answer = node.post("/transactions/new", &once);
    expect_error("replay after mining", &answer, 409, "replay");
    expect_error("replay after mining", &answer, 409, "in the chain");
    // Balance now 5 - 2 + 1 = 4.
    assert_eq!(node.balance(me.address().as_str()), 4);
    assert_eq!(node.balance(friend.address().as_str()), 2);

    // More than the balance.
    let too_much = signed_body(&me, &transfer(&me, friend.address(), 100, Some(2)));
    expect_error(
        "larger than the balance",
        &node.post("/transactions/new", &too_much),
        409,
        "insufficient balance",
    );
    // A sender with no coins at all.
    let broke = signed_body(&friend, &transfer(&friend, me.address(), 3, None));
    expect_error(
        "more than the recipient got",
        &node.post("/transactions/new", &broke),
        409,
        "insufficient balance",
    );

    // Pending spends count: 3 fits in 4, another 3 does not, 1 still does.
    let three = signed_body(&me, &transfer(&me, friend.address(), 3, Some(3)));
    let (status, body) = node.post("/transactions/new", &three);
    assert_eq!(status, 201, "{body}");
    let three_more = signed_body(&me, &transfer(&me, friend.address(), 3, Some(4)));
    let answer = node.post("/transactions/new", &three_more);
    expect_error(
        "over the balance with pending",
        &answer,
        409,
        "insufficient balance",
    );
    expect_error(
        "over the balance with pending",
        &answer,
        409,
        "3 already pending",
    );
    let one = signed_body(&me, &transfer(&me, friend.address(), 1, Some(5)));
    let (status, body) = node.post("/transactions/new", &one);
    assert_eq!(status, 201, "{body}");

    let (_, pool) = node.get("/transactions");
    assert_eq!(pool["length"], 2, "{pool}");
    let (_, wallet) = node.get("/wallet");
    assert_eq!(
        (&wallet["balance"], &wallet["pending"], &wallet["available"]),
        (&json!(4), &json!(4), &json!(0)),
        "{wallet}"
    );
}

#[test]
fn one_transfer_sent_200_times_at_once_is_admitted_once() {
    let node = TestNode::start();
    mine_blocks(&node, 2);
    let me = node_wallet(&node);
    let friend = Wallet::generate();
    let body = signed_body(&me, &transfer(&me, friend.address(), 1, Some(77))).to_string();
    let url = format!("{}/transactions/new", node.url);

    const SENDS: usize = 200;
    const THREADS: usize = 32;
    let next = AtomicUsize::new(0);
    let answers = Mutex::new(Vec::with_capacity(SENDS));
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::SeqCst) < SENDS {
                    let answer = http("POST", &url, Some(body.clone().into_bytes()), CALL);
                    answers
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(answer);
                }
            });
        }
    });
    let answers = answers.into_inner().unwrap_or_else(|p| p.into_inner());
    assert_eq!(answers.len(), SENDS);
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(created, 1, "exactly one admission");
    for answer in answers.iter().filter(|(status, _)| *status != 201) {
        expect_error("a concurrent duplicate", answer, 409, "replay");
    }
    let (_, pool) = node.get("/transactions");
    assert_eq!(pool["length"], 1, "{pool}");
    assert_eq!(pool["transactions"][0]["nonce"], 77);
}

#[test]
fn the_node_serves_while_a_slow_block_is_searched() {
    // Difficulty 9 takes about 16^9 = 6.9e10 hashes: minutes, not seconds, so the
    // search is surely still running while the requests below are answered.
    let mut node = TestNode::start_with(NodeOptions {
        difficulty: 9,
        ..NodeOptions::default()
    });
    let me = node_wallet(&node);
    let friend = Wallet::generate();
    let pid = node.pid().expect("the node runs");
    let idle = cpu_ticks(pid);

    let mine_url = format!("{}/mine", node.url);
    let miner = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .build()
            .expect("a blocking HTTP client can be built");
        let response = client.get(mine_url).send().map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body: Value = response.json().map_err(|e| e.to_string())?;
        Ok::<_, String>((status, body))
    });
    // The search burns CPU; wait (bounded) until it has used a quarter second.
    assert!(
        wait_until(Duration::from_secs(10), || cpu_ticks(pid) >= idle + 25),
        "the proof search did not start"
    );

    let spend = signed_body(&me, &transfer(&me, friend.address(), 1, Some(1)));
    let mut slowest: Vec<(&str, Duration)> = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let (status, chain) = node.get("/chain");
        assert_eq!(status, 200, "{chain}");
        assert_eq!(chain["length"], 1);
        slowest.push(("GET /chain", started.elapsed()));

        let started = Instant::now();
        // The node has no coins yet (its block is still being searched): answered, refused.
        let answer = node.post("/transactions/new", &spend);
        expect_error(
            "a transfer during the search",
            &answer,
            409,
            "insufficient balance",
        );
        slowest.push(("POST /transactions/new", started.elapsed()));

        let started = Instant::now();
        let (status, pool) = node.get("/transactions");
        assert_eq!(status, 200, "{pool}");
        slowest.push(("GET /transactions", started.elapsed()));

        let started = Instant::now();
        let (status, health) = node.get("/health");
        assert_eq!(status, 200, "{health}");
        slowest.push(("GET /health", started.elapsed()));
    }
    for (what, took) in &slowest {
        assert!(*took < RESPONSIVE, "{what} took {took:?} while mining");
    }
    let worst = slowest
        .iter()
        .max_by_key(|(_, took)| *took)
        .expect("requests were made");
    eprintln!(
        "slowest request while mining at difficulty 9: {} in {:?}",
        worst.0, worst.1
    );
    assert!(!miner.is_finished(), "the search is still running");

    // SIGTERM stops the search: the in-flight /mine is answered 503 and the node exits cleanly.
    assert!(
        node.stop(),
        "the node exits cleanly on SIGTERM while mining"
    );
    let answer = miner
        .join()
        .expect("the /mine thread does not panic")
        .expect("the in-flight /mine gets an answer");
    expect_error("/mine stopped by SIGTERM", &answer, 503, "shutting down");
}

#[test]
fn a_transfer_submitted_during_mining_is_never_lost() {
    // Difficulty 5: a search takes about a million hashes, a fraction of a second,
    // long enough for a submission to arrive while it runs most of the time.
    let node = TestNode::start_with(NodeOptions {
        difficulty: 5,
        ..NodeOptions::default()
    });
    mine_blocks(&node, 2);
    let me = node_wallet(&node);
    let friend = Wallet::generate();
    // Whether a submission lands during the search depends on timing, so try
    // a few rounds; every round must lose nothing, and at least one must
    // really have overlapped the search, or the test proved nothing.
    let mut overlapped = 0;
    for nonce in 1..=5 {
        let spend = signed_body(&me, &transfer(&me, friend.address(), 1, Some(nonce)));
        std::thread::scope(|scope| {
            let miner = scope.spawn(|| node.mine());
            let (status, body) = node.post("/transactions/new", &spend);
            assert_eq!(status, 201, "{body}");
            if !miner.is_finished() {
                overlapped += 1;
            }
            let mined = miner.join().expect("the /mine thread does not panic");
            let included = mined["transactions"]
                .as_array()
                .expect("a list")
                .iter()
                .any(|t| t["signature"] == spend["signature"]);
            let (_, pool) = node.get("/transactions");
            let pending = pool["transactions"]
                .as_array()
                .expect("a list")
                .iter()
                .any(|t| t["signature"] == spend["signature"]);
            assert!(
                included != pending,
                "the transfer is either in the mined block or still pending, exactly one: {mined} {pool}"
            );
        });
        // Whichever it was, the next block settles it.
        node.mine();
        assert_eq!(node.balance(friend.address().as_str()), nonce);
        let (_, pool) = node.get("/transactions");
        assert_eq!(pool["length"], 0);
        if overlapped >= 2 {
            break;
        }
    }
    assert!(
        overlapped > 0,
        "no submission arrived while a search ran in 5 rounds; the test needs a higher difficulty"
    );
}

#[test]
fn concurrent_mine_calls_make_one_block_each() {
    let node = TestNode::start_with(NodeOptions {
        difficulty: 4,
        ..NodeOptions::default()
    });
    for round in 0..3 {
        let before = node.chain().len() as u64;
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| node.mine());
            let b = scope.spawn(|| node.mine());
            (
                a.join().expect("a /mine thread does not panic"),
                b.join().expect("a /mine thread does not panic"),
            )
        });
        let mut indexes = [
            a["index"].as_u64().expect("an index"),
            b["index"].as_u64().expect("an index"),
        ];
        indexes.sort_unstable();
        assert_eq!(indexes, [before + 1, before + 2], "round {round}");
        assert_eq!(node.chain().len() as u64, before + 2, "round {round}");
    }
    let chain = node.chain();
    assert_eq!(chain.len(), 7);
    for (at, block) in chain.iter().enumerate().skip(1) {
        assert_eq!(block["index"], at as u64 + 1);
        let before: Block = serde_json::from_value(chain[at - 1].clone()).expect("a block");
        assert_eq!(
            block["previous_hash"],
            before.hash().to_hex(),
            "block {} links to the block before it",
            at + 1
        );
    }

    // A second node validates the whole chain (proofs, links, rewards) when it adopts it.
    let judge = TestNode::start_with(NodeOptions {
        difficulty: 4,
        ..NodeOptions::default()
    });
    let peer = node.url.trim_start_matches("http://").to_owned();
    let (status, body) = judge.post("/nodes/register", &json!({ "nodes": [peer] }));
    assert_eq!(status, 201, "{body}");
    let (status, body) = judge.get("/nodes/resolve");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Our chain was replaced", "{body}");
    assert_eq!(body["peers"][0]["result"], "adopted", "{body}");
    assert_eq!(judge.chain(), chain);
}

#[test]
fn secret_is_given_to_loopback_and_never_logged() {
    // Only loopback can be tested here: the tests listen and call on 127.0.0.1
    // alone, so the 403 for other callers is left to the handler's own check.
    let node = TestNode::start();
    let response = reqwest::blocking::Client::builder()
        .timeout(CALL)
        .no_proxy()
        .build()
        .expect("a blocking HTTP client can be built")
        .get(format!("{}/secret", node.url))
        .send()
        .expect("/secret answers");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "the secret must not be cached"
    );
    let body: Value = response.json().expect("/secret answers JSON");
    let secret = body["secret"].as_str().expect("a secret string").to_owned();
    let wallet = Wallet::from_secret(&secret).expect("the secret loads");
    assert_eq!(wallet.address().as_str(), node.address());

    // Wait (bounded) for the request's log line, so the log is complete up to /secret.
    assert!(
        wait_until(Duration::from_secs(10), || node
            .log_text()
            .contains("path=/secret")),
        "no log line for /secret:\n{}",
        node.log_text()
    );
    let log = node.log_text();
    // The PEM header's base64 is the same for every key; look for the key material.
    let middle = &secret[secret.len() / 2..secret.len() / 2 + 48];
    assert!(!log.contains(&secret), "the secret is in the log");
    assert!(!log.contains(middle), "part of the secret is in the log");
}

#[test]
fn full_precision_timestamps_survive_json_round_trips() {
    // Block timestamps are full-precision floats (`time()`); about one in eight
    // of them reads back one unit in the last place off unless JSON floats are
    // parsed exactly, and then the block's hash changes. Forty blocks make that
    // near certain to show: in a peer's validation and in a restart's reload.
    let mut node = TestNode::start_with(NodeOptions {
        difficulty: 2,
        ..NodeOptions::default()
    });
    mine_blocks(&node, 40);
    let chain = node.chain();
    assert_eq!(chain.len(), 41);

    let judge = TestNode::start_with(NodeOptions {
        difficulty: 2,
        ..NodeOptions::default()
    });
    let peer = node.url.trim_start_matches("http://").to_owned();
    let (status, body) = judge.post("/nodes/add_nodes", &json!({ "nodes": [peer] }));
    assert_eq!(status, 201, "{body}");
    let (status, body) = judge.get("/nodes/sync");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["peers"][0]["result"], "adopted", "{}", body["peers"]);
    assert_eq!(
        judge.chain(),
        chain,
        "the adopted chain is byte for byte the peer's"
    );

    node.restart()
        .expect("the node restarts on its data directory");
    assert_eq!(node.chain(), chain, "the reloaded chain is the stored one");
    let (_, health) = node.get("/health");
    let mined = node.mine();
    assert_eq!(mined["previous_hash"], health["tip"]);
}

/// Sends `request` as it is on a new connection and reads until the node
/// closes it (bounded by [`CALL`]); the head and the body apart.
fn raw_exchange(node: &TestNode, request: &str) -> (String, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let host = node.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("the node accepts");
    stream.set_read_timeout(Some(CALL)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the node ends the answer by closing the connection");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("the answer has a head");
    let head = String::from_utf8_lossy(&answer[..split]).to_lowercase();
    (head, answer[split + 4..].to_vec())
}

#[test]
fn an_http_1_0_client_gets_the_streamed_chain_unchunked() {
    // HTTP/1.0 has no chunked encoding: a streamed answer must reach such a
    // client as plain bytes ended by the connection's close, not with chunk
    // sizes mixed into the JSON.
    let node = TestNode::start();
    mine_blocks(&node, 2);
    let (status, whole) = node.get("/chain");
    assert_eq!(status, 200);
    let (status, page) = node.get("/chain?from=2&limit=1");
    assert_eq!(status, 200);
    for (path, expected) in [("/chain", &whole), ("/chain?from=2&limit=1", &page)] {
        let (head, body) = raw_exchange(&node, &format!("GET {path} HTTP/1.0\r\n\r\n"));
        assert!(head.starts_with("http/1.0 200"), "{path}: {head}");
        assert!(!head.contains("transfer-encoding"), "{path}: {head}");
        let body: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{path}: not plain JSON ({e}): {body:?}"));
        assert_eq!(&body, expected, "{path}");
    }
    // The other answer that streams the chain.
    let (head, body) = raw_exchange(&node, "GET /nodes/resolve HTTP/1.0\r\n\r\n");
    assert!(!head.contains("transfer-encoding"), "{head}");
    let body: Value = serde_json::from_slice(&body).expect("/nodes/resolve is plain JSON");
    assert_eq!(body["chain"], whole["chain"]);
    // HTTP/1.1 clients still get it chunked.
    let (head, _) = raw_exchange(
        &node,
        "GET /chain HTTP/1.1\r\nhost: sigchain\r\nconnection: close\r\n\r\n",
    );
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
}
