//! `POST /wallet/pay`: the owner pays from the node's wallet; the node signs with its key and a fresh nonce.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use wallet::{Address, Amount};

use super::body::JsonObject;
use super::openapi::{ErrorBody, PaidBody, PayRequest};
use super::{require_loopback, ApiError};
use crate::service::Node;

/// `POST /wallet/pay` with `{"recipient": ADDRESS, "amount": N}`, for
/// loopback callers only. Answers as `/transactions/new` does (201 and the
/// block the transfer should go into), plus the transfer's id.
///
/// The body must be sent as `application/json`: a browser cannot send that
/// type to another site without asking first (a CORS preflight this node
/// never allows), so a page on another site open in the owner's browser
/// cannot make it pay.
#[utoipa::path(
    post,
    path = "/wallet/pay",
    tag = "wallet",
    summary = "Pay from the node's own wallet (loopback callers only)",
    request_body = PayRequest,
    responses(
        (status = 201, description = "Signed with the node's key and a fresh nonce, admitted and stored", body = PaidBody),
        (status = 400, description = "A bad or missing field, or not sent as application/json", body = ErrorBody),
        (status = 403, description = "The caller is not on this machine", body = ErrorBody),
        (status = 409, description = "The node's wallet cannot pay that much", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "The pool is full, or the data disk is full or failing", body = ErrorBody)
    )
)]
pub async fn pay(
    node: web::Data<Node>,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    require_loopback(&req, "paying from the node's wallet is allowed")?;
    let json_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json_type {
        return Err(ApiError::bad_request(
            "send the body with Content-Type: application/json",
        ));
    }
    let recipient = match body.0.get("recipient") {
        Some(Value::String(text)) => Address::parse(text)
            .map_err(|e| ApiError::bad_request(format!("recipient is not valid: {e}")))?,
        None | Some(Value::Null) => return Err(ApiError::bad_request("Missing values: recipient")),
        Some(_) => return Err(ApiError::bad_request("recipient must be a string")),
    };
    let amount = match body.0.get("amount") {
        None | Some(Value::Null) => return Err(ApiError::bad_request("Missing values: amount")),
        Some(value) => <Amount as serde::Deserialize>::deserialize(value)
            .map_err(|e| ApiError::bad_request(format!("amount is not valid: {e}")))?,
    };
    let paid = node.pay(&recipient, amount).await?;
    Ok(HttpResponse::Created().json(json!({
        "message": format!("Transaction will be added to Block {}", paid.index),
        "id": paid.id.to_string(),
        "transaction": paid.transaction,
    })))
}
