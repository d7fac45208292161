//! The request handlers: parse and check input, call the node, shape the seed's JSON answers.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use wallet::{Address, Amount, Nonce, Signature};

use super::body::JsonObject;
use super::is_loopback;
use super::ApiError;
use crate::chain::{FormError, Sender, Transaction};
use crate::net::{PeerAddr, NODE_ID_HEADER};
use crate::service::{Node, NodeError, MAX_PAGE_BLOCKS};

type Result<T> = std::result::Result<T, ApiError>;

/// `?from=N&limit=M` of `GET /chain`.
#[derive(Deserialize)]
pub struct ChainQuery {
    from: Option<u64>,
    limit: Option<u64>,
}

/// `GET /chain`: the whole chain, or with `?from=N&limit=M` (1-based) at
/// most M blocks from block N, with the whole chain's `length`.
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
    let body = match (query.from, query.limit) {
        (None, None) => node.chain_json(),
        (Some(0), _) => {
            return Err(ApiError::bad_request(
                "from must be a block index, 1 or more",
            ))
        }
        (_, Some(0)) => return Err(ApiError::bad_request("limit must be 1 or more")),
        (from, limit) => node.chain_page_json(
            from.unwrap_or(1),
            limit.unwrap_or(MAX_PAGE_BLOCKS).min(MAX_PAGE_BLOCKS),
        ),
    };
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// `GET /transactions`: the pending pool, oldest first.
pub async fn transactions(node: web::Data<Node>) -> HttpResponse {
    let body = node.with_state(|state| {
        let pool: Vec<&Transaction> = state.pool().iter().collect();
        json!({ "transactions": pool, "length": pool.len() })
    });
    HttpResponse::Ok().json(body)
}

/// `POST /transactions/new`: admits a signed transfer.
pub async fn new_transaction(node: web::Data<Node>, body: JsonObject) -> Result<HttpResponse> {
    let transaction = parse_transfer(&body.0)?;
    let index = node.submit(transaction).await?;
    Ok(HttpResponse::Created().json(json!({
        "message": format!("Transaction will be added to Block {index}")
    })))
}

/// `GET /mine`: mines one block paying the reward to this node.
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
pub async fn register(
    node: web::Data<Node>,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse> {
    if !node.config().peers.open_registration && !is_loopback(&req) {
        return Err(ApiError::Forbidden(
            "this node registers peers only for callers on its own machine (peers.open_registration is false)".into(),
        ));
    }
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
pub async fn forget(
    node: web::Data<Node>,
    req: HttpRequest,
    peer: web::Path<String>,
) -> Result<HttpResponse> {
    if !is_loopback(&req) {
        return Err(ApiError::Forbidden(
            "peers are removed only by callers on this machine (loopback)".into(),
        ));
    }
    let peer = PeerAddr::parse(&peer).map_err(NodeError::from)?;
    let all = node.forget(&peer).await?;
    Ok(HttpResponse::Ok().json(json!({
        "message": format!("{peer} was removed"),
        "total_nodes": all,
    })))
}

/// `GET /nodes/resolve`: consensus with every peer. The per-peer report
/// goes to loopback callers only: to anyone else it would be a port scanner.
pub async fn resolve(node: web::Data<Node>, req: HttpRequest) -> Result<HttpResponse> {
    let resolution = node.resolve().await?;
    let chain = node.with_state(|state| json!(state.chain().blocks()));
    let mut body = if resolution.replaced {
        json!({ "message": "Our chain was replaced", "new_chain": chain })
    } else {
        json!({ "message": "Our chain is authoritative", "chain": chain })
    };
    if is_loopback(&req) {
        body["peers"] = json!(resolution.peers);
    }
    body["returned"] = json!(resolution.returned);
    body["dropped"] = json!(resolution.dropped);
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /secret`: the node's secret, for loopback callers only.
pub async fn secret(node: web::Data<Node>, req: HttpRequest) -> Result<HttpResponse> {
    if !is_loopback(&req) {
        return Err(ApiError::Forbidden(
            "the secret is only given to callers on this machine (loopback)".into(),
        ));
    }
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

/// Reads a submitted transfer: the seed's four fields plus an optional nonce,
/// in the seed's lenient forms (amount and nonce as integers or digit
/// strings), through the chain's one checked constructor. Unknown fields are
/// ignored (and not stored: the signature does not cover them).
fn parse_transfer(object: &Map<String, Value>) -> Result<Transaction> {
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
    let sender = Sender::parse(text("sender")?).map_err(form_error)?;
    let recipient = Address::parse(text("recipient")?)
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
