//! Responses the edge makes itself. Each carries `sluice-error-code: ERR_SLUICE_NNNN`, numbered
//! like ngrok's codes where the meaning matches:
//!
//! | code | status | when |
//! |---|---|---|
//! | 3200 | 404 | no endpoint serves the request's Host ("endpoint offline") |
//! | 3002 | 502 | the TLS handshake with an https upstream failed (e.g. `tls_verify` and an untrusted certificate) |
//! | 3004 | 502 | the upstream's answer was invalid or cut short |
//! | 3005 | 502 | the connection to a plain-address upstream could not be made (refused, unreachable) |
//! | 3008 | 504 | the upstream did not answer in time |
//! | 3904 | 413 | an action needed the request body buffered, but it was larger than the edge can hold |
//! | 3906 | 431 | the request header is over 1 MiB, or has more than [`MAX_HEADER_FIELDS`] fields |
//! | 3907 | 400 | the request breaks HTTP/1.1's syntax or framing rules (see `sluice_wire::http1`) |
//! | 3908 | 400 | the request path cannot be normalised safely (see `sluice_wire::path`) |
//! | 3909 | 408 | the request body stalled, or came slower than the configured minimum rate |
//! | 3210 | 502 | the agent serving a tunnel endpoint went away during the request |
//! | 2300 | 500 | anything else inside the edge |
//!
//! (8012 is kept for tunnel upstreams: the agent could not reach its local service.)
//! Browsers (`Accept: text/html`) get a small HTML page, everyone else a short text body.
//!
//! With `ngrok_error_code_header: true` in the edge config, each such response (and each agent
//! error passed through) also carries ngrok's `ngrok-error-code: ERR_NGROK_NNNN`, the same
//! number ([`ngrok_code`]).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use sluice_policy::{ERROR_CODE_HEADER, SyntheticResponse};

/// No endpoint for the host.
pub const ENDPOINT_NOT_FOUND: u16 = 3200;
/// The agent closed the stream without a response (its upstream is unreachable).
pub const AGENT_UPSTREAM_FAILED: u16 = 8012;
/// TLS handshake with the upstream failed.
pub const UPSTREAM_TLS: u16 = 3002;
/// Invalid or incomplete upstream response.
pub const UPSTREAM_INVALID: u16 = 3004;
/// Connection to the upstream not established.
pub const UPSTREAM_UNREACHABLE: u16 = 3005;
/// Upstream timed out.
pub const UPSTREAM_TIMEOUT: u16 = 3008;
/// Request body too large to buffer for an action.
pub const BODY_TOO_LARGE: u16 = 3904;
/// Request header too large (bytes or fields).
pub const HEADER_TOO_LARGE: u16 = 3906;
/// The request breaks HTTP/1.1 syntax or framing.
pub const MALFORMED_REQUEST: u16 = 3907;
/// The request path cannot be normalised safely.
pub const PATH_REFUSED: u16 = 3908;
/// The request body stalled or came too slowly.
pub const BODY_TIMEOUT: u16 = 3909;
/// The agent serving the endpoint went away during the request.
pub const AGENT_GONE: u16 = 3210;

/// Most header fields (lines) a request may have: Pingora's parser holds 256.
pub const MAX_HEADER_FIELDS: usize = 256;
/// Internal error.
pub const INTERNAL: u16 = 2300;
/// The endpoint's traffic policy ran out of its evaluation budget (see `sluice_policy`).
pub const POLICY_BUDGET: u16 = sluice_policy::BUDGET_EXHAUSTED_CODE;

/// An error response for a client whose `Accept` header is `accept`.
pub fn error_page(
    status: StatusCode,
    code: u16,
    message: &str,
    accept: Option<&str>,
) -> SyntheticResponse {
    let wants_html = accept.is_some_and(|a| a.contains("text/html"));
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("ERR_SLUICE_{code}")) {
        headers.insert(ERROR_CODE_HEADER, v);
    }
    let body = if wants_html {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        let title = status.canonical_reason().unwrap_or("Error");
        let message = html_escape(message);
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
             <body><h1>{title}</h1><p>{message}</p><p><code>ERR_SLUICE_{code}</code></p></body></html>\n"
        )
    } else {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        format!("{message}\n\nERR_SLUICE_{code}\n")
    };
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    SyntheticResponse {
        status,
        headers,
        body: Bytes::from(body),
    }
}

/// ngrok's name for the error-code header.
pub const NGROK_ERROR_CODE_HEADER: &str = "ngrok-error-code";

/// The `ngrok-error-code` value (`ERR_NGROK_NNNN`) for headers carrying `sluice-error-code:
/// ERR_SLUICE_NNNN` with a numeric code (sluice's non-numeric codes have no ngrok twin).
pub fn ngrok_code(headers: &HeaderMap) -> Option<HeaderValue> {
    let code = headers
        .get(ERROR_CODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("ERR_SLUICE_"))
        .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))?;
    HeaderValue::from_str(&format!("ERR_NGROK_{code}")).ok()
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngrok_code_mirrors_numeric_codes_only() {
        let h = error_page(StatusCode::NOT_FOUND, 3200, "gone", None).headers;
        assert_eq!(ngrok_code(&h).unwrap(), "ERR_NGROK_3200");
        let mut h = HeaderMap::new();
        h.insert(
            ERROR_CODE_HEADER,
            HeaderValue::from_static("ERR_SLUICE_BIND_X"),
        );
        assert!(ngrok_code(&h).is_none());
    }

    #[test]
    fn html_for_browsers_text_otherwise() {
        let r = error_page(
            StatusCode::NOT_FOUND,
            3200,
            "The endpoint <x> is offline.",
            Some("text/html,*/*"),
        );
        assert_eq!(r.headers[ERROR_CODE_HEADER], "ERR_SLUICE_3200");
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(
            body.contains("&lt;x&gt;") && body.contains("<html>"),
            "{body}"
        );
        let r = error_page(StatusCode::BAD_GATEWAY, 3005, "down", None);
        assert_eq!(r.headers[ERROR_CODE_HEADER], "ERR_SLUICE_3005");
        assert_eq!(r.body, Bytes::from("down\n\nERR_SLUICE_3005\n"));
    }
}
