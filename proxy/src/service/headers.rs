//! Header plumbing shared by both directions: hop-by-hop stripping, whole-map replacement,
//! and the request facts (host, accept) the edge reads.

use http::HeaderMap;
use http::header::HOST;
use pingora::Result;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), besides those the
/// `Connection` header names. `transfer-encoding` is left to Pingora, which frames each hop.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// Removes hop-by-hop headers; `upgrade` keeps a protocol upgrade (and its `Connection`).
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut drop: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| {
            HOP_BY_HOP.contains(&k.as_str())
                || k.starts_with("proxy-")
                || named.iter().any(|n| n == k)
        })
        .collect();
    if upgrade {
        drop.retain(|k| k != "connection" && k != "upgrade");
    }
    for k in drop {
        headers.remove(k.as_str());
    }
    if upgrade {
        headers.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("upgrade"),
        );
    }
}

/// Whether the request asks to switch protocols (RFC 9110 §7.8): a websocket, or any other
/// protocol named in `Upgrade` with the `upgrade` connection option, which the upstream may
/// accept with `101` and then speak as raw bytes both ways. `h2c` is never passed on: an
/// upstream that accepted it would take further requests on that connection without the edge
/// (and its policy) seeing them ("h2c smuggling").
pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
    let Some(protocols) = headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let named: Vec<&str> = protocols
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if named.is_empty() || named.iter().any(|p| is_h2c(p)) {
        return false;
    }
    let websocket = named.iter().any(|p| p.eq_ignore_ascii_case("websocket"));
    let asked = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    websocket || asked
}

/// `h2c`, in any case and with any version suffix.
fn is_h2c(protocol: &str) -> bool {
    let name = protocol.split('/').next().unwrap_or_default();
    name.eq_ignore_ascii_case("h2c")
}

/// Defines a function replacing every header of a Pingora header type with those of a map.
macro_rules! replace_headers {
    ($(#[$doc:meta])* $name:ident, $ty:ty) => {
        $(#[$doc])*
        pub(super) fn $name(dst: &mut $ty, src: &HeaderMap) -> Result<()> {
            let names: Vec<_> = dst.headers.keys().cloned().collect();
            for n in names {
                dst.remove_header(&n);
            }
            for (k, v) in src {
                dst.append_header(k.clone(), v.clone())?;
            }
            Ok(())
        }
    };
}

replace_headers!(
    /// Replaces every header of `dst` with those of `src`, keeping `src`'s order.
    replace_request_headers,
    RequestHeader
);
replace_headers!(
    /// Replaces every header of `dst` with those of `src`, keeping `src`'s order.
    replace_response_headers,
    ResponseHeader
);

/// The request's host: its `Host` header, else the URI's authority (HTTP/2, absolute form).
pub(super) fn host_of(req: &RequestHeader) -> String {
    req.headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri.authority().map(|a| a.as_str().to_string()))
        .unwrap_or_default()
}

/// The request's `Accept` header, for choosing an error page's format.
pub(super) fn accept_of(session: &Session) -> Option<String> {
    session
        .req_header()
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn upgrades_are_any_protocol_asked_for_but_h2c() {
        assert!(is_upgrade(&headers(&[("upgrade", "websocket")])));
        assert!(is_upgrade(&headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "echo"),
        ])));
        // Without the connection option, only a websocket counts (as before).
        assert!(!is_upgrade(&headers(&[("upgrade", "echo")])));
        assert!(!is_upgrade(&headers(&[("connection", "upgrade")])));
        for h2c in ["h2c", "H2C", "foo, h2c", "h2c/1"] {
            let h = headers(&[("connection", "upgrade, http2-settings"), ("upgrade", h2c)]);
            assert!(!is_upgrade(&h), "{h2c}");
        }
    }
}
