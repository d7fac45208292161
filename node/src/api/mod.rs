//! The HTTP API: routes declared once, used by the server and by tests.

mod body;
mod chain;
mod error;
mod handlers;
mod network;
pub mod openapi;
mod pay;
mod request_id;

use std::time::Instant;

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::Either;
use tracing::Instrument as _;

pub use body::BodyLimits;
pub use error::ApiError;
pub use request_id::REQUEST_ID_HEADER;

use crate::service::Node;

/// One method on one path that the route table serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServedRoute {
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The path as actix matches it (`{name}` for a path parameter).
    pub path: &'static str,
    /// The first path of its declaration: the same as `path`, or the route `path` is an alias of.
    pub canonical: &'static str,
}

/// The route table being applied: registered on an app (serving), or only listed.
pub struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    served: Vec<ServedRoute>,
}

/// Every method and path [`configure`] serves through the route table, in
/// declaration order. `/docs` (Swagger UI and its assets) is served beside
/// the table and is not part of the API description.
pub fn routes() -> Vec<ServedRoute> {
    let mut routes = Routes {
        cfg: None,
        served: Vec::new(),
    };
    declare(&mut routes);
    routes.served
}

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
        declare(&mut Routes {
            cfg: Some(&mut *cfg),
            served: Vec::new(),
        });
        openapi::serve_docs(cfg);
        // The explorer and the operator page (HTML, outside the API description).
        crate::web::configure(cfg);
        cfg.default_service(web::to(|req: actix_web::HttpRequest| async move {
            Err::<HttpResponse, _>(ApiError::NotFound(format!(
                "no such endpoint: {}",
                req.path()
            )))
        }));
    }
}

/// The route table: each line serves a handler on a path and its aliases.
/// A route added here must be described (a `#[utoipa::path]` on its handler,
/// listed in `openapi.rs`): a test compares this table with `/openapi.json`.
fn declare(cfg: &mut Routes<'_>) {
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
    get(cfg, &["/metrics"], handlers::metrics);
    get(cfg, &["/openapi.json"], openapi::openapi_json);
    post(cfg, &["/add_block"], network::add_block);
    post(cfg, &["/transactions/relay"], network::relay);
    post(cfg, &["/register_node"], network::register_node);
    post(cfg, &["/register_with"], network::register_with);
    post(cfg, &["/wallet/pay"], pay::pay);
}

fn get<F, Args>(cfg: &mut Routes<'_>, paths: &[&'static str], handler: F)
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    route(cfg, paths, web::get, "GET", handler);
}

fn post<F, Args>(cfg: &mut Routes<'_>, paths: &[&'static str], handler: F)
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    route(cfg, paths, web::post, "POST", handler);
}

/// Serves `handler` for `method` on each path; any other method gets a JSON 405.
fn route<F, Args>(
    routes: &mut Routes<'_>,
    paths: &[&'static str],
    method: fn() -> actix_web::Route,
    allowed: &'static str,
    handler: F,
) where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    for path in paths {
        routes.served.push(ServedRoute {
            method: allowed,
            path,
            canonical: paths[0],
        });
        if let Some(cfg) = routes.cfg.as_deref_mut() {
            cfg.service(
                web::resource(*path)
                    .route(method().to(handler.clone()))
                    .default_service(web::to(move || wrong_method(allowed))),
            );
        }
    }
}

async fn wrong_method(allowed: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", allowed))
        .json(serde_json::json!({ "error": format!("method not allowed; use {allowed}") }))
}

/// Refuses (403) a caller that is not on this machine; `what` says what is
/// reserved for the owner ("the secret is given", "peers are removed").
pub fn require_loopback(req: &HttpRequest, what: &str) -> Result<(), ApiError> {
    if is_loopback(req) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "{what} only to callers on this machine (loopback)"
        )))
    }
}

/// Refuses (403) a registration from another machine when
/// `peers.open_registration` is false.
pub fn require_open_registration(node: &Node, req: &HttpRequest) -> Result<(), ApiError> {
    if node.config().peers.open_registration || is_loopback(req) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this node registers peers only for callers on its own machine (peers.open_registration is false)".into(),
        ))
    }
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

/// Logs one line per request: method, path (never the query or body),
/// status, time and request id; counts it in the node's metrics by route
/// pattern; and echoes the request id in `X-Request-Id`. Everything the
/// handler logs is inside a `request` span carrying the id.
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
    let id = request_id::of(req.headers());
    let node = req.app_data::<web::Data<Node>>().cloned();
    let span = tracing::info_span!("request", request_id = %id);
    let response = span.in_scope(|| srv.call(req));
    async move {
        let mut response = response.await;
        let (status, route) = match &mut response {
            Ok(r) => {
                if let Ok(value) = HeaderValue::from_str(&id) {
                    r.headers_mut().insert(
                        HeaderName::from_static(request_id::REQUEST_ID_HEADER),
                        value,
                    );
                }
                let route = r.request().match_pattern();
                (r.status().as_u16(), route)
            }
            Err(e) => (e.as_response_error().status_code().as_u16(), None),
        };
        let took = started.elapsed();
        if let Some(node) = node {
            let route = route.as_deref().unwrap_or("unmatched");
            node.metrics().request(route, method.as_str(), status, took);
        }
        tracing::info!(
            %method,
            %path,
            status,
            ms = took.as_millis() as u64,
            peer = ?peer,
            request_id = %id,
            "request"
        );
        response
    }
    .instrument(span)
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
