//! ngrok's JSON shapes for the local API: captured requests, endpoints, tunnels.

use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::api::EndpointInfo;
use super::store::{CapturedRequest, CapturedResponse, Exchange};
use crate::metrics::MetricsSnapshot;

/// Go's canonical header form: `content-type` → `Content-Type`.
pub fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn headers_json(headers: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (k, v) in headers {
        let entry = map
            .entry(canonical_header(k))
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry {
            values.push(Value::String(v.clone()));
        }
    }
    Value::Object(map)
}

fn raw(head: String, headers: &[(String, String)], body: &[u8]) -> String {
    let mut bytes = head.into_bytes();
    for (k, v) in headers {
        bytes.extend_from_slice(format!("{}: {v}\r\n", canonical_header(k)).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The reason phrase of a status code, as in `200 OK`.
pub fn status_line(code: u16) -> String {
    let reason = http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{code} {reason}").trim_end().to_string()
}

fn request_json(r: &CapturedRequest) -> Value {
    let head = format!("{} {} {}\r\n", r.method, r.uri, r.proto);
    json!({
        "method": r.method,
        "proto": r.proto,
        "headers": headers_json(&r.headers),
        "uri": r.uri,
        "raw": raw(head, &r.headers, &r.body),
        "body_size": r.body_size,
        "truncated": r.truncated,
    })
}

fn response_json(r: &CapturedResponse) -> Value {
    let status = status_line(r.status);
    let head = format!("{} {status}\r\n", r.proto);
    json!({
        "status": status,
        "status_code": r.status,
        "proto": r.proto,
        "headers": headers_json(&r.headers),
        "raw": raw(head, &r.headers, &r.body),
        "body_size": r.body_size,
        "truncated": r.truncated,
    })
}

/// One captured exchange, as `GET /api/requests/http/:id` returns it.
pub fn exchange_json(e: &Exchange) -> Value {
    json!({
        "uri": format!("/api/requests/http/{}", e.id),
        "id": e.id,
        "tunnel_name": e.endpoint,
        "remote_addr": e.remote_addr.ip().to_string(),
        "start": e.start.to_rfc3339(),
        "duration": u64::try_from(e.duration.as_nanos()).unwrap_or(u64::MAX),
        "request": request_json(&e.request),
        "response": e.response.as_ref().map(response_json),
        "trace": e.trace,
    })
}

/// `upstream` of an endpoint object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamJson {
    /// The upstream URL.
    pub url: String,
    /// `http1`, `http2`, `tcp`, `tls`…
    pub protocol: String,
}

/// One endpoint, as `GET /api/endpoints` lists it (ngrok's endpoint object, plus `bindings`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointJson {
    /// Endpoint name.
    pub name: String,
    /// `/api/endpoints/NAME`.
    pub uri: String,
    /// Public URL.
    pub url: String,
    /// Where its traffic goes.
    pub upstream: UpstreamJson,
    /// Whether HTTP traffic is recorded.
    pub inspect: bool,
    /// The policy text (empty without one), as ngrok returns it: a string.
    pub traffic_policy: String,
    /// Pooling.
    pub pooling_enabled: bool,
    /// `public` or `internal`.
    pub bindings: Vec<String>,
    /// Its traffic since it started.
    pub metrics: MetricsSnapshot,
}

/// One endpoint, as `GET /api/endpoints` lists it.
pub fn endpoint_json(e: &EndpointInfo, metrics: MetricsSnapshot) -> EndpointJson {
    EndpointJson {
        name: e.name.clone(),
        uri: format!("/api/endpoints/{}", e.name),
        url: e.url.clone(),
        upstream: UpstreamJson {
            url: e.upstream_url.clone(),
            protocol: e.upstream_protocol.clone(),
        },
        inspect: e.inspect,
        traffic_policy: e.traffic_policy.clone().unwrap_or_default(),
        pooling_enabled: e.pooling_enabled,
        bindings: vec![e.binding.clone()],
        metrics,
    }
}

/// `config` of a tunnel object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TunnelConfigJson {
    /// The upstream address.
    pub addr: String,
    /// Whether HTTP traffic is recorded.
    pub inspect: bool,
}

