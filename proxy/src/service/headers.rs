//! Header plumbing shared by both directions: hop-by-hop stripping, whole-map replacement,
//! and the request facts (host, accept) the edge reads.

use http::HeaderMap;
use http::header::HOST;
use http::header::HeaderName;
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
    // Names the `Connection` header lists are hop-by-hop too (none in most requests).
    let named: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let drop: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let k = k.as_str();
            let hop =
                HOP_BY_HOP.contains(&k) || k.starts_with("proxy-") || named.iter().any(|n| n == k);
            hop && !(upgrade && (k == "connection" || k == "upgrade"))
        })
        .cloned()
        .collect();
    for k in drop {
        headers.remove(k);
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

/// What turns one header map into another: nothing, removing whole names, or a rewrite.
#[derive(Debug, PartialEq, Eq)]
enum HeadersDiff {
    Same,
    Remove(Vec<HeaderName>),
    Rewrite,
}

/// How `dst` becomes `src`. Usually `src` is `dst` as it came, less its hop-by-hop headers:
/// then removing those keeps every other header as it was on the wire (its original case too)
/// and costs no copy.
fn headers_diff(dst: &HeaderMap, src: &HeaderMap) -> HeadersDiff {
    if dst.len() < src.len() {
        return HeadersDiff::Rewrite;
    }
    let mut wanted = src.iter().peekable();
    let mut removed: Vec<HeaderName> = Vec::new();
    for (name, value) in dst {
        if wanted.peek() == Some(&(name, value)) {
            wanted.next();
        } else if src.contains_key(name) {
            return HeadersDiff::Rewrite;
        } else if !removed.contains(name) {
            removed.push(name.clone());
        }
    }
    match (wanted.next(), removed.is_empty()) {
        (Some(_), _) => HeadersDiff::Rewrite,
        (None, true) => HeadersDiff::Same,
        (None, false) => HeadersDiff::Remove(removed),
    }
}

/// Defines a function replacing every header of a Pingora header type with those of a map.
macro_rules! replace_headers {
    ($(#[$doc:meta])* $name:ident, $ty:ty) => {
        $(#[$doc])*
        pub(super) fn $name(dst: &mut $ty, src: &HeaderMap) -> Result<()> {
            match headers_diff(&dst.headers, src) {
                HeadersDiff::Same => {}
                HeadersDiff::Remove(names) => {
                    for n in names {
                        dst.remove_header(&n);
                    }
                }
                HeadersDiff::Rewrite => {
                    let names: Vec<_> = dst.headers.keys().cloned().collect();
                    for n in names {
                        dst.remove_header(&n);
                    }
                    for (k, v) in src {
                        dst.append_header(k.clone(), v.clone())?;
                    }
                }
            }
            Ok(())
        }
    };
}

replace_headers!(
    /// Makes the headers of `dst` those of `src`, in `src`'s order.
    replace_request_headers,
    RequestHeader
);
replace_headers!(
    /// Makes the headers of `dst` those of `src`, in `src`'s order.
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

    fn pairs(h: &HeaderMap) -> Vec<(String, String)> {
        h.iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect()
    }

    /// `dst` made from `src` by `replace_request_headers`: the resulting headers, in order.
    fn replaced(dst: &[(&'static str, &'static str)], src: &HeaderMap) -> Vec<(String, String)> {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        for (k, v) in dst {
            req.append_header(*k, *v).expect("header");
        }
        replace_request_headers(&mut req, src).expect("replace");
        pairs(&req.headers)
    }

    #[test]
    fn replacing_headers_removes_or_rewrites_only_what_differs() {
        let came = [
            ("host", "a"),
            ("connection", "keep-alive, x-hop"),
            ("x-a", "1"),
            ("x-hop", "y"),
            ("x-a", "2"),
            ("keep-alive", "5"),
        ];
        let mut stripped = headers(&came);
        strip_hop_by_hop(&mut stripped, false);
        assert_eq!(
            pairs(&stripped),
            [("host", "a"), ("x-a", "1"), ("x-a", "2")].map(|(k, v)| (k.into(), v.into()))
        );
        let diff = headers_diff(&headers(&came), &stripped);
        let names = ["connection", "x-hop", "keep-alive"].map(HeaderName::from_static);
        assert_eq!(diff, HeadersDiff::Remove(names.to_vec()));
        assert_eq!(replaced(&came, &stripped), pairs(&stripped));

        let same = headers(&came);
        assert_eq!(headers_diff(&same, &same), HeadersDiff::Same);
        assert_eq!(replaced(&came, &same), pairs(&same));

        // A value changed, one added, a name moved, a value of a kept name dropped: rewritten.
        for src in [
            headers(&[("host", "b"), ("x-a", "1"), ("x-a", "2")]),
            headers(&[("host", "a"), ("x-a", "1"), ("x-a", "2"), ("x-new", "n")]),
            headers(&[("x-a", "1"), ("x-a", "2"), ("host", "a")]),
            headers(&[("host", "a"), ("x-a", "1")]),
        ] {
            assert_eq!(
                headers_diff(&stripped, &src),
                HeadersDiff::Rewrite,
                "{src:?}"
            );
            let had = [("host", "a"), ("x-a", "1"), ("x-a", "2")];
            assert_eq!(replaced(&had, &src), pairs(&src));
        }
    }

    #[test]
    fn an_upgrade_keeps_its_connection_and_upgrade_headers() {
        let mut h = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "x"),
            ("te", "trailers"),
        ]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(
            pairs(&h),
            [("connection", "upgrade"), ("upgrade", "websocket")]
                .map(|(k, v)| (k.into(), v.into()))
        );
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
