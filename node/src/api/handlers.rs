//! The request handlers: parse and check input, call the node, shape the seed's JSON answers.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use wallet::{Address, Amount, Nonce, Signature, WalletError};

use super::body::JsonObject;
use super::chain::{self, ChainStream};
#[allow(unused_imports)] // used only in the `#[utoipa::path]` annotations
use super::openapi::{
    BalanceBody, ChainBody, ErrorBody, HealthBody, MessageBody, MinedBody, NewTransfer, NodesBody,
    PeersChanged, PendingBody, RegisterRequest, ResolveBody, SecretBody,
};
use super::ApiError;
use super::{is_loopback, require_loopback, require_open_registration};
use crate::addresses::AddressCache;
use crate::chain::{FormError, Sender, Transaction};
use crate::net::{PeerAddr, NODE_ID_HEADER};
use crate::pool::AdmitError;
use crate::service::{Node, NodeError, MAX_PAGE_BLOCKS};

type Result<T> = std::result::Result<T, ApiError>;

/// `?from=N&limit=M` of `GET /chain`.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct ChainQuery {
    /// The first block to send, 1-based (1 is genesis).
    #[param(minimum = 1)]
    from: Option<u64>,
    /// The most blocks to send (at most 1000).
    #[param(minimum = 1)]
    limit: Option<u64>,
}

/// `GET /chain`: the whole chain, or with `?from=N&limit=M` (1-based) at
/// most M blocks from block N, with the whole chain's `length`.
#[utoipa::path(
    get,
    path = "/chain",
    tag = "chain",
    summary = "The whole chain, or a page of it",
    params(ChainQuery),
    responses(
        (status = 200, description = "The blocks asked for (every block without a query), genesis first, and the whole chain's length", body = ChainBody),
        (status = 400, description = "from or limit is 0 or not a whole number", body = ErrorBody),
        (status = 508, description = "The request came from this node itself (its x-sigchain-node header)", body = ErrorBody)
    )
)]
pub async fn chain(
    node: web::Data<Node>,
    req: HttpRequest,
    query: web::Query<ChainQuery>,
) -> Result<HttpResponse> {
    let from_itself = req
        .headers()
        .get(NODE_ID_HEADER)
        .is_some_and(|id| id.as_bytes() == node.id().as_bytes());
    if from_itself {
        // This node registered itself under a name it did not recognize:
        // saying so lets it drop the entry.
        return Err(ApiError::LoopDetected(
            "this request came from this node itself".into(),
        ));
    }
    let (from, limit) = match (query.from, query.limit) {
        (None, None) => (1, u64::MAX),
        (Some(0), _) => {
            return Err(ApiError::bad_request(
                "from must be a block index, 1 or more",
            ))
        }
        (_, Some(0)) => return Err(ApiError::bad_request("limit must be 1 or more")),
        (from, limit) => (
            from.unwrap_or(1),
            limit.unwrap_or(MAX_PAGE_BLOCKS).min(MAX_PAGE_BLOCKS),
        ),
    };
    // From the store, not memory: no state lock, and only what is committed.
    let reader = node.chain_reader().await?;
    let stall = node.config().node.stall_timeout;
    Ok(chain::respond(
        &req,
        ChainStream::new(reader, from, limit),
        stall,
    ))
}

/// `GET /transactions`: the pending pool, oldest first.
#[utoipa::path(
    get,
    path = "/transactions",
    tag = "transactions",
    summary = "The pending pool",
    responses(
        (status = 200, description = "The pending transfers, oldest first", body = PendingBody)
    )
)]
pub async fn transactions(node: web::Data<Node>) -> HttpResponse {
    let body = node.with_state(|state| {
        let pool: Vec<&Transaction> = state.pool().iter().collect();
        json!({ "transactions": pool, "length": pool.len() })
    });
    HttpResponse::Ok().json(body)
}

