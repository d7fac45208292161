//! The node-to-node endpoints: block announcements, transfer relay, and joining through a known node.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::body::JsonObject;
use super::openapi::{
    BlockBody, ErrorBody, JoinRequest, JoinedBody, MessageBody, PeersChanged, RelayAnswer,
    RelayRequest,
};
use super::{require_loopback, require_open_registration, ApiError};
use crate::chain::{Block, Transaction};
use crate::net::{PeerAddr, ORIGIN_HEADER};
use crate::service::{Node, NodeError, ReceiveError, Received};

type Result<T> = std::result::Result<T, ApiError>;

/// The peer a request says it came from (its `X-Sigchain-Origin`), if that parses.
fn origin(req: &HttpRequest) -> Option<PeerAddr> {
    let text = req.headers().get(ORIGIN_HEADER)?.to_str().ok()?;
    PeerAddr::parse(text).ok()
}

/// `POST /add_block`: a peer announces a block. 201 appended, 200 known,
/// 202 does not link to our tip (a sync is asked for), 400 malformed, 422
/// breaks a rule.
#[utoipa::path(
    post,
    path = "/add_block",
    tag = "network",
    summary = "A peer announces a block",
    request_body = BlockBody,
    responses(
        (status = 200, description = "The block is already in the chain", body = MessageBody),
        (status = 201, description = "The block extended the tip and was appended", body = MessageBody),
        (status = 202, description = "The block does not link to the tip; a sync with peers was asked for", body = MessageBody),
        (status = 400, description = "Not a block", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "The block extends the tip but breaks a rule (named)", body = ErrorBody),
        (status = 503, description = "The data disk is full or failing", body = ErrorBody)
    )
)]
pub async fn add_block(
    node: web::Data<Node>,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse> {
    let block = Block::from_value(&Value::Object(body.0))
        .map_err(|e| ApiError::bad_request(format!("not a block: {e}")))?;
    match node.receive_block(block, origin(&req)).await {
        Ok(Received::Appended) => {
            Ok(HttpResponse::Created().json(json!({ "message": "Block added" })))
        }
        Ok(Received::Known) => {
            Ok(HttpResponse::Ok().json(json!({ "message": "Block already known" })))
        }
        Ok(Received::Unlinked) => Ok(HttpResponse::Accepted()
            .json(json!({ "message": "Block does not extend our tip; syncing with peers" }))),
        Err(ReceiveError::Rejected(error)) => Err(ApiError::Unprocessable(error.to_string())),
        Err(ReceiveError::Node(error)) => Err(error.into()),
    }
}

/// The most transfers one relay request may carry.
const MAX_RELAYED: usize = 1000;

/// `POST /transactions/relay`: a batch of signed transfers from a peer,
/// `{"transactions": [...]}` in block form. Answers 200 with one status per
/// transfer (201 admitted, 409 replay or balance, 400/401 bad, ...).
#[utoipa::path(
    post,
    path = "/transactions/relay",
    tag = "network",
    summary = "A peer relays signed transfers",
    request_body = RelayRequest,
    responses(
        (status = 200, description = "One status per transfer", body = RelayAnswer),
        (status = 400, description = "Not a list of transfers, or too many", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody)
    )
)]
pub async fn relay(
    node: web::Data<Node>,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse> {
    let Some(Value::Array(items)) = body.0.get("transactions") else {
        return Err(ApiError::bad_request(
            "transactions must be a list of signed transfers",
        ));
    };
    if items.len() > MAX_RELAYED {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_RELAYED} transactions per relay, got {}",
            items.len()
        )));
    }
    let mut statuses: Vec<Option<u16>> = vec![None; items.len()];
    let mut parsed = Vec::new();
    for (at, item) in items.iter().enumerate() {
        match Transaction::from_value(item) {
            Ok(transaction @ Transaction::Signed { .. }) => parsed.push((at, transaction)),
            _ => statuses[at] = Some(400),
        }
    }
    let (positions, transactions): (Vec<usize>, Vec<Transaction>) = parsed.into_iter().unzip();
    let results = node.receive_transfers(transactions, origin(&req)).await?;
    for (at, result) in positions.into_iter().zip(results) {
        statuses[at] = Some(match result {
            Ok(_) => 201,
            Err(error) => {
                use actix_web::ResponseError as _;
                ApiError::from(error).status_code().as_u16()
            }
        });
    }
    let accepted = statuses.iter().filter(|s| **s == Some(201)).count();
    Ok(HttpResponse::Ok().json(json!({ "accepted": accepted, "statuses": statuses })))
}

/// The `node_address` field of a join request.
fn node_address(body: &JsonObject) -> Result<PeerAddr> {
    let text = body
        .0
        .get("node_address")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::bad_request("node_address must be given, like \"http://host:port\"")
        })?;
    Ok(PeerAddr::parse(text).map_err(NodeError::from)?)
}

/// `POST /register_node {"node_address"}`: a node joining through us
/// registers itself; we answer with our length, tip and peers.
#[utoipa::path(
    post,
    path = "/register_node",
    tag = "network",
    summary = "A node joining through this one registers itself",
    request_body = JoinRequest,
    responses(
        (status = 200, description = "Registered; this node's length, tip and other peers", body = JoinedBody),
        (status = 400, description = "Not a node address, or one refused (this node, unspecified, link-local, too many peers)", body = ErrorBody),
        (status = 403, description = "Registration is closed to callers on other machines", body = ErrorBody),
        (status = 503, description = "The data disk is full or failing", body = ErrorBody)
    )
)]
pub async fn register_node(
    node: web::Data<Node>,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse> {
    require_open_registration(&node, &req)?;
    let joining = node_address(&body)?;
    let all = node.register(&[joining.to_string()]).await?;
    let others: Vec<&PeerAddr> = all.iter().filter(|p| **p != joining).collect();
    let (length, tip) = node.with_state(|s| (s.chain().len(), *s.chain().tip_hash()));
    Ok(HttpResponse::Ok().json(json!({
        "message": format!("{joining} was registered"),
        "length": length,
        "tip": tip,
        "nodes": others,
    })))
}

/// `POST /register_with {"node_address"}`: this node joins the network
/// through a known node (owner only: it makes the node call out).
#[utoipa::path(
    post,
    path = "/register_with",
    tag = "network",
    summary = "Join a network through a known node (loopback callers only)",
    request_body = JoinRequest,
    responses(
        (status = 200, description = "Joined; every registered peer", body = PeersChanged),
        (status = 400, description = "Not a node address, or this node does not know its public URL", body = ErrorBody),
        (status = 403, description = "The caller is not on this machine", body = ErrorBody),
        (status = 422, description = "The known node could not be joined", body = ErrorBody)
    )
)]
pub async fn register_with(
    node: web::Data<Node>,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse> {
    require_loopback(&req, "joining a network is allowed")?;
    let known = node_address(&body)?;
    let all = node.join(&known).await?;
    Ok(HttpResponse::Ok().json(json!({
        "message": format!("Joined the network through {known}"),
        "total_nodes": all,
    })))
}
