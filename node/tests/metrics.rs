//! `/metrics` read with a Prometheus text parser: the counters move as a node mines, admits and refuses transfers and resolves; two nodes in one process keep separate registries; every answer carries an `X-Request-Id`.

mod common;

use common::open_node;

use actix_web::body::MessageBody as _;
use actix_web::dev::ServiceResponse;
use actix_web::{test, App};
use node::api;
use node::chain::Transaction;
use prometheus_parse::{Scrape, Value};
use wallet::{Amount, Nonce, Wallet};

macro_rules! app {
    ($node:expr) => {
        test::init_service(
            App::new()
                .wrap_fn(api::log_request)
                .configure(api::configure($node.clone())),
        )
        .await
    };
}

async fn status_of(response: ServiceResponse) -> u16 {
    response.status().as_u16()
}

macro_rules! scrape {
    ($app:expr) => {
        parse(
            test::call_service(&$app, test::TestRequest::get().uri("/metrics").to_request()).await,
        )
    };
}

fn parse(response: ServiceResponse) -> Scrape {
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers().get("content-type").unwrap().clone();
    assert!(
        content_type
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{content_type:?}"
    );
    let bytes = response
        .into_body()
        .try_into_bytes()
        .unwrap_or_else(|_| panic!("a complete body"));
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("/metrics parses")
}

/// The value of the sample `name` with all of `labels`, or 0 when there is none.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => panic!("{name} is a summary"),
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?}: {found:?}");
    found.first().copied().unwrap_or(0.0)
}

#[actix_web::test]
async fn counters_move_as_the_node_works() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();

    let before = scrape!(app);
    assert_eq!(value(&before, "sigchain_chain_length", &[]), 1.0);
    assert_eq!(value(&before, "sigchain_blocks_mined_total", &[]), 0.0);
    assert_eq!(
        value(&before, "sigchain_transfers_admitted_total", &[]),
        0.0
    );
    assert!(value(&before, "sigchain_tip_age_seconds", &[]) > 0.0);

    assert_eq!(
        status_of(test::call_service(&app, get("/mine")).await).await,
        200
    );
    let owner = Wallet::from_secret(&node.secret()).unwrap();
    let friend = Wallet::generate();
    let pay = Transaction::sign(
        &owner,
        friend.address(),
        Amount::ONE,
        Some(Nonce::new(1).unwrap()),
    );
    let good = serde_json::to_value(&pay).unwrap();
    let post = |body: &serde_json::Value| {
        test::TestRequest::post()
            .uri("/transactions/new")
            .set_json(body)
            .to_request()
    };
    assert_eq!(
        status_of(test::call_service(&app, post(&good)).await).await,
        201
    );
    assert_eq!(
        status_of(test::call_service(&app, post(&good)).await).await,
        409
    );
    let mut forged = good.clone();
    forged["amount"] = serde_json::json!(2);
    assert_eq!(
        status_of(test::call_service(&app, post(&forged)).await).await,
        401
    );
    let mut broken = good.clone();
    broken["recipient"] = serde_json::json!("not an address");
    assert_eq!(
        status_of(test::call_service(&app, post(&broken)).await).await,
        400
    );
    assert_eq!(
        status_of(test::call_service(&app, get("/nodes/resolve")).await).await,
        200
    );
    assert_eq!(
        status_of(test::call_service(&app, get("/no/such/route")).await).await,
        404
    );

    let after = scrape!(app);
    assert_eq!(value(&after, "sigchain_chain_length", &[]), 2.0);
    assert_eq!(value(&after, "sigchain_pending_transfers", &[]), 1.0);
    assert_eq!(value(&after, "sigchain_blocks_mined_total", &[]), 1.0);
    assert_eq!(value(&after, "sigchain_transfers_admitted_total", &[]), 1.0);
    for reason in ["replay", "bad_signature", "malformed"] {
        assert_eq!(
            value(
                &after,
                "sigchain_transfers_refused_total",
                &[("reason", reason)]
            ),
            1.0,
            "{reason}"
        );
    }
    // The replay and the admitted transfer were verified; the forgery failed its check.
    assert_eq!(
        value(
            &after,
            "sigchain_signature_checks_total",
            &[("result", "valid")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &after,
            "sigchain_signature_checks_total",
            &[("result", "invalid")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "sigchain_signature_check_duration_seconds_count",
            &[]
        ),
        3.0
    );
    // The mined block and the admitted transfer were each committed.
    assert!(value(&after, "sigchain_store_commits_total", &[]) >= 2.0);
    assert!(value(&after, "sigchain_store_commit_duration_seconds_count", &[]) >= 2.0);

    let requests = |route: &str, status: &str| {
        value(
            &after,
            "sigchain_http_requests_total",
            &[("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("/mine", "200"), 1.0);
    assert_eq!(requests("/transactions/new", "201"), 1.0);
    assert_eq!(requests("/transactions/new", "409"), 1.0);
    assert_eq!(requests("/nodes/resolve", "200"), 1.0);
    // Unknown paths share one label: a scanner cannot grow the metrics without bound.
    assert_eq!(requests("unmatched", "404"), 1.0);
    assert_eq!(requests("/metrics", "200"), 1.0, "the first scrape");
    assert!(
        value(
            &after,
            "sigchain_http_request_duration_seconds_count",
            &[("route", "/transactions/new")]
        ) == 4.0
    );
}

#[actix_web::test]
async fn two_nodes_in_one_process_keep_separate_metrics() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open_node(dir_a.path()), open_node(dir_b.path()));
    let (app_a, app_b) = (app!(a), app!(b));
    let mine = test::TestRequest::get().uri("/mine").to_request();
    assert_eq!(status_of(test::call_service(&app_a, mine).await).await, 200);
    assert_eq!(
        value(&scrape!(app_a), "sigchain_blocks_mined_total", &[]),
        1.0
    );
    assert_eq!(
        value(&scrape!(app_b), "sigchain_blocks_mined_total", &[]),
        0.0
    );
}

#[actix_web::test]
async fn every_answer_carries_a_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = app!(node);
    let id_of = |response: &ServiceResponse| {
        response
            .headers()
            .get(api::REQUEST_ID_HEADER)
            .map(|v| v.to_str().unwrap().to_owned())
    };

    let request = test::TestRequest::get()
        .uri("/health")
        .insert_header((api::REQUEST_ID_HEADER, "trace-42"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(id_of(&response).as_deref(), Some("trace-42"));

    // Not sane (a space, a header-splitting attempt): replaced by the node's own.
    let request = test::TestRequest::get()
        .uri("/no/such/route")
        .insert_header((api::REQUEST_ID_HEADER, "two words"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status().as_u16(), 404);
    let id = id_of(&response).expect("an id on an error answer too");
    assert_ne!(id, "two words");

    let first = id_of(
        &test::call_service(&app, test::TestRequest::get().uri("/health").to_request()).await,
    );
    let second = id_of(
        &test::call_service(&app, test::TestRequest::get().uri("/health").to_request()).await,
    );
    assert!(first.is_some() && second.is_some());
    assert_ne!(first, second);
}
