//! The HTTP API in process, through actix's test service: routes, status codes, JSON errors, body limits and the loopback gate of `/secret`.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use actix_web::dev::{Service as _, ServiceResponse};
use actix_web::{test, web, App};
use futures_util::stream;
use node::api::{self, BodyLimits};
use node::chain::Transaction;
use node::service::Node;
use serde_json::{json, Value};
use wallet::{Amount, Nonce, Wallet};

const LOOPBACK: &str = "127.0.0.1:40000";
const REMOTE: &str = "203.0.113.7:40000";

fn open_node(dir: &Path) -> Node {
    common::open_node_with(dir, |config| config.node.max_body_bytes = 4096)
}

fn peer(addr: &str) -> SocketAddr {
    addr.parse().expect("a socket address")
}

async fn json_of(response: ServiceResponse) -> (u16, Value) {
    let status = response.status().as_u16();
    // Read whole: `/chain` answers are streamed.
    let bytes = test::read_body(response).await;
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {bytes:?}"));
    (status, value)
}

macro_rules! app {
    ($node:expr) => {
        test::init_service(App::new().configure(api::configure($node.clone()))).await
    };
}

#[actix_web::test]
async fn secret_is_given_only_to_loopback_callers() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    for (who, expected) in [
        (Some(REMOTE), 403),
        (None, 403),
        (Some(LOOPBACK), 200),
        (Some("[::1]:4000"), 200),
        // An IPv4 caller of a node bound to `::`.
        (Some("[::ffff:127.0.0.1]:4000"), 200),
        (Some("[::ffff:203.0.113.7]:4000"), 403),
    ] {
        let mut request = test::TestRequest::get().uri("/secret");
        if let Some(addr) = who {
            request = request.peer_addr(peer(addr));
        }
        let (status, body) = json_of(test::call_service(&app, request.to_request()).await).await;
        assert_eq!(status, expected, "{who:?}: {body}");
        if expected == 200 {
            assert_eq!(body["secret"].as_str(), Some(node.secret().as_str()));
        } else {
            assert!(
                body["error"].as_str().unwrap().contains("loopback"),
                "{body}"
            );
            assert!(body.get("secret").is_none());
        }
    }
}

#[actix_web::test]
async fn the_seed_story_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();

    let (status, mined) = json_of(test::call_service(&app, get("/mine")).await).await;
    assert_eq!((status, mined["index"].as_u64()), (200, Some(2)), "{mined}");

    let owner = Wallet::from_secret(&node.secret()).unwrap();
    let friend = Wallet::generate();
    let pay = Transaction::sign(
        &owner,
        friend.address(),
        Amount::ONE,
        Some(Nonce::new(7).unwrap()),
    );
    let body = serde_json::to_value(&pay).unwrap();
    let post = |body: &Value| {
        test::TestRequest::post()
            .uri("/transactions/new")
            .set_json(body)
            .to_request()
    };
    let (status, answer) = json_of(test::call_service(&app, post(&body)).await).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["message"], "Transaction will be added to Block 3");
    let (status, answer) = json_of(test::call_service(&app, post(&body)).await).await;
    assert_eq!(status, 409, "a replay: {answer}");

    let mut forged = body.clone();
    forged["amount"] = json!(2);
    let (status, answer) = json_of(test::call_service(&app, post(&forged)).await).await;
    assert_eq!(status, 401, "{answer}");
    let mut reward = body.clone();
    reward["sender"] = json!("0");
    let (status, answer) = json_of(test::call_service(&app, post(&reward)).await).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("reserved"),
        "{answer}"
    );

    let (status, pool) = json_of(test::call_service(&app, get("/transactions")).await).await;
    assert_eq!((status, pool["length"].as_u64()), (200, Some(1)), "{pool}");
    json_of(test::call_service(&app, get("/mine")).await).await;
    let (_, chain) = json_of(test::call_service(&app, get("/chain")).await).await;
    assert_eq!(chain["length"], 3);
    assert_eq!(chain["chain"][2]["transactions"][0], body);
}

#[actix_web::test]
async fn errors_are_json_with_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    let cases = [
        (test::TestRequest::get().uri("/no/such/route"), 404),
        (test::TestRequest::delete().uri("/chain"), 405),
        (
            test::TestRequest::post()
                .uri("/transactions/new")
                .set_payload("{not json"),
            400,
        ),
        (
            test::TestRequest::post()
                .uri("/transactions/new")
                .set_payload("[1]"),
            400,
        ),
        (
            test::TestRequest::post()
                .uri("/transactions/new")
                .set_payload(""),
            400,
        ),
        (
            test::TestRequest::post()
                .uri("/nodes/register")
                .set_payload("{}"),
            400,
        ),
        (test::TestRequest::get().uri("/balance?address=nope"), 400),
        // The configured body limit (4,096 bytes) is the one that applies.
        (
            test::TestRequest::post()
                .uri("/transactions/new")
                .set_payload(format!("{{\"sender\": \"{}\"}}", "A".repeat(5000))),
            413,
        ),
    ];
    for (request, expected) in cases {
        let request = request.to_request();
        let what = format!("{} {}", request.method(), request.uri());
        let (status, body) = json_of(test::call_service(&app, request).await).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {body}"
        );
    }
}

