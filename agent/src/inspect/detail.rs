//! sluice's own views of recorded exchanges: the one-line summary the live list shows, and the
//! detail view (parsed query, headers in order, bodies decoded, copy-as-curl).

use chrono::SecondsFormat;
use serde::Serialize;
use sluice_tunnel::ClientTls;

use super::body::{self, BodyView};
use super::json::status_line;
use super::live::ReplayMark;
use super::store::Exchange;

/// One row of the live list (`GET /api/requests/http/summaries`, the stream's `request` event).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestSummary {
    /// The exchange's id.
    pub id: String,
    /// The endpoint's name.
    pub tunnel_name: String,
    /// Arrival time, RFC 3339 with milliseconds.
    pub start: String,
    /// The client's IP address.
    pub remote_addr: String,
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Response status, if there was a response.
    pub status: Option<u16>,
    /// Duration in milliseconds.
    pub duration_ms: f64,
    /// Response body size in bytes.
    pub size: u64,
    /// Request body size in bytes.
    pub request_size: u64,
    /// Set for replays.
    pub replay: Option<ReplayMark>,
}

/// The request side of [`RequestDetail`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestView {
    /// Method.
    pub method: String,
    /// Path and query as received.
    pub uri: String,
    /// The path alone.
    pub path: String,
    /// The query's parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// `HTTP/1.1`…
    pub proto: String,
    /// Headers in order, as received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: BodyView,
}

/// The response side of [`RequestDetail`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseView {
    /// Status code.
    pub status: u16,
    /// `200 OK`.
    pub status_line: String,
    /// `HTTP/1.1`…
    pub proto: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: BodyView,
}

/// What is known of the client's TLS: it ends at the edge, which reports what it negotiated
/// with the request's policy trace (so the parameters are known once that report came).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsFacts {
    /// `https` or `http`, from `X-Forwarded-Proto` or the endpoint's URL.
    pub public_scheme: String,
    /// Where the client's TLS ended (`edge`), when it used TLS.
    pub terminated_at: Option<String>,
    /// The server name the client asked for (SNI), as the edge reported it.
    pub sni: Option<String>,
    /// The protocol version (`TLSv1_3`…), as the edge reported it.
    pub version: Option<String>,
    /// The negotiated cipher suite, as the edge reported it.
    pub cipher_suite: Option<String>,
    /// The negotiated ALPN protocol, as the edge reported it.
    pub alpn: Option<String>,
}

/// `GET /api/requests/http/:id/detail`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestDetail {
    /// The exchange's summary fields.
    #[serde(flatten)]
    pub summary: RequestSummary,
    /// The client's address with its port.
    pub remote_socket: String,
    /// The endpoint's public URL, when it still runs.
    pub public_url: Option<String>,
    /// TLS facts.
    pub tls: TlsFacts,
    /// The request.
    pub request: RequestView,
    /// The response, if there was one.
    pub response: Option<ResponseView>,
    /// A `curl` command line that sends the request to the public URL again.
    pub curl: String,
}

