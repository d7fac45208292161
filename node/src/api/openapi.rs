//! The OpenAPI 3.1 description served at `/openapi.json`, generated from the handlers' `#[utoipa::path]` annotations and the route table, and Swagger UI at `/docs`.
//!
//! The types here only describe JSON bodies (the handlers build theirs with
//! `json!`); schemathesis in CI checks every answer against them.

use std::sync::LazyLock;

use actix_web::{web, HttpResponse};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::{handlers, network, pay};

/// The handlers, each under the first path of its route-table line; the
/// aliases are added from the table by [`document`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "sigchain node",
        description = "The HTTP API of a sigchain node (PROTOCOL §6). Every error is a JSON object `{\"error\": \"...\"}`; any other method on a served path is answered 405 with an `Allow` header, and an unknown path 404. Every answer carries an `X-Request-Id` header (the caller's own, when it sends a sane one).",
    ),
    paths(
        handlers::chain,
        handlers::transactions,
        handlers::new_transaction,
        handlers::mine,
        handlers::nodes,
        handlers::register,
        handlers::resolve,
        handlers::forget,
        network::add_block,
        network::relay,
        network::register_node,
        network::register_with,
        pay::pay,
        handlers::secret,
        handlers::balance,
        handlers::wallet,
        handlers::health,
        handlers::metrics,
        openapi_json,
    )
)]
struct ApiDoc;

/// The description: the annotated handlers, plus each alias in the route
/// table as a copy of the route it stands for (with its own operation id).
pub fn document() -> Document {
    let mut doc = ApiDoc::openapi();
    for route in super::routes() {
        if route.path == route.canonical {
            continue;
        }
        let Some(mut item) = doc.paths.paths.get(route.canonical).cloned() else {
            // Undescribed: the route-coverage test names it.
            continue;
        };
        let suffix = route.path.replace(['/', '{', '}', '.'], "_");
        for operation in [&mut item.get, &mut item.post, &mut item.delete]
            .into_iter()
            .flatten()
        {
            operation.operation_id = operation
                .operation_id
                .as_ref()
                .map(|id| format!("{id}_alias{suffix}"));
            operation.summary = Some(format!("Alias of {}", route.canonical));
        }
        doc.paths.paths.insert(route.path.to_owned(), item);
    }
    doc
}

/// The description as served, made once.
static JSON: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_pretty_json()
        .expect("an OpenAPI document always serializes to JSON")
});

/// `GET /openapi.json`: this description.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API", body = Object))
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(JSON.as_str())
}

/// Serves Swagger UI at `/docs/` (its files are built into the binary), over `/openapi.json`.
pub fn serve_docs(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/docs",
        web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header(("Location", "/docs/"))
                .finish()
        }),
    )
    .service(SwaggerUi::new("/docs/{_:.*}").config(Config::from("/openapi.json")));
}

/// A whole number as the seed accepts it: a JSON integer or a string of digits.
fn lenient_whole() -> Schema {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]+$")),
        )
        .description(Some("An integer, or a string of decimal digits"))
        .into()
}

/// The genesis block's integer 1, or the previous block's hash.
fn previous_hash() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([1])),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9a-f]{64}$")),
        )
        .into()
}

/// An error answer.
#[derive(ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

/// A transaction as the node writes it: a reward (sender `"0"`, no
/// signature) or a signed transfer.
#[derive(ToSchema)]
pub struct TransactionBody {
    /// Coins moved.
    #[schema(minimum = 0)]
    pub amount: u64,
    /// The sender's replay counter, when the transfer carried one.
    #[schema(minimum = 0)]
    pub nonce: Option<u64>,
    /// The payee's address.
    pub recipient: String,
    /// The payer's address, or `"0"` for a mining reward.
    pub sender: String,
    /// The sender's signature (absent on a reward).
    pub signature: Option<String>,
}

