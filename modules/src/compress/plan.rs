//! Deciding whether a response gets compressed, and the header edits when it does.

use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, VARY};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::negotiate::{Algorithm, negotiate};

/// What the `compress-response` action does with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The response already has a non-identity `Content-Encoding`; leave it.
    AlreadyCompressed,
    /// The client accepts none of the configured algorithms; pass through.
    NotAcceptable,
    /// There is no body to compress (HEAD, 1xx, 204, 304, `Content-Length: 0`).
    NoBody,
    /// Compress the body with this algorithm.
    Compress(Algorithm),
}

impl Plan {
    /// A short human-readable reason, for logs and action results.
    pub fn reason(&self) -> &'static str {
        match self {
            Plan::AlreadyCompressed => "already compressed",
            Plan::NotAcceptable => "no acceptable encoding",
            Plan::NoBody => "no body",
            Plan::Compress(_) => "compressed",
        }
    }
}

/// Decides how to treat a response given its request and the configured
/// algorithms (in preference order).
pub fn plan(
    req_method: &Method,
    req_headers: &HeaderMap,
    status: StatusCode,
    res_headers: &HeaderMap,
    configured: &[Algorithm],
) -> Plan {
    if !has_body(req_method, status, res_headers) {
        return Plan::NoBody;
    }
    if is_encoded(res_headers) {
        return Plan::AlreadyCompressed;
    }
    match negotiate(joined(req_headers, &ACCEPT_ENCODING).as_deref(), configured) {
        Some(alg) => Plan::Compress(alg),
        None => Plan::NotAcceptable,
    }
}

/// Edits response headers for a body about to be compressed with `alg`:
/// drops `Content-Length`, sets `Content-Encoding` and makes sure `Vary`
/// lists `Accept-Encoding` exactly once (a `Vary: *` is left alone).
pub fn apply_headers(res_headers: &mut HeaderMap, alg: Algorithm) {
    res_headers.remove(CONTENT_LENGTH);
    res_headers.insert(CONTENT_ENCODING, HeaderValue::from_static(alg.id()));

    let already_varies = res_headers
        .get_all(VARY)
        .iter()
        .any(|value| tokens(value).any(|t| t == "*" || t.eq_ignore_ascii_case("accept-encoding")));
    if already_varies {
        return;
    }
    let existing = joined(res_headers, &VARY).unwrap_or_default();
    let all_text = res_headers.get_all(VARY).iter().all(|v| v.to_str().is_ok());
    let merged = match existing.trim().trim_matches(',').trim() {
        "" => Ok(HeaderValue::from_static("Accept-Encoding")),
        list => HeaderValue::from_str(&format!("{list}, Accept-Encoding")),
    };
    match merged {
        Ok(value) if all_text => {
            res_headers.insert(VARY, value);
        }
        // Some existing value is not valid text: keep it, add ours alongside.
        _ => {
            res_headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
    }
}

/// Whether a response to `method` with `status` can carry a body worth compressing.
fn has_body(method: &Method, status: StatusCode, res_headers: &HeaderMap) -> bool {
    let bodiless_status = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let empty = res_headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "0");
    *method != Method::HEAD && !bodiless_status && !empty
}

/// Whether any `Content-Encoding` coding other than `identity` is present.
fn is_encoded(res_headers: &HeaderMap) -> bool {
    res_headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .any(|value| match value.to_str() {
            Ok(_) => tokens(value).any(|t| !t.eq_ignore_ascii_case("identity")),
            // Unreadable bytes: some unknown coding, so do not touch it.
            Err(_) => true,
        })
}

/// All values of header `name` that are valid text, joined with `, `;
/// `None` when the header is absent.
fn joined(headers: &HeaderMap, name: &http::header::HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let parts: Vec<&str> = values.filter_map(|v| v.to_str().ok()).collect();
    Some(parts.join(", "))
}

/// The non-empty, trimmed comma-separated elements of a header value.
fn tokens(value: &HeaderValue) -> impl Iterator<Item = &str> {
    value
        .to_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}