/// One endpoint in the deprecated `/api/tunnels` shape that pyngrok and ngrok-node read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TunnelJson {
    /// Tunnel (endpoint) name.
    pub name: String,
    /// `/api/tunnels/NAME`.
    pub uri: String,
    /// Public URL.
    pub public_url: String,
    /// The public URL's scheme: `https`, `http`, `tcp`, `tls`.
    pub proto: String,
    /// Upstream and inspection.
    pub config: TunnelConfigJson,
    /// Its traffic since it started.
    pub metrics: MetricsSnapshot,
}

/// One endpoint in the deprecated `/api/tunnels` shape.
pub fn tunnel_json(e: &EndpointInfo, metrics: MetricsSnapshot) -> TunnelJson {
    let proto = e.url.split_once("://").map_or("https", |(s, _)| s);
    TunnelJson {
        name: e.name.clone(),
        uri: format!("/api/tunnels/{}", e.name),
        public_url: e.url.clone(),
        proto: proto.to_owned(),
        config: TunnelConfigJson {
            addr: e.upstream_url.clone(),
            inspect: e.inspect,
        },
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::store::tests::exchange;

    fn keys(v: &Value) -> Vec<&str> {
        let mut k: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        k.sort_unstable();
        k
    }

    /// Every field of ngrok's captured-request object (reference §4.3) is there, with its
    /// JSON type; sluice's additions are only `trace`, `body_size` and `truncated`.
    #[test]
    fn ngrok_request_fields_one_by_one() {
        let v = exchange_json(&exchange("548fb5c700000002", "command_line", 3));
        assert_eq!(
            keys(&v),
            [
                "duration",
                "id",
                "remote_addr",
                "request",
                "response",
                "start",
                "trace",
                "tunnel_name",
                "uri"
            ]
        );
        for field in ["uri", "id", "tunnel_name", "remote_addr", "start"] {
            assert!(v[field].is_string(), "{field}: {}", v[field]);
        }
        assert!(v["duration"].is_u64(), "{}", v["duration"]);
        assert!(v["request"].is_object() && v["response"].is_object(), "{v}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(v["start"].as_str().unwrap_or_default()).is_ok(),
            "start is RFC 3339: {}",
            v["start"]
        );
        assert_eq!(
            keys(&v["request"]),
            [
                "body_size",
                "headers",
                "method",
                "proto",
                "raw",
                "truncated",
                "uri"
            ]
        );
        assert_eq!(
            keys(&v["response"]),
            [
                "body_size",
                "headers",
                "proto",
                "raw",
                "status",
                "status_code",
                "truncated"
            ]
        );
        assert!(v["request"]["headers"]["Content-Type"].is_array());
        assert!(v["response"]["status_code"].is_u64());
        let mut no_response = exchange("548fb5c700000003", "command_line", 3);
        no_response.response = None;
        assert!(exchange_json(&no_response)["response"].is_null());
    }

    #[test]
    fn ngrok_request_shape() {
        let v = exchange_json(&exchange("548fb5c700000002", "command_line", 3));
        assert_eq!(v["uri"], "/api/requests/http/548fb5c700000002");
        assert_eq!(v["tunnel_name"], "command_line");
        assert_eq!(v["remote_addr"], "127.0.0.1");
        assert_eq!(v["duration"], 3_000_000);
        assert_eq!(v["request"]["method"], "POST");
        assert_eq!(v["request"]["headers"]["Content-Type"][0], "text/plain");
        assert_eq!(v["response"]["status"], "200 OK");
        assert_eq!(v["response"]["status_code"], 200);
        let raw = v["request"]["raw"].as_str().unwrap_or_default();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .unwrap_or_default();
        assert_eq!(
            raw,
            b"POST /x?y=1 HTTP/1.1\r\nContent-Type: text/plain\r\n\r\naaa"
        );
        assert_eq!(canonical_header("x-FORWARDED-for"), "X-Forwarded-For");
        assert_eq!(status_line(502), "502 Bad Gateway");
    }
}
