//! Checks every request passes before routing, on the parsed head (so they also hold for
//! pipelined requests and HTTP/2), and the path normalisation policies see:
//! - HTTP/1: a request target in origin form (`/…`), absolute form, or `*` for `OPTIONS`;
//!   HTTP/1.1: exactly one `Host`; a `Transfer-Encoding` that is exactly `chunked`, and never
//!   beside `Content-Length` (request smuggling);
//! - every version: the path normalised by [`sluice_wire::normalize_path`] (or refused), and
//!   the request rewritten to it, so policy rules and the upstream see the same path.
//!
//! The byte-level checks of the head as it arrives are in [`crate::metered::Metered`].

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Method, StatusCode, Uri, Version};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use sluice_wire::{normalize_path, transfer_encoding_is_chunked};

use crate::errors;

/// A request refused before routing: what to answer.
#[derive(Debug, Clone)]
pub(super) struct Refusal {
    /// Status to answer with.
    pub status: StatusCode,
    /// `ERR_SLUICE_` code.
    pub code: u16,
    /// Why, for the error page.
    pub message: String,
}

fn malformed(message: impl Into<String>) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        code: errors::MALFORMED_REQUEST,
        message: message.into(),
    }
}

/// Runs the checks and normalises the path in place.
pub(super) fn check_request(session: &mut Session) -> Result<(), Refusal> {
    let h1 = !session.is_http2();
    if h1 {
        check_h1(session.req_header())?;
        if session.req_header().headers.contains_key(TRANSFER_ENCODING)
            && raw_has_content_length(&session.as_ref().to_h1_raw())
        {
            // Pingora drops Content-Length when both are present; the raw head still shows it.
            return Err(malformed(
                "The request has both Transfer-Encoding and Content-Length.",
            ));
        }
    }
    normalize_request_path(session.req_header_mut())
}

/// The HTTP/1 rules on the parsed head.
fn check_h1(req: &RequestHeader) -> Result<(), Refusal> {
    // The target as sent (Pingora keeps only the path of an absolute-form target in `uri`,
    // and turns a target of neither form into `/`).
    let target = req.raw_path();
    let origin_form = target.first() == Some(&b'/');
    let absolute_form = ["http://", "https://"].iter().any(|scheme| {
        target.len() > scheme.len()
            && target[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
    });
    let asterisk = req.method == Method::OPTIONS && target == b"*";
    if !(origin_form || absolute_form || asterisk) {
        return Err(malformed(
            "The request target must be a path starting with / or an absolute URL.",
        ));
    }
    if req.version == Version::HTTP_11 {
        match req.headers.get_all(HOST).iter().count() {
            1 => {}
            0 => return Err(malformed("An HTTP/1.1 request needs a Host header.")),
            _ => return Err(malformed("The request has more than one Host header.")),
        }
    }
    if req.headers.contains_key(TRANSFER_ENCODING)
        && !transfer_encoding_is_chunked(
            req.headers
                .get_all(TRANSFER_ENCODING)
                .iter()
                .map(|v| v.as_bytes()),
        )
    {
        return Err(malformed(
            "The only Transfer-Encoding a request may use is chunked.",
        ));
    }
    Ok(())
}

/// Whether a raw HTTP/1 head has a `Content-Length` field line.
fn raw_has_content_length(head: &[u8]) -> bool {
    let name = CONTENT_LENGTH.as_str().as_bytes();
    head.split(|&b| b == b'\n').skip(1).any(|line| {
        line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name)
            && line[name.len()..].trim_ascii_start().first() == Some(&b':')
    })
}

/// Rewrites the request to its normalised path (nothing is allocated when it is already
/// normal), or refuses it.
fn normalize_request_path(req: &mut RequestHeader) -> Result<(), Refusal> {
    let uri = &req.uri;
    if uri.path() == "*" {
        return Ok(());
    }
    let normal = match normalize_path(uri.path()) {
        Ok(None) => return Ok(()),
        Ok(Some(p)) => p,
        Err(e) => {
            return Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                code: errors::PATH_REFUSED,
                message: format!("The request path cannot be used safely: {e}."),
            });
        }
    };
    let path_and_query = match uri.query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = match path_and_query.parse() {
        Ok(pq) => Some(pq),
        Err(_) => return Err(malformed("The request path is not valid.")),
    };
    let uri = Uri::from_parts(parts).map_err(|_| malformed("The request path is not valid."))?;
    req.set_uri(uri);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build(method, target.as_bytes(), None).expect("request");
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).expect("header");
        }
        r
    }

    #[test]
    fn h1_heads() {
        let host = [("host", "a")];
        assert!(check_h1(&req("GET", "/x", &host)).is_ok());
        assert!(check_h1(&req("GET", "http://a/x", &host)).is_ok());
        assert!(check_h1(&req("GET", "ftp://a/x", &host)).is_err());
        assert!(check_h1(&req("OPTIONS", "*", &host)).is_ok());
        assert!(check_h1(&req("GET", "x", &host)).is_err());
        assert!(check_h1(&req("GET", "*", &host)).is_err());
        assert!(check_h1(&req("GET", "/x", &[])).is_err(), "no Host");
        assert!(check_h1(&req("GET", "/x", &[("host", "a"), ("host", "b")])).is_err());
        let te = |v: &str| {
            check_h1(&req(
                "POST",
                "/",
                &[("host", "a"), ("transfer-encoding", v)],
            ))
        };
        assert!(te("chunked").is_ok());
        assert!(te("identity, chunked").is_err());
        assert!(te("chunked, identity").is_err());
        let mut http10 = req("GET", "/x", &[]);
        http10.set_version(Version::HTTP_10);
        assert!(check_h1(&http10).is_ok(), "HTTP/1.0 needs no Host");
    }

    #[test]
    fn raw_content_length_is_found_in_any_case() {
        assert!(raw_has_content_length(
            b"POST / HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 5\r\n\r\n"
        ));
        assert!(raw_has_content_length(
            b"POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n"
        ));
        assert!(!raw_has_content_length(
            b"POST / HTTP/1.1\r\nX-Content-Length: 5\r\n\r\n"
        ));
        assert!(!raw_has_content_length(
            b"POST /Content-Length: HTTP/1.1\r\n\r\n"
        ));
    }

    #[test]
    fn paths_are_rewritten_with_their_query() {
        let mut r = req("GET", "/x/../%61dmin?q=/../a", &[]);
        normalize_request_path(&mut r).expect("normalises");
        assert_eq!(r.uri.to_string(), "/admin?q=/../a");
        let mut r = req("GET", "http://a.example//admin", &[]);
        normalize_request_path(&mut r).expect("normalises");
        // (Pingora keeps only the path of an absolute-form target.)
        assert_eq!(r.uri.to_string(), "/admin");
        assert_eq!(r.raw_path(), b"/admin");
        let mut r = req("GET", "/../admin", &[]);
        let refusal = normalize_request_path(&mut r).expect_err("above the root");
        assert_eq!(refusal.code, errors::PATH_REFUSED);
        let mut r = req("OPTIONS", "*", &[]);
        assert!(normalize_request_path(&mut r).is_ok());
    }
}
