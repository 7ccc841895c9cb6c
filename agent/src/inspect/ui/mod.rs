//! The web inspector: a single page (plain HTML, CSS and JavaScript, no build step) embedded in
//! the binary from `agent/inspector/`, served at `/` with a strict Content-Security-Policy (its
//! own scripts and styles only; images from `data:` for image bodies).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::api::InspectApi;

const INDEX: &str = include_str!("../../../inspector/index.html");
const SCRIPT: &str = include_str!("../../../inspector/app.js");
const VIEWS: &str = include_str!("../../../inspector/views.js");
const STYLE: &str = include_str!("../../../inspector/app.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
}

/// `/` and `/assets/…`.
pub fn routes() -> Router<InspectApi> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/assets/views.js",
            get(|| async { asset("text/javascript; charset=utf-8", VIEWS) }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}