/// `POST /transactions/new`: admits a signed transfer.
#[utoipa::path(
    post,
    path = "/transactions/new",
    tag = "transactions",
    summary = "Submit a signed transfer",
    request_body(content = NewTransfer, content_type = "application/json"),
    responses(
        (status = 201, description = "Admitted and stored", body = MessageBody),
        (status = 400, description = "The body is not a JSON object, or a field is not valid", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 413, description = "The body is over node.max_body_bytes", body = ErrorBody),
        (status = 401, description = "The signature is not the sender's", body = ErrorBody),
        (status = 409, description = "Refused: a replay, or the sender cannot pay", body = ErrorBody),
        (status = 503, description = "The pool is full, or the node is stopping", body = ErrorBody)
    )
)]
pub async fn new_transaction(node: web::Data<Node>, body: JsonObject) -> Result<HttpResponse> {
    let admitted = match parse_transfer(&body.0, node.addresses()) {
        Ok(transaction) => node.submit(transaction).await.map_err(ApiError::from),
        Err(error) => Err(error),
    };
    let index = match admitted {
        Ok(index) => {
            node.metrics().transfer_admitted();
            index
        }
        Err(error) => {
            node.metrics().transfer_refused(refusal_reason(&error));
            return Err(error);
        }
    };
    Ok(HttpResponse::Created().json(json!({
        "message": format!("Transaction will be added to Block {index}")
    })))
}

/// `GET /mine`: mines one block paying the reward to this node.
#[utoipa::path(
    get,
    path = "/mine",
    tag = "chain",
    summary = "Mine one block",
    responses(
        (status = 200, description = "The new block, stored", body = MinedBody),
        (status = 503, description = "The node is stopping", body = ErrorBody)
    )
)]
pub async fn mine(node: web::Data<Node>) -> Result<HttpResponse> {
    let block = node.mine().await?;
    Ok(HttpResponse::Ok().json(json!({
        "message": "New Block Created",
        "index": block.index,
        "transactions": block.transactions,
        "proof": block.proof,
        "previous_hash": block.previous_hash,
    })))
}

/// `GET /nodes`: the registered peers.
#[utoipa::path(
    get,
    path = "/nodes",
    tag = "peers",
    summary = "The registered peers",
    responses(
        (status = 200, description = "The peers", body = NodesBody)
    )
)]
pub async fn nodes(node: web::Data<Node>) -> HttpResponse {
    let standings = node.peer_standings();
    let peers: Vec<Value> = standings
        .iter()
        .map(|(peer, state, failures)| json!({ "address": peer, "state": state, "failures": failures }))
        .collect();
    let nodes: Vec<&PeerAddr> = standings.iter().map(|(peer, _, _)| peer).collect();
    HttpResponse::Ok().json(json!({ "nodes": nodes, "length": nodes.len(), "peers": peers }))
}

/// `POST /nodes/register`: adds peers, all or none (only loopback callers
/// when `peers.open_registration` is false).
#[utoipa::path(
    post,
    path = "/nodes/register",
    tag = "peers",
    summary = "Register peers",
    request_body(content = RegisterRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Added; every registered peer", body = PeersChanged),
        (status = 400, description = "The body is not a JSON object, or a field is not valid", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 413, description = "The body is over node.max_body_bytes", body = ErrorBody),
        (status = 403, description = "Registration is closed to callers on other machines", body = ErrorBody)
    )
)]
pub async fn register(
    node: web::Data<Node>,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse> {
    require_open_registration(&node, &req)?;
    let entries = match body.0.get("nodes") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "Error: Please supply a valid list of nodes (missing field: nodes)",
            ))
        }
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(ApiError::bad_request("nodes must be a list of addresses")),
    };
    if entries.is_empty() {
        return Err(ApiError::bad_request("nodes must not be empty"));
    }
    let entries = entries
        .iter()
        .enumerate()
        .map(|(at, entry)| {
            entry.as_str().map(str::to_owned).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "nodes[{at}] must be a string like \"http://host:port\""
                ))
            })
        })
        .collect::<Result<Vec<String>>>()?;
    let all = node.register(&entries).await?;
    Ok(HttpResponse::Created().json(json!({
        "message": "New nodes have been added",
        "total_nodes": all,
    })))
}