fn millis_time(e: &Exchange) -> String {
    e.start.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The summary of `e`.
pub fn summary(e: &Exchange) -> RequestSummary {
    RequestSummary {
        id: e.id.clone(),
        tunnel_name: e.endpoint.clone(),
        start: millis_time(e),
        remote_addr: e.remote_addr.ip().to_string(),
        method: e.request.method.clone(),
        uri: e.request.uri.clone(),
        status: e.response.as_ref().map(|r| r.status),
        duration_ms: e.duration.as_secs_f64() * 1000.0,
        size: e.response.as_ref().map_or(0, |r| r.body_size),
        request_size: e.request.body_size,
        replay: e.replay.clone(),
    }
}

/// The query parameters of a URI, decoded.
pub fn query_of(uri: &str) -> Vec<(String, String)> {
    uri.split_once('?')
        .map(|(_, q)| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The TLS facts of a request that came with `scheme`, and what the edge reported of it.
fn tls_facts(scheme: String, reported: Option<&ClientTls>) -> TlsFacts {
    let tls = reported.cloned().unwrap_or_default();
    TlsFacts {
        terminated_at: (scheme == "https" || reported.is_some()).then(|| "edge".to_string()),
        public_scheme: scheme,
        sni: tls.sni,
        version: tls.version,
        cipher_suite: tls.cipher_suite,
        alpn: tls.alpn,
    }
}

/// The detail of `e`; `public_url` is its endpoint's URL, if known.
pub fn detail(e: &Exchange, public_url: Option<&str>) -> RequestDetail {
    let r = &e.request;
    let scheme = header(&r.headers, "x-forwarded-proto")
        .map(|s| s.trim().to_ascii_lowercase())
        .or_else(|| public_url.and_then(|u| u.split_once("://").map(|(s, _)| s.to_string())))
        .unwrap_or_else(|| "http".into());
    RequestDetail {
        summary: summary(e),
        remote_socket: e.remote_addr.to_string(),
        public_url: public_url.map(str::to_string),
        tls: tls_facts(scheme, e.client_tls.as_ref()),
        request: RequestView {
            method: r.method.clone(),
            uri: r.uri.clone(),
            path: r.uri.split('?').next().unwrap_or("/").to_string(),
            query: query_of(&r.uri),
            proto: r.proto.clone(),
            headers: r.headers.clone(),
            body: body::view(&r.headers, &r.body, r.body_size, r.truncated),
        },
        response: e.response.as_ref().map(|resp| ResponseView {
            status: resp.status,
            status_line: status_line(resp.status),
            proto: resp.proto.clone(),
            headers: resp.headers.clone(),
            body: body::view(&resp.headers, &resp.body, resp.body_size, resp.truncated),
        }),
        curl: curl(e, public_url),
    }
}

/// Quotes `s` for a POSIX shell: single quotes, or `$'…'` with escapes when it holds bytes
/// that are not printable.
fn shell_quote(bytes: &[u8]) -> String {
    let printable = |b: u8| b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80;
    match std::str::from_utf8(bytes) {
        Ok(s) if bytes.iter().all(|b| printable(*b)) => {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
        _ => {
            let mut out = String::from("$'");
            for &b in bytes {
                match b {
                    b'\'' => out.push_str(r"\'"),
                    b'\\' => out.push_str(r"\\"),
                    0x20..=0x7e => out.push(b as char),
                    _ => out.push_str(&format!("\\x{b:02x}")),
                }
            }
            out.push('\'');
            out
        }
    }
}

const NOT_IN_CURL: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "x-forwarded-for",
    "x-forwarded-proto",
];

/// A `curl` command line sending `e`'s request to `public_url` (or to its Host header).
pub fn curl(e: &Exchange, public_url: Option<&str>) -> String {
    let r = &e.request;
    let base = match public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!(
            "http://{}",
            header(&r.headers, "host").unwrap_or("localhost")
        ),
    };
    let mut out = String::new();
    if r.truncated {
        out.push_str(&format!(
            "# the body was cut at {} of {} bytes by the inspector\n",
            r.body.len(),
            r.body_size
        ));
    }
    out.push_str("curl");
    if r.method != "GET" || !r.body.is_empty() {
        out.push_str(&format!(" -X {}", shell_quote(r.method.as_bytes())));
    }
    out.push_str(&format!(
        " {}",
        shell_quote(format!("{base}{}", r.uri).as_bytes())
    ));
    for (k, v) in &r.headers {
        if NOT_IN_CURL.iter().any(|n| k.eq_ignore_ascii_case(n)) {
            continue;
        }
        out.push_str(&format!(
            " \\\n  -H {}",
            shell_quote(format!("{k}: {v}").as_bytes())
        ));
    }
    if !r.body.is_empty() {
        out.push_str(&format!(" \\\n  --data-binary {}", shell_quote(&r.body)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::store::tests::exchange;

    #[test]
    fn the_tls_the_edge_reported_is_in_the_detail() {
        let mut e = exchange("1", "web", 0);
        let plain = detail(&e, Some("http://a.localhost:8080"));
        assert_eq!(plain.tls.terminated_at, None);
        assert_eq!(plain.tls.version, None);
        e.client_tls = Some(ClientTls {
            sni: Some("a.localhost".into()),
            version: Some("TLSv1_3".into()),
            cipher_suite: Some("TLS13_AES_256_GCM_SHA384".into()),
            alpn: Some("http/1.1".into()),
        });
        let d = detail(&e, Some("http://a.localhost:8080"));
        assert_eq!(d.tls.terminated_at.as_deref(), Some("edge"));
        assert_eq!(d.tls.sni.as_deref(), Some("a.localhost"));
        assert_eq!(d.tls.version.as_deref(), Some("TLSv1_3"));
        assert_eq!(
            d.tls.cipher_suite.as_deref(),
            Some("TLS13_AES_256_GCM_SHA384")
        );
        assert_eq!(d.tls.alpn.as_deref(), Some("http/1.1"));
    }

    #[test]
    fn detail_and_curl() {
        let mut e = exchange("1", "web", 0);
        e.request.body = bytes::Bytes::from_static(b"it's\x01");
        e.request.body_size = 5;
        let d = detail(&e, Some("https://a.localhost:8443"));
        assert_eq!(d.request.query, vec![("y".to_string(), "1".to_string())]);
        assert_eq!(d.request.path, "/x");
        assert_eq!(d.tls.terminated_at.as_deref(), Some("edge"));
        assert_eq!(
            d.response.as_ref().map(|r| r.status_line.as_str()),
            Some("200 OK")
        );
        assert_eq!(
            d.curl,
            "curl -X 'POST' 'https://a.localhost:8443/x?y=1' \\\n  -H 'content-type: text/plain' \\\n  --data-binary $'it\\'s\\x01'"
        );
        let v = serde_json::to_value(&d).unwrap_or_default();
        assert_eq!(v["id"], "1");
        assert_eq!(v["request"]["headers"][0][0], "content-type");
        assert_eq!(shell_quote(b"a'b"), r"'a'\''b'");
    }
}
