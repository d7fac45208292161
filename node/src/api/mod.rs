//! The HTTP API: routes declared once, used by the server and by tests.

mod body;
mod error;
mod handlers;
mod pay;

use std::time::Instant;

use actix_web::dev::ServiceRequest;
use actix_web::{web, HttpRequest, HttpResponse};

pub use body::BodyLimits;
pub use error::ApiError;

use crate::service::Node;

/// Declares every route of PROTOCOL §6, the aliases other seeds use, and the
/// JSON answers for unknown routes, wrong methods and bad request bodies.
pub fn configure(node: Node) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let limits = BodyLimits {
            max_bytes: node.config().node.max_body_bytes,
            ..BodyLimits::default()
        };
        cfg.app_data(web::Data::new(node))
            .app_data(limits)
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::bad_request(format!("bad query string: {e}")).into()
            }));
        get(cfg, &["/chain", "/blockchain"], handlers::chain);
        get(cfg, &["/transactions"], handlers::transactions);
        post(cfg, &["/transactions/new"], handlers::new_transaction);
        get(cfg, &["/mine"], handlers::mine);
        get(cfg, &["/nodes"], handlers::nodes);
        post(
            cfg,
            &["/nodes/register", "/nodes/add_nodes"],
            handlers::register,
        );
        get(cfg, &["/nodes/resolve", "/nodes/sync"], handlers::resolve);
        route(
            cfg,
            &["/nodes/{peer}"],
            web::delete,
            "DELETE",
            handlers::forget,
        );
        get(cfg, &["/secret"], handlers::secret);
        get(cfg, &["/balance"], handlers::balance);
        get(cfg, &["/wallet"], handlers::wallet);
        post(cfg, &["/wallet/pay"], pay::pay);
        get(cfg, &["/health"], handlers::health);
        // The explorer and the operator page (HTML).
        crate::web::configure(cfg);
        cfg.default_service(web::to(|req: actix_web::HttpRequest| async move {
            Err::<HttpResponse, _>(ApiError::NotFound(format!(
                "no such endpoint: {}",
                req.path()
            )))
        }));
    }
}

fn get<F, Args>(cfg: &mut web::ServiceConfig, paths: &[&str], handler: F)
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    route(cfg, paths, web::get, "GET", handler);
}

fn post<F, Args>(cfg: &mut web::ServiceConfig, paths: &[&str], handler: F)
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    route(cfg, paths, web::post, "POST", handler);
}

/// Serves `handler` for `method` on each path; any other method gets a JSON 405.
fn route<F, Args>(
    cfg: &mut web::ServiceConfig,
    paths: &[&str],
    method: fn() -> actix_web::Route,
    allowed: &'static str,
    handler: F,
) where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    for path in paths {
        cfg.service(
            web::resource(*path)
                .route(method().to(handler.clone()))
                .default_service(web::to(move || wrong_method(allowed))),
        );
    }
}

async fn wrong_method(allowed: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", allowed))
        .json(serde_json::json!({ "error": format!("method not allowed; use {allowed}") }))
}

/// Whether the caller is on this machine: a loopback address, also when it
/// arrives IPv4-mapped (`::ffff:127.0.0.1`) on a dual-stack socket. Every
/// owner-only route asks this one function.
pub fn is_loopback(req: &HttpRequest) -> bool {
    req.peer_addr()
        .is_some_and(|addr| addr.ip().to_canonical().is_loopback())
}

/// Logs one line per request: method, path (never the query or body), status and time.
pub fn log_request<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<S::Response, S::Error>>
where
    S: actix_web::dev::Service<
        ServiceRequest,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
{
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let peer = req.peer_addr();
    let response = srv.call(req);
    async move {
        let response = response.await;
        let status = match &response {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        tracing::info!(
            %method,
            %path,
            status,
            ms = started.elapsed().as_millis() as u64,
            peer = ?peer,
            "request"
        );
        response
    }
}