/// `DELETE /nodes/{host:port}`: forgets a peer, for loopback callers only.
#[utoipa::path(
    delete,
    path = "/nodes/{peer}",
    tag = "peers",
    summary = "Forget a peer (loopback callers only)",
    params(("peer" = String, Path, description = "The peer as host:port")),
    responses(
        (status = 200, description = "Removed; every registered peer", body = PeersChanged),
        (status = 400, description = "Not a peer address", body = ErrorBody),
        (status = 403, description = "The caller is not on this machine", body = ErrorBody),
        (status = 404, description = "Not a registered peer", body = ErrorBody)
    )
)]
pub async fn forget(
    node: web::Data<Node>,
    req: HttpRequest,
    peer: web::Path<String>,
) -> Result<HttpResponse> {
    require_loopback(&req, "peers are removed")?;
    let peer = PeerAddr::parse(&peer).map_err(NodeError::from)?;
    let all = node.forget(&peer).await?;
    Ok(HttpResponse::Ok().json(json!({
        "message": format!("{peer} was removed"),
        "total_nodes": all,
    })))
}

/// `GET /nodes/resolve`: consensus with every peer. The per-peer report
/// goes to loopback callers only: to anyone else it would be a port scanner.
#[utoipa::path(
    get,
    path = "/nodes/resolve",
    tag = "peers",
    summary = "Consensus with every peer",
    responses(
        (status = 200, description = "Which chain won, and what became of the pending transfers", body = ResolveBody)
    )
)]
pub async fn resolve(node: web::Data<Node>, req: HttpRequest) -> Result<HttpResponse> {
    let resolution = node.resolve().await?;
    let (message, field) = if resolution.replaced {
        ("Our chain was replaced", "new_chain")
    } else {
        ("Our chain is authoritative", "chain")
    };
    let mut rest = Map::new();
    if is_loopback(&req) {
        rest.insert("peers".into(), json!(resolution.peers));
    }
    rest.insert("returned".into(), json!(resolution.returned));
    rest.insert("dropped".into(), json!(resolution.dropped));
    // The seed's answer carries the whole chain: streamed from the store as
    // `/chain` is, so a long chain is never held in memory at once.
    let opening = format!("{{\"message\":{},\"{field}\":[", json!(message)).into_bytes();
    let mut closing = b"]".to_vec();
    for (key, value) in &rest {
        closing.extend_from_slice(format!(",{}:{value}", json!(key)).as_bytes());
    }
    closing.push(b'}');
    let reader = node.chain_reader().await?;
    let body = ChainStream::whole(reader, opening, closing);
    Ok(chain::respond(&req, body, node.config().node.stall_timeout))
}

/// `GET /secret`: the node's secret, for loopback callers only.
#[utoipa::path(
    get,
    path = "/secret",
    tag = "wallet",
    summary = "The node's secret key (loopback callers only)",
    responses(
        (status = 200, description = "The secret", body = SecretBody),
        (status = 403, description = "The caller is not on this machine", body = ErrorBody)
    )
)]
pub async fn secret(node: web::Data<Node>, req: HttpRequest) -> Result<HttpResponse> {
    require_loopback(&req, "the secret is given")?;
    let secret = node.secret();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "secret": secret.as_str() })))
}

#[derive(Deserialize)]
pub struct BalanceQuery {
    address: Option<String>,
}

/// `GET /balance?address=...`: a balance in the chain and what is pending out.
#[utoipa::path(
    get,
    path = "/balance",
    tag = "wallet",
    summary = "A balance",
    params(("address" = String, Query, description = "The address whose balance to give")),
    responses(
        (status = 200, description = "The balance in the chain and what is pending out", body = BalanceBody),
        (status = 400, description = "The address is missing or not valid", body = ErrorBody)
    )
)]
pub async fn balance(
    node: web::Data<Node>,
    query: web::Query<BalanceQuery>,
) -> Result<HttpResponse> {
    let text = query
        .address
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("missing query parameter: address"))?;
    let address = Address::parse(text)
        .map_err(|e| ApiError::bad_request(format!("address is not valid: {e}")))?;
    Ok(HttpResponse::Ok().json(balance_body(&node, &address)))
}

/// `GET /wallet`: this node's address and balance.
#[utoipa::path(
    get,
    path = "/wallet",
    tag = "wallet",
    summary = "This node's address and balance",
    responses(
        (status = 200, description = "The node's balance", body = BalanceBody)
    )
)]
pub async fn wallet(node: web::Data<Node>) -> HttpResponse {
    HttpResponse::Ok().json(balance_body(&node, node.address()))
}

