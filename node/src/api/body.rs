//! The one reader of request bodies: a size limit and a time limit, then a JSON object.

use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt as _;
use serde_json::{Map, Value};

use super::ApiError;

/// How much body a request may send, and how long it may take to send it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Bytes; more is answered 413.
    pub max_bytes: usize,
    /// From the end of the headers to the last byte of the body; longer is
    /// answered 408, so a slow sender cannot hold a connection.
    pub timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_bytes: 64 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// A request body that is a JSON object, read within the [`BodyLimits`] the app was configured with.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limits = req.app_data::<BodyLimits>().copied().unwrap_or_default();
        let payload = payload.take();
        Box::pin(async move {
            let body = tokio::time::timeout(limits.timeout, read(payload, limits.max_bytes))
                .await
                .map_err(|_| {
                    ApiError::Timeout(format!(
                        "the request body did not arrive within {} s",
                        limits.timeout.as_secs()
                    ))
                })??;
            parse_object(&body).map(JsonObject)
        })
    }
}

/// Reads the whole body, refusing more than `limit` bytes with a 413.
async fn read(mut payload: Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge(format!(
                "request body is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses a body that must be a JSON object.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty; expected a JSON object",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_request("request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}
