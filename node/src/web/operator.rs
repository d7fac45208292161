//! The operator page: mine, pay from the node's wallet, register peers and resolve, for callers on this machine only.
//!
//! Each action is a form posted to `/operator/<action>`; the answer is the
//! page again with the action's result or error at the top. Three checks
//! guard every request: the caller is on loopback (`api::is_loopback`, the
//! one gate), the `Host` names this machine (no DNS rebinding), and a form
//! carries the page's token (a page on another site open in the owner's
//! browser cannot read it, so it cannot post the forms).

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};
use askama::Template;
use rand::Rng as _;
use serde::Deserialize;
use wallet::{Address, Amount};

use super::view::AddressView;
use super::{error_page, host_is_local, html};
use crate::api::{is_loopback, ApiError};
use crate::service::{Node, NodeError};

/// What an action did, shown at the top of the page.
pub struct Outcome {
    /// Whether it worked.
    pub ok: bool,
    /// One line saying what happened.
    pub title: String,
    /// Details, one paragraph each.
    pub lines: Vec<String>,
    /// Where to look at the result (a path and its text).
    pub link: Option<(String, String)>,
}

impl Outcome {
    fn done(title: impl Into<String>, lines: Vec<String>, link: Option<(String, String)>) -> Self {
        Outcome {
            ok: true,
            title: title.into(),
            lines,
            link,
        }
    }

    fn failed(title: &str, error: impl std::fmt::Display) -> Self {
        Outcome {
            ok: false,
            title: title.to_owned(),
            lines: vec![error.to_string()],
            link: None,
        }
    }
}

#[derive(Template)]
#[template(path = "operator.html")]
struct OperatorPage {
    token: &'static str,
    address: AddressView,
    balance: u64,
    pending: u64,
    length: usize,
    peers: Vec<String>,
    outcome: Option<Outcome>,
}

/// This process's form token: random, made once, never stored.
fn token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| hex::encode(rand::thread_rng().gen::<[u8; 16]>()))
}

/// `None` if `req` may use the operator page, else the 403 page.
fn refuse(req: &HttpRequest) -> Option<HttpResponse> {
    if !is_loopback(req) {
        return Some(error_page(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The operator page answers only callers on this machine (loopback).",
        ));
    }
    if !host_is_local(req) {
        return Some(error_page(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Open the operator page as http://127.0.0.1:PORT/operator or http://localhost:PORT/operator.",
        ));
    }
    None
}

/// The page, with `outcome` at the top; answered with `status`.
fn render(node: &Node, status: StatusCode, outcome: Option<Outcome>) -> HttpResponse {
    let peers = node.peers().iter().map(|p| p.to_string()).collect();
    let page = node.with_state(|state| {
        let (balance, pending) = state.balance(node.address());
        OperatorPage {
            token: token(),
            address: AddressView::new(node.address()),
            balance,
            pending,
            length: state.chain().len(),
            peers,
            outcome,
        }
    });
    let mut response = html(status, &page);
    response.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    response
}

/// Renders an action's result: 200 when it worked, else the status the JSON API gives the same error.
fn answer(node: &Node, result: Result<Outcome, (StatusCode, Outcome)>) -> HttpResponse {
    match result {
        Ok(outcome) => render(node, StatusCode::OK, Some(outcome)),
        Err((status, outcome)) => render(node, status, Some(outcome)),
    }
}

fn node_failure(what: &str, error: NodeError) -> (StatusCode, Outcome) {
    let error = ApiError::from(error);
    (error.status_code(), Outcome::failed(what, error))
}

fn bad_input(what: &str, message: String) -> (StatusCode, Outcome) {
    (StatusCode::BAD_REQUEST, Outcome::failed(what, message))
}

/// `GET /operator`.
pub async fn page(node: web::Data<Node>, req: HttpRequest) -> HttpResponse {
    refuse(&req).unwrap_or_else(|| render(&node, StatusCode::OK, None))
}

/// Any action's form: the token, then the action's own fields.
#[derive(Deserialize)]
pub struct ActionForm {
    token: Option<String>,
    recipient: Option<String>,
    amount: Option<String>,
    peers: Option<String>,
    join: Option<String>,
}

/// Checks the caller and the form's token; `Some` is the answer to give instead.
fn refuse_form(req: &HttpRequest, form: &ActionForm) -> Option<HttpResponse> {
    if let Some(refused) = refuse(req) {
        return Some(refused);
    }
    if form.token.as_deref() != Some(token()) {
        return Some(error_page(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "This form is stale or did not come from the operator page; open the page again.",
        ));
    }
    None
}