#[actix_web::test]
async fn a_body_that_stops_arriving_is_answered_408() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let limits = BodyLimits {
        max_bytes: 4096,
        timeout: Duration::from_millis(200),
    };
    let app = test::init_service(
        App::new()
            .configure(api::configure(node.clone()))
            .app_data(limits),
    )
    .await;
    // One byte, then nothing more: a slow sender.
    let first = stream::once(async {
        Ok::<_, actix_web::error::PayloadError>(web::Bytes::from_static(b"{"))
    });
    let never = stream::pending();
    let stalled: std::pin::Pin<Box<dyn futures_util::Stream<Item = _>>> =
        Box::pin(futures_util::StreamExt::chain(first, never));
    let (request, _) = test::TestRequest::post()
        .uri("/transactions/new")
        .insert_header(("Content-Length", "60000"))
        .to_request()
        .replace_payload(actix_web::dev::Payload::from(stalled));
    let response = tokio::time::timeout(Duration::from_secs(10), app.call(request))
        .await
        .expect("the node answers a stalled body within its body timeout")
        .expect("an HTTP answer");
    let (status, body) = json_of(response).await;
    assert_eq!(status, 408, "{body}");
}

use common::open_node_with;

fn register(peers: &[&str], from: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri("/nodes/register")
        .peer_addr(peer(from))
        .set_json(json!({ "nodes": peers }))
}

#[actix_web::test]
async fn peers_are_removed_only_by_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    let (status, _) = json_of(
        test::call_service(
            &app,
            register(&["a.example:1", "b.example:2"], REMOTE).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    let delete = |uri: &str, from: &str| {
        test::TestRequest::delete()
            .uri(uri)
            .peer_addr(peer(from))
            .to_request()
    };
    let (status, body) =
        json_of(test::call_service(&app, delete("/nodes/a.example:1", REMOTE)).await).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(node.peers().len(), 2);
    let (status, body) =
        json_of(test::call_service(&app, delete("/nodes/a.example%3A1", LOOPBACK)).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_nodes"], json!(["b.example:2"]));
    let (status, body) =
        json_of(test::call_service(&app, delete("/nodes/a.example:1", LOOPBACK)).await).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) =
        json_of(test::call_service(&app, delete("/nodes/not%20a%20peer", LOOPBACK)).await).await;
    assert_eq!(status, 400, "{body}");
}

#[actix_web::test]
async fn closed_registration_admits_only_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node_with(dir.path(), |c| c.peers.open_registration = false);
    let app = app!(node);
    let (status, body) =
        json_of(test::call_service(&app, register(&["a.example:1"], REMOTE).to_request()).await)
            .await;
    assert_eq!(status, 403, "{body}");
    assert!(node.peers().is_empty());
    let (status, body) =
        json_of(test::call_service(&app, register(&["a.example:1"], LOOPBACK).to_request()).await)
            .await;
    assert_eq!(status, 201, "{body}");
}

#[actix_web::test]
async fn itself_unspecified_and_link_local_peers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    let port = node.config().node.port;
    for (entry, needle) in [
        (format!("localhost:{port}"), "this node itself"),
        (format!("127.0.0.1:{port}"), "this node itself"),
        (format!("[::ffff:127.0.0.1]:{port}"), "this node itself"),
        ("0.0.0.0:5001".to_owned(), "unspecified"),
        ("169.254.169.254:80".to_owned(), "link-local"),
    ] {
        let (status, body) =
            json_of(test::call_service(&app, register(&[&entry], LOOPBACK).to_request()).await)
                .await;
        assert_eq!(status, 400, "{entry}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{entry}: {body}"
        );
    }
    assert!(node.peers().is_empty());
}

#[actix_web::test]
async fn a_request_from_this_node_itself_is_answered_508() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    let request = test::TestRequest::get()
        .uri("/chain")
        .insert_header((node::net::NODE_ID_HEADER, node.id()))
        .to_request();
    let (status, body) = json_of(test::call_service(&app, request).await).await;
    assert_eq!(status, 508, "{body}");
    let request = test::TestRequest::get()
        .uri("/chain")
        .insert_header((node::net::NODE_ID_HEADER, "0123456789abcdef"))
        .to_request();
    let (status, body) = json_of(test::call_service(&app, request).await).await;
    assert_eq!((status, body["length"].as_u64()), (200, Some(1)), "{body}");
}

#[actix_web::test]
async fn the_per_peer_report_goes_to_the_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node_with(dir.path(), |c| c.peers.timeout = Duration::from_millis(500));
    let app = app!(node);
    // A peer on a port nothing listens on: it is reported unreachable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (status, _) = json_of(
        test::call_service(
            &app,
            register(&[&closed.to_string()], LOOPBACK).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    let resolve = |from: &str| {
        test::TestRequest::get()
            .uri("/nodes/resolve")
            .peer_addr(peer(from))
            .to_request()
    };
    let (status, body) = json_of(test::call_service(&app, resolve(LOOPBACK)).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["peers"][0]["result"], "unreachable", "{body}");
    let (status, body) = json_of(test::call_service(&app, resolve(REMOTE)).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "Our chain is authoritative");
    assert!(
        body.get("peers").is_none(),
        "no port scanner for others: {body}"
    );
}
