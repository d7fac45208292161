//! The HTTP API: routes declared once, used by the server and by tests.

mod body;
mod error;
mod handlers;
mod network;

use std::time::Instant;

use actix_web::dev::ServiceRequest;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::Either;

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
        get(cfg, &["/health"], handlers::health);
        post(cfg, &["/add_block"], network::add_block);
        post(cfg, &["/transactions/relay"], network::relay);
        post(cfg, &["/register_node"], network::register_node);
        post(cfg, &["/register_with"], network::register_with);
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
        .is_some_and(|addr| crate::connections::is_loopback(addr.ip()))
}

/// Longest request URI (path and query) answered normally; longer gets a JSON 414.
///
/// actix itself reads request heads up to 128 KiB and answers anything larger
/// (or malformed) with an empty 400 or 431 that no handler sees.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Largest request headers (names and values, all together) answered normally;
/// more gets a JSON 431 and the connection is closed.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The longest path a log line shows; the rest is cut (a path is the caller's text).
const MAX_LOGGED_PATH: usize = 200;

/// Refuses, in JSON, request heads within what actix reads but over this
/// node's limits ([`MAX_URI_BYTES`], [`MAX_HEADER_BYTES`]), before any handler runs.
pub fn check_head<S, B>(
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
    let uri = req.uri().to_string().len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let refusal = if uri > MAX_URI_BYTES {
        Some(ApiError::UriTooLong(format!(
            "the request URI is {uri} bytes; at most {MAX_URI_BYTES} are accepted"
        )))
    } else if headers > MAX_HEADER_BYTES {
        Some(ApiError::HeadersTooLarge(format!(
            "the request headers are {headers} bytes; at most {MAX_HEADER_BYTES} are accepted"
        )))
    } else {
        None
    };
    match refusal {
        Some(error) => Either::Left(std::future::ready(Err(error.into()))),
        None => Either::Right(srv.call(req)),
    }
}

/// Logs one line per request: method, path (never the query or body; cut
/// after [`MAX_LOGGED_PATH`] bytes), status and time.
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
    let path = logged_path(req.path());
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

/// `path`, cut after [`MAX_LOGGED_PATH`] bytes (at a character boundary) with the full length noted.
fn logged_path(path: &str) -> String {
    if path.len() <= MAX_LOGGED_PATH {
        return path.to_owned();
    }
    let mut end = MAX_LOGGED_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &path[..end], path.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_in_the_log() {
        assert_eq!(logged_path("/chain"), "/chain");
        let long = format!("/{}", "é".repeat(300));
        let logged = logged_path(&long);
        assert!(logged.len() < MAX_LOGGED_PATH + 30, "{logged}");
        assert!(logged.ends_with(&format!("... ({} bytes)", long.len())));
    }
}
