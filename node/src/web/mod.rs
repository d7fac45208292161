//! The web pages: a block explorer for anyone at `/`, an operator page for the node's owner at `/operator`.
//!
//! Pages are rendered on the server from askama templates (`node/templates/`,
//! checked at compile time, HTML-escaped by default) and read without
//! JavaScript; the one script and the style sheet are compiled into the
//! binary. Every list is paged and every lookup goes through the chain's
//! in-memory index (`crate::index`), so no request costs the chain's length.
//!
//! The overview and the pending pool refresh by short polling of `GET /live`
//! (see `assets/page.js`); the README says why not server-sent events.

mod assets;
pub mod explorer;
mod operator;
pub mod view;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

/// Transactions or blocks per page.
pub const PER_PAGE: usize = 20;
/// Transactions per page of a block (a block may hold a thousand).
pub const BLOCK_TXS_PER_PAGE: usize = 50;

/// Declares the pages' routes; called from `api::configure`, which provides the `Node`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(explorer::overview))
        .route("/live", web::get().to(explorer::live))
        .route("/blocks", web::get().to(explorer::blocks))
        .route("/block/{id}", web::get().to(explorer::block))
        .route("/tx/{id}", web::get().to(explorer::transfer))
        .route("/address", web::get().to(explorer::address))
        .route("/pool", web::get().to(explorer::pool))
        .route("/search", web::get().to(explorer::search))
        .route("/static/{name}", web::get().to(assets::serve))
        .route("/operator", web::get().to(operator::page))
        .route("/operator/mine", web::post().to(operator::mine))
        .route("/operator/pay", web::post().to(operator::pay))
        .route("/operator/peers", web::post().to(operator::peers))
        .route("/operator/resolve", web::post().to(operator::resolve));
}

/// An HTML answer with `status`; a template that fails to render is a 500.
fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            ))
            .body(body),
        Err(error) => {
            tracing::error!(%error, "a page failed to render");
            HttpResponse::InternalServerError().body("the page failed to render")
        }
    }
}

/// A page saying what went wrong.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// The heading.
    pub title: String,
    /// The explanation; may quote what the user typed, so it is escaped like everything else.
    pub message: String,
}

/// An error page with `status`.
fn error_page(status: StatusCode, title: &str, message: impl Into<String>) -> HttpResponse {
    html(
        status,
        &ErrorPage {
            title: title.to_owned(),
            message: message.into(),
        },
    )
}

/// A 303 to `location`, as a search or a form answers.
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Whether the request's `Host` names this machine (`localhost`, a loopback
/// address) or is absent. A page on another site whose name a resolver
/// points at 127.0.0.1 (DNS rebinding) reaches the node from loopback, but
/// with its own name in `Host`.
fn host_is_local(req: &HttpRequest) -> bool {
    let Some(host) = req.headers().get(header::HOST) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}
