//! The OpenAPI description against the route table (every served route described, nothing described that is not served), its own consistency, and Swagger UI at `/docs` served from the binary.

mod common;

use common::open_node;

use std::collections::{BTreeSet, HashSet};

use actix_web::body::MessageBody as _;
use actix_web::dev::ServiceResponse;
use actix_web::{test, App};
use node::api;
use serde_json::Value;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn body_of(response: ServiceResponse) -> (u16, String, Vec<u8>) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let bytes = response
        .into_body()
        .try_into_bytes()
        .unwrap_or_else(|_| panic!("a complete body"));
    (status, content_type, bytes.to_vec())
}

/// Fetches `/openapi.json` from an app configured like the server's.
async fn served_document() -> Value {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = test::init_service(App::new().configure(api::configure(node))).await;
    let request = test::TestRequest::get().uri("/openapi.json").to_request();
    let (status, content_type, body) = body_of(test::call_service(&app, request).await).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/json");
    serde_json::from_slice(&body).expect("/openapi.json is JSON")
}

/// Every (method, path) the document describes.
fn described(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("a paths object");
    let mut described = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some() {
                described.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    described
}

#[actix_web::test]
async fn every_served_route_is_described_and_nothing_else() {
    let doc = served_document().await;
    let served: BTreeSet<(String, String)> = api::routes()
        .into_iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let described = described(&doc);
    let undescribed: Vec<_> = served.difference(&described).collect();
    let unserved: Vec<_> = described.difference(&served).collect();
    assert!(
        undescribed.is_empty(),
        "served but not described in /openapi.json (add #[utoipa::path] to the handler and list it in api/openapi.rs): {undescribed:?}"
    );
    assert!(
        unserved.is_empty(),
        "described in /openapi.json but not served: {unserved:?}"
    );
    // The table is not trivially small: the seed's routes and their aliases are in it.
    for route in [
        ("GET", "/blockchain"),
        ("POST", "/nodes/add_nodes"),
        ("DELETE", "/nodes/{peer}"),
    ] {
        assert!(
            served.contains(&(route.0.to_owned(), route.1.to_owned())),
            "{route:?}"
        );
    }
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => out.push(target),
                    _ => refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[actix_web::test]
async fn the_document_is_openapi_3_1_and_self_consistent() {
    let doc = served_document().await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{target} is not a local reference"));
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }

    let mut ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(
                ids.insert(id.to_owned()),
                "{method} {path}: duplicate operationId {id:?}"
            );
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path}: no responses");
            for (status, response) in responses {
                let code: u16 = status.parse().unwrap();
                let schema = &response["content"]["application/json"]["schema"];
                if code >= 400 {
                    assert_eq!(
                        schema["$ref"], "#/components/schemas/ErrorBody",
                        "{method} {path} {status}: errors are {{\"error\": ...}}"
                    );
                }
            }
        }
    }
}

#[actix_web::test]
async fn lenient_amount_and_nonce_are_described() {
    let doc = served_document().await;
    let transfer = &doc["components"]["schemas"]["NewTransfer"]["properties"];
    for field in ["amount", "nonce"] {
        let kinds: Vec<&str> = transfer[field]["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{field}: {}", transfer[field]))
            .iter()
            .filter_map(|s| s["type"].as_str())
            .collect();
        assert_eq!(kinds, ["integer", "string"], "{field}");
    }
}

#[actix_web::test]
async fn docs_are_served_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let app = test::init_service(App::new().configure(api::configure(node))).await;

    let request = test::TestRequest::get().uri("/docs").to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers().get("location").unwrap(), "/docs/");

    let request = test::TestRequest::get().uri("/docs/").to_request();
    let (status, content_type, page) = body_of(test::call_service(&app, request).await).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = String::from_utf8(page).unwrap();

    // Every asset the page names (src="./x" or href="./x") comes from the node.
    let assets: Vec<&str> = page
        .split(['"', '\''])
        .filter_map(|s| s.strip_prefix("./"))
        .collect();
    for expected in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        assert!(assets.contains(&expected), "{expected} not in {assets:?}");
    }
    for asset in &assets {
        let request = test::TestRequest::get()
            .uri(&format!("/docs/{asset}"))
            .to_request();
        let (status, _, body) = body_of(test::call_service(&app, request).await).await;
        assert_eq!(status, 200, "/docs/{asset}");
        assert!(!body.is_empty(), "/docs/{asset}");
        if *asset == "swagger-initializer.js" {
            let script = String::from_utf8(body).unwrap();
            assert!(script.contains("/openapi.json"), "{script}");
        }
    }
}