/// A block (PROTOCOL §3).
#[derive(ToSchema)]
pub struct BlockBody {
    /// Position in the chain, 1 for genesis.
    #[schema(minimum = 1)]
    pub index: u64,
    /// The genesis block's 1, or the hash of the block before.
    #[schema(schema_with = previous_hash)]
    pub previous_hash: String,
    /// The proof of work.
    #[schema(minimum = 0)]
    pub proof: u64,
    /// Seconds since the epoch.
    pub timestamp: f64,
    /// The reward, then the transfers.
    pub transactions: Vec<TransactionBody>,
}

/// `GET /chain`.
#[derive(ToSchema)]
pub struct ChainBody {
    /// Every block, genesis first.
    pub chain: Vec<BlockBody>,
    /// How many blocks.
    pub length: u64,
}

/// `GET /transactions`.
#[derive(ToSchema)]
pub struct PendingBody {
    /// The pending transfers, oldest first.
    pub transactions: Vec<TransactionBody>,
    /// How many.
    pub length: u64,
}

/// A signed transfer to admit. Fields not listed are ignored.
#[derive(ToSchema)]
pub struct NewTransfer {
    /// The payer's address (its public key).
    pub sender: String,
    /// The payee's address.
    pub recipient: String,
    /// Coins to move.
    #[schema(schema_with = lenient_whole)]
    pub amount: u64,
    /// Optional replay counter, signed with the rest.
    #[schema(schema_with = lenient_whole)]
    pub nonce: Option<u64>,
    /// The sender's signature over the canonical transfer.
    pub signature: String,
}

/// An answer that only says what happened.
#[derive(ToSchema)]
pub struct MessageBody {
    /// What happened.
    pub message: String,
}

/// `GET /mine`: the new block.
#[derive(ToSchema)]
pub struct MinedBody {
    /// `"New Block Created"`.
    pub message: String,
    /// The block's index.
    #[schema(minimum = 1)]
    pub index: u64,
    /// Its transactions, reward first.
    pub transactions: Vec<TransactionBody>,
    /// Its proof of work.
    #[schema(minimum = 0)]
    pub proof: u64,
    /// The hash of the block before.
    #[schema(schema_with = previous_hash)]
    pub previous_hash: String,
}

/// `GET /nodes`.
#[derive(ToSchema)]
pub struct NodesBody {
    /// The registered peers, as `host:port`.
    pub nodes: Vec<String>,
    /// How many.
    pub length: u64,
    /// Each peer's standing.
    pub peers: Vec<PeerStanding>,
}

/// How a peer stands.
#[derive(ToSchema)]
pub struct PeerStanding {
    /// The peer, as `host:port`.
    pub address: String,
    /// `ok`, `demoted` (bad answers lately) or `backing off` (unreachable lately).
    pub state: String,
    /// Bad answers or failed attempts in a row.
    #[schema(minimum = 0)]
    pub failures: u64,
}

/// `POST /register_node` and `POST /register_with`.
#[derive(ToSchema)]
pub struct JoinRequest {
    /// A node's URL, `http://host:port`.
    pub node_address: String,
}

/// `POST /register_node`: what a joining node needs to know.
#[derive(ToSchema)]
pub struct JoinedBody {
    /// What was done.
    pub message: String,
    /// This node's chain length.
    #[schema(minimum = 1)]
    pub length: u64,
    /// This node's tip hash.
    pub tip: String,
    /// This node's other peers, as `host:port`.
    pub nodes: Vec<String>,
}

/// `POST /wallet/pay`.
#[derive(ToSchema)]
pub struct PayRequest {
    /// Who is paid: a wallet address.
    pub recipient: String,
    /// How many coins.
    #[schema(schema_with = lenient_whole)]
    pub amount: u64,
}

/// `POST /wallet/pay`: the transfer the node signed.
#[derive(ToSchema)]
pub struct PaidBody {
    /// `"Transaction will be added to Block N"`.
    pub message: String,
    /// The transfer's id: 32 hex digits of the SHA-256 of its signature.
    pub id: String,
    /// The signed transfer.
    pub transaction: TransactionBody,
}

