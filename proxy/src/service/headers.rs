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
    // Names the `Connection` header lists are hop-by-hop too (borrowed, not copied).
    let named: Vec<&str> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let drop: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let k = k.as_str();
            let hop = HOP_BY_HOP.contains(&k)
                || k.starts_with("proxy-")
                || named.iter().any(|n| n.eq_ignore_ascii_case(k));
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

/// The names to take out of `dst` and the names to add to it (with all their values from
/// `src`) so that it holds what `src` holds: the names whose values differ. A name whose values
/// are the same, in the same order, stays as it came on the wire (its original case too), and
/// usually `src` is `dst` less its hop-by-hop headers plus what a policy added, so a request
/// costs a few removals instead of a copy of every header. The order of different names is
/// not kept (RFC 9110 §5.3: it carries no meaning); the order of one name's values is.
fn header_edits(dst: &HeaderMap, src: &HeaderMap) -> (Vec<HeaderName>, Vec<HeaderName>) {
    // The same entries in the same order (nothing stripped, nothing changed): no lookups.
    if dst.len() == src.len() && dst.iter().eq(src.iter()) {
        return (Vec::new(), Vec::new());
    }
    let removed: Vec<HeaderName> = dst
        .keys()
        .filter(|name| !dst.get_all(*name).iter().eq(src.get_all(*name).iter()))
        .cloned()
        .collect();
    let added = src
        .keys()
        .filter(|name| !dst.contains_key(*name) || removed.contains(name))
        .cloned()
        .collect();
    (removed, added)
}

/// Defines a function making the headers of a Pingora header type those of a map.
macro_rules! replace_headers {
    ($(#[$doc:meta])* $name:ident, $ty:ty) => {
        $(#[$doc])*
        pub(super) fn $name(dst: &mut $ty, src: &HeaderMap) -> Result<()> {
            let (removed, added) = header_edits(&dst.headers, src);
            for name in &removed {
                dst.remove_header(name);
            }
            for name in added {
                for value in src.get_all(&name) {
                    dst.append_header(name.clone(), value.clone())?;
                }
            }
            Ok(())
        }
    };
}

replace_headers!(
    /// Makes the headers of `dst` those of `src` (see [`header_edits`]).
    replace_request_headers,
    RequestHeader
);
replace_headers!(
    /// Makes the headers of `dst` those of `src` (see [`header_edits`]).
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

    /// Each name with its values in order, names sorted: what a header map means.
    fn meaning(h: &HeaderMap) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = h
            .keys()
            .map(|k| {
                let values = h.get_all(k).iter();
                let values = values.map(|v| String::from_utf8_lossy(v.as_bytes()).into());
                (k.to_string(), values.collect())
            })
            .collect();
        out.sort();
        out
    }

    /// A request with headers `dst` after `replace_request_headers` from `src`.
    fn replaced(dst: &[(&'static str, &'static str)], src: &HeaderMap) -> HeaderMap {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        for (k, v) in dst {
            req.append_header(*k, *v).expect("header");
        }
        replace_request_headers(&mut req, src).expect("replace");
        req.headers.clone()
    }

    fn names(list: &[&'static str]) -> Vec<HeaderName> {
        list.iter().map(|n| HeaderName::from_static(n)).collect()
    }

    #[test]
    fn replacing_headers_touches_only_the_names_that_differ() {
        let came = [
            ("host", "a"),
            ("connection", "keep-alive, X-Hop"),
            ("x-a", "1"),
            ("x-hop", "y"),
            ("x-a", "2"),
            ("keep-alive", "5"),
            ("accept", "*/*"),
        ];
        let mut stripped = headers(&came);
        strip_hop_by_hop(&mut stripped, false);
        assert_eq!(
            meaning(&stripped),
            meaning(&headers(&[
                ("host", "a"),
                ("x-a", "1"),
                ("x-a", "2"),
                ("accept", "*/*")
            ]))
        );
        // Hop-by-hop headers stripped: three removals, nothing copied.
        assert_eq!(
            header_edits(&headers(&came), &stripped),
            (names(&["connection", "x-hop", "keep-alive"]), vec![])
        );
        let got = replaced(&came, &stripped);
        assert_eq!(meaning(&got), meaning(&stripped));
        assert_eq!(pairs(&got)[0], ("host".into(), "a".into()), "kept in place");

        let same = headers(&came);
        assert_eq!(header_edits(&same, &same), (vec![], vec![]));

        let had = [("host", "a"), ("x-a", "1"), ("x-a", "2"), ("accept", "*/*")];
        for (src, edits) in [
            // A value changed: that name only.
            (
                headers(&[("host", "b"), ("x-a", "1"), ("x-a", "2"), ("accept", "*/*")]),
                (names(&["host"]), names(&["host"])),
            ),
            // A header added (add-headers), one removed (remove-headers).
            (
                headers(&[("host", "a"), ("x-a", "1"), ("x-a", "2"), ("x-new", "n")]),
                (names(&["accept"]), names(&["x-new"])),
            ),
            // One value of a name dropped, or its values reordered: that name is rewritten.
            (
                headers(&[("host", "a"), ("x-a", "1"), ("accept", "*/*")]),
                (names(&["x-a"]), names(&["x-a"])),
            ),
            (
                headers(&[("host", "a"), ("x-a", "2"), ("x-a", "1"), ("accept", "*/*")]),
                (names(&["x-a"]), names(&["x-a"])),
            ),
            // Names in another order mean the same headers.
            (
                headers(&[("accept", "*/*"), ("x-a", "1"), ("x-a", "2"), ("host", "a")]),
                (vec![], vec![]),
            ),
        ] {
            assert_eq!(header_edits(&headers(&had), &src), edits, "{src:?}");
            assert_eq!(meaning(&replaced(&had, &src)), meaning(&src), "{src:?}");
        }
    }

    #[test]
    fn a_header_passed_on_unchanged_keeps_the_case_it_came_with() {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        req.append_header("X-Request-ID", "7").expect("header");
        req.append_header("Connection", "keep-alive")
            .expect("header");
        let mut src = req.headers.clone();
        strip_hop_by_hop(&mut src, false);
        src.append("x-added", http::HeaderValue::from_static("1"));
        replace_request_headers(&mut req, &src).expect("replace");
        let mut wire = Vec::new();
        req.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8_lossy(&wire);
        assert!(wire.contains("X-Request-ID: 7"), "{wire}");
        assert!(wire.contains("x-added: 1"), "{wire}");
        assert!(!wire.to_ascii_lowercase().contains("connection"), "{wire}");
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