/// `POST /operator/mine`.
pub async fn mine(
    node: web::Data<Node>,
    req: HttpRequest,
    form: web::Form<ActionForm>,
) -> HttpResponse {
    if let Some(refused) = refuse_form(&req, &form) {
        return refused;
    }
    let result = node
        .mine()
        .await
        .map(|block| {
            Outcome::done(
                format!("Mined block {}", block.index),
                vec![format!(
                    "{} transactions, the reward included; proof {}.",
                    block.transactions.len(),
                    block.proof
                )],
                Some((
                    format!("/block/{}", block.index),
                    format!("See block {}", block.index),
                )),
            )
        })
        .map_err(|e| node_failure("Mining failed", e));
    answer(&node, result)
}

/// `POST /operator/pay` with `recipient` and `amount`.
pub async fn pay(
    node: web::Data<Node>,
    req: HttpRequest,
    form: web::Form<ActionForm>,
) -> HttpResponse {
    if let Some(refused) = refuse_form(&req, &form) {
        return refused;
    }
    let what = "Payment refused";
    let recipient = form.recipient.as_deref().unwrap_or("");
    // A pasted address may be wrapped over lines.
    let recipient: String = recipient.chars().filter(|c| !c.is_whitespace()).collect();
    let result = async {
        let recipient = Address::parse(&recipient)
            .map_err(|e| bad_input(what, format!("the recipient is not a valid address: {e}")))?;
        let amount = form
            .amount
            .as_deref()
            .unwrap_or("")
            .trim()
            .parse::<u64>()
            .map_err(|_| ())
            .and_then(|n| Amount::new(n).map_err(|_| ()))
            .map_err(|()| {
                bad_input(
                    what,
                    "the amount must be a whole number of coins, at least 1".into(),
                )
            })?;
        let paid = node
            .pay(&recipient, amount)
            .await
            .map_err(|e| node_failure(what, e))?;
        Ok(Outcome::done(
            format!(
                "Paid {} to {}",
                amount.get(),
                AddressView::new(&recipient).short
            ),
            vec![format!("Pending; it should go into block {}.", paid.index)],
            Some((
                format!("/tx/{}", paid.id),
                format!("See transfer {}", paid.id),
            )),
        ))
    }
    .await;
    answer(&node, result)
}

/// `POST /operator/peers` with `peers` (and `join` to resolve right after).
pub async fn peers(
    node: web::Data<Node>,
    req: HttpRequest,
    form: web::Form<ActionForm>,
) -> HttpResponse {
    if let Some(refused) = refuse_form(&req, &form) {
        return refused;
    }
    let entries: Vec<String> = form
        .peers
        .as_deref()
        .unwrap_or("")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if entries.is_empty() {
        return answer(
            &node,
            Err(bad_input(
                "Nothing registered",
                "name at least one peer as host:port".into(),
            )),
        );
    }
    let registered = node
        .register(&entries)
        .await
        .map_err(|e| node_failure("Registering failed", e));
    let result = match registered {
        Ok(all) if form.join.is_some() => resolve_outcome(&node).await.map(|mut outcome| {
            outcome
                .lines
                .insert(0, format!("Registered; {} peers now.", all.len()));
            outcome
        }),
        Ok(all) => Ok(Outcome::done(
            format!("Registered {}", entries.join(", ")),
            vec![format!("{} peers now.", all.len())],
            None,
        )),
        Err(e) => Err(e),
    };
    answer(&node, result)
}

/// `POST /operator/resolve`.
pub async fn resolve(
    node: web::Data<Node>,
    req: HttpRequest,
    form: web::Form<ActionForm>,
) -> HttpResponse {
    if let Some(refused) = refuse_form(&req, &form) {
        return refused;
    }
    let result = resolve_outcome(&node).await;
    answer(&node, result)
}

/// Runs a resolve and says what became of each peer's chain.
async fn resolve_outcome(node: &Node) -> Result<Outcome, (StatusCode, Outcome)> {
    let resolution = node
        .resolve()
        .await
        .map_err(|e| node_failure("Resolve failed", e))?;
    let title = if resolution.replaced {
        "Our chain was replaced"
    } else {
        "Our chain is authoritative"
    };
    let mut lines: Vec<String> = resolution
        .peers
        .iter()
        .map(|report| {
            let result = serde_json::to_value(report.result)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let length = report
                .length
                .map(|n| format!(", {n} blocks"))
                .unwrap_or_default();
            let detail = report
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            format!("{}: {result}{length}{detail}", report.peer)
        })
        .collect();
    if resolution.peers.is_empty() {
        lines.push("No peers are registered.".into());
    }
    if resolution.returned > 0 {
        lines.push(format!(
            "{} transfers of abandoned blocks are pending again.",
            resolution.returned
        ));
    }
    for dropped in &resolution.dropped {
        lines.push(format!(
            "A pending transfer no longer fits: {}",
            dropped.reason
        ));
    }
    Ok(Outcome::done(title, lines, None))
}