/// `POST /transactions/relay`.
#[derive(ToSchema)]
pub struct RelayRequest {
    /// Signed transfers in block form (at most 1000).
    pub transactions: Vec<TransactionBody>,
}

/// `POST /transactions/relay`: one status per transfer.
#[derive(ToSchema)]
pub struct RelayAnswer {
    /// How many were admitted.
    #[schema(minimum = 0)]
    pub accepted: u64,
    /// The status each transfer would have had at `/transactions/new` (201 admitted).
    pub statuses: Vec<u16>,
}

/// `POST /nodes/register`.
#[derive(ToSchema)]
pub struct RegisterRequest {
    /// Peers as `http://host:port` or `host:port`; all are added or none.
    pub nodes: Vec<String>,
}

/// The peer list after a change.
#[derive(ToSchema)]
pub struct PeersChanged {
    /// What happened.
    pub message: String,
    /// Every registered peer now.
    pub total_nodes: Vec<String>,
}

/// What one peer's chain did during a resolve.
#[derive(ToSchema)]
pub struct PeerReportBody {
    /// The peer, as `host:port`.
    pub peer: String,
    /// `adopted`, `longer`, `not longer`, `invalid`, `unreachable`, `timed out`, `too large`, `malformed`, `http error` or `this node`.
    pub result: String,
    /// Its chain's length, when it answered.
    #[schema(minimum = 0)]
    pub length: Option<u64>,
    /// What was wrong, for a failure.
    pub detail: Option<String>,
}

/// A pending transfer that no longer fits the adopted chain.
#[derive(ToSchema)]
pub struct DroppedBody {
    /// The transfer.
    pub transaction: TransactionBody,
    /// Why it no longer fits.
    pub reason: String,
}

/// `GET /nodes/resolve`: `chain` when ours stayed, `new_chain` when it was replaced.
#[derive(ToSchema)]
pub struct ResolveBody {
    /// `"Our chain was replaced"` or `"Our chain is authoritative"`.
    pub message: String,
    /// Our chain, when it stayed.
    pub chain: Option<Vec<BlockBody>>,
    /// The adopted chain.
    pub new_chain: Option<Vec<BlockBody>>,
    /// One report per peer, for loopback callers only.
    pub peers: Option<Vec<PeerReportBody>>,
    /// Transfers of abandoned blocks that are pending again.
    #[schema(minimum = 0)]
    pub returned: u64,
    /// Transfers that no longer fit.
    pub dropped: Vec<DroppedBody>,
}

/// `GET /secret`.
#[derive(ToSchema)]
pub struct SecretBody {
    /// The node's secret key.
    pub secret: String,
}

/// A balance.
#[derive(ToSchema)]
pub struct BalanceBody {
    /// Whose.
    pub address: String,
    /// Coins in the chain.
    #[schema(minimum = 0)]
    pub balance: u64,
    /// Coins in pending transfers out.
    #[schema(minimum = 0)]
    pub pending: u64,
    /// `balance - pending`.
    #[schema(minimum = 0)]
    pub available: u64,
}

/// `GET /health`.
#[derive(ToSchema)]
pub struct HealthBody {
    /// `"ok"` when the node serves normally.
    pub status: String,
    /// Blocks in the chain.
    #[schema(minimum = 1)]
    pub length: u64,
    /// The tip's hash.
    pub tip: String,
    /// Pending transfers.
    #[schema(minimum = 0)]
    pub pending: u64,
    /// Registered peers.
    #[schema(minimum = 0)]
    pub peers: u64,
    /// This node's id (16 hex digits of the SHA-256 of its address).
    pub id: String,
    /// This node's address.
    pub address: String,
    /// Log lines lost since start because stderr could not be written.
    #[schema(minimum = 0)]
    pub log_lines_dropped: u64,
    /// Why writes are refused, while `status` is `"degraded"`.
    pub reason: Option<String>,
}
