//! The style sheet and the script, compiled into the binary.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/page.js");

/// `GET /static/{name}`: one of the embedded files.
pub async fn serve(name: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match name.as_str() {
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        "page.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return HttpResponse::NotFound().body("no such file"),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        // Short: a new binary may bring new files under the same names.
        .insert_header((header::CACHE_CONTROL, "max-age=300"))
        .body(body)
}