fn balance_body(node: &Node, address: &Address) -> Value {
    let (balance, pending) = node.with_state(|state| state.balance(address));
    json!({
        "address": address,
        "balance": balance,
        "pending": pending,
        "available": balance - pending,
    })
}

/// `GET /health`: liveness and a summary; `"status": "degraded"` with the
/// `"reason"` while the data disk refuses writes (reads are still served).
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    summary = "Liveness and a summary",
    responses(
        (status = 200, description = "The summary", body = HealthBody)
    )
)]
pub async fn health(node: web::Data<Node>) -> HttpResponse {
    let (length, pending) = node.with_state(|s| (s.chain().len(), s.pool().len()));
    let (_, tip) = node.tip();
    let mut body = json!({
        "status": "ok",
        "length": length,
        "tip": tip,
        "pending": pending,
        "peers": node.peers().len(),
        "id": node.id(),
        "address": node.address(),
        "log_lines_dropped": crate::logging::dropped_lines(),
    });
    if let Some(reason) = node.degraded() {
        body["status"] = json!("degraded");
        body["reason"] = json!(reason);
    }
    HttpResponse::Ok().json(body)
}

/// `GET /metrics`: this node's metrics for Prometheus.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Metrics in the OpenMetrics text format, for Prometheus",
    responses(
        (status = 200, description = "Every metric (see the README)", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")
    )
)]
pub async fn metrics(node: web::Data<Node>) -> HttpResponse {
    let text = node.metrics().render(node.metrics_snapshot());
    HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(text)
}

/// The `reason` label of a refused transfer.
fn refusal_reason(error: &ApiError) -> &'static str {
    match error {
        ApiError::Node(NodeError::Signature(WalletError::MalformedSignature { .. })) => "malformed",
        ApiError::Node(NodeError::Signature(_)) => "bad_signature",
        ApiError::Node(NodeError::Admit(admit)) => match admit {
            AdmitError::Reward => "reward",
            AdmitError::ReplayInChain | AdmitError::ReplayInPool => "replay",
            AdmitError::InsufficientBalance { .. } => "insufficient_balance",
            AdmitError::Full { .. } => "pool_full",
        },
        ApiError::Node(_) => "node_error",
        _ => "malformed",
    }
}

/// Reads a submitted transfer: the seed's four fields plus an optional nonce,
/// in the seed's lenient forms (amount and nonce as integers or digit
/// strings), through the chain's one checked constructor. Addresses come
/// through the node's cache: a frequent sender is parsed once. Unknown fields are
/// ignored (and not stored: the signature does not cover them).
fn parse_transfer(object: &Map<String, Value>, addresses: &AddressCache) -> Result<Transaction> {
    let missing: Vec<&str> = ["sender", "recipient", "amount", "signature"]
        .into_iter()
        .filter(|field| object.get(*field).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Missing values: {}",
            missing.join(", ")
        )));
    }
    let text = |field: &str| -> Result<&str> {
        object[field]
            .as_str()
            .ok_or_else(|| ApiError::bad_request(format!("{field} must be a string")))
    };
    let sender =
        Sender::parse_with(text("sender")?, |text| addresses.parse(text)).map_err(form_error)?;
    let recipient = addresses
        .parse(text("recipient")?)
        .map_err(|e| form_error(FormError::Address("recipient", e)))?;
    let amount = Amount::deserialize(&object["amount"])
        .map_err(|e| ApiError::bad_request(format!("amount is not valid: {e}")))?;
    let nonce = match object.get("nonce") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            Nonce::deserialize(value)
                .map_err(|e| ApiError::bad_request(format!("nonce is not valid: {e}")))?,
        ),
    };
    let signature = Signature::parse(text("signature")?)
        .map_err(|e| ApiError::bad_request(format!("signature is not valid: {e}")))?;
    Transaction::from_parts(sender, recipient, amount, nonce, Some(signature)).map_err(form_error)
}

/// A form error in a submitted transfer is the client's (400).
fn form_error(error: FormError) -> ApiError {
    ApiError::bad_request(error.to_string())
}
