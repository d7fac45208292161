//! The one mapping from errors to HTTP responses: a status and a JSON `{"error": "..."}` body.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use wallet::WalletError;

use crate::pool::AdmitError;
use crate::service::NodeError;

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request was malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// Caller not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such route (404).
    #[error("{0}")]
    NotFound(String),
    /// Route exists, method does not (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The body did not arrive in time (408).
    #[error("{0}")]
    Timeout(String),
    /// Body over the configured limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// Well-formed but breaks a rule (422).
    #[error("{0}")]
    Unprocessable(String),
    /// A node asked itself (508).
    #[error("{0}")]
    LoopDetected(String),
    /// Request URI over [`MAX_URI_BYTES`](super::MAX_URI_BYTES) (414).
    #[error("{0}")]
    UriTooLong(String),
    /// Request headers over [`MAX_HEADER_BYTES`](super::MAX_HEADER_BYTES) (431).
    #[error("{0}")]
    HeadersTooLarge(String),
    /// What the node said.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl ApiError {
    /// A 400 naming what was wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::LoopDetected(_) => StatusCode::LOOP_DETECTED,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Node(error) => match error {
                // A signature of the wrong length for the sender's key is a malformed
                // field (400); one of the right form that is not the sender's is 401
                // (PROTOCOL §6).
                NodeError::Signature(WalletError::MalformedSignature { .. }) => {
                    StatusCode::BAD_REQUEST
                }
                NodeError::Signature(_) => StatusCode::UNAUTHORIZED,
                NodeError::Admit(AdmitError::Full { .. }) => StatusCode::SERVICE_UNAVAILABLE,
                NodeError::Admit(AdmitError::Reward) => StatusCode::BAD_REQUEST,
                NodeError::Admit(_) => StatusCode::CONFLICT,
                NodeError::Peer(_) => StatusCode::BAD_REQUEST,
                NodeError::UnknownPeer(_) => StatusCode::NOT_FOUND,
                NodeError::NoPublicUrl => StatusCode::BAD_REQUEST,
                NodeError::Join(..) => StatusCode::UNPROCESSABLE_ENTITY,
                NodeError::ShuttingDown | NodeError::Degraded { .. } | NodeError::Unreadable(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                NodeError::Store(_)
                | NodeError::OwnBlockInvalid(_)
                | NodeError::TaskFailed { .. }
                | NodeError::HttpClient(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = HttpResponse::build(status);
        if matches!(
            self,
            ApiError::Timeout(_) | ApiError::TooLarge(_) | ApiError::HeadersTooLarge(_)
        ) {
            // The rest of the body may still be on its way (or never come):
            // the connection cannot carry another request.
            response.force_close();
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}
