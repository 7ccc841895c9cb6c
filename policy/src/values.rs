//! Builds the CEL values of reference §3.1 (`conn`, `req`, `res`, `endpoint`, `time`) from
//! plain connection facts and `http` heads.
//!
//! Geolocation and IP-intelligence fields (`conn.geo.*`, `conn.client_ip.geo.*`,
//! `.categories`, `.is_tor_node`, `.as.*`) need data a self-hosted edge does not have: they are
//! present with empty values (empty strings, `false`, `0`, `[]`) so expressions that test them
//! evaluate cleanly.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use cel::Value;
use cel::common::value::Val;
use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::cel::value::{map, map_owned, string, string_list};
use crate::cel::{self as pcel};
use crate::exchange::{ConnInfo, EndpointInfo};

fn timestamp(t: SystemTime) -> Value {
    let dt: DateTime<Utc> = t.into();
    Value::Timestamp(dt.fixed_offset())
}

fn empty_geo() -> Value {
    map([
        ("city", string("")),
        ("continent", string("")),
        ("country", string("")),
        ("country_code", string("")),
        ("is_eu", Value::Bool(false)),
        ("latitude", string("")),
        ("longitude", string("")),
        ("metro_code", string("")),
        ("postal_code", string("")),
        ("radius", string("")),
        ("subdivision", string("")),
        ("timezone", string("")),
    ])
}

/// The subfields of `conn.client_ip` / `conn.server_ip` (all empty: no IP data is bundled).
fn ip_fields() -> Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| {
        map([
            (
                "geo",
                map([
                    ("location", empty_geo()),
                    ("registered_location", empty_geo()),
                ]),
            ),
            ("categories", Value::List(Arc::new(Vec::new()))),
            ("is_on_blocklist", Value::Bool(false)),
            ("is_tor_node", Value::Bool(false)),
            (
                "as",
                map([("number", Value::Int(0)), ("organization", string(""))]),
            ),
        ])
    })
    .clone()
}

/// `conn.*`, built once per connection.
pub(crate) fn conn_value(info: &ConnInfo) -> Arc<dyn Val> {
    let tls = info.tls.clone().unwrap_or_default();
    let value = map([
        ("client_ip", string(info.client.ip().to_string())),
        ("client_port", Value::Int(i64::from(info.client.port()))),
        ("server_ip", string(info.server.ip().to_string())),
        ("server_port", Value::Int(i64::from(info.server.port()))),
        ("server_region", string("")),
        ("bytes_in", Value::Int(0)),
        ("bytes_out", Value::Int(0)),
        ("ts", map([("start", timestamp(info.started))])),
        (
            "tls",
            map([
                ("sni", string(tls.sni.unwrap_or_default())),
                ("version", string(tls.version.unwrap_or_default())),
                ("cipher_suite", string(tls.cipher_suite.unwrap_or_default())),
                ("negotiated_alpn", string(tls.alpn.unwrap_or_default())),
                ("session_resumed", Value::Bool(false)),
                ("ja4_fingerprint", string("")),
            ]),
        ),
        ("geo", empty_geo()),
        ("__client_ip", ip_fields()),
        ("__server_ip", ip_fields()),
    ]);
    shared(value)
}

/// `endpoint.*`, built once per endpoint connection.
pub(crate) fn endpoint_value(e: &EndpointInfo) -> Arc<dyn Val> {
    shared(map([
        ("id", string(e.id.clone())),
        ("url", string(e.url.clone())),
        ("protocol", string(e.protocol.as_str())),
        ("host", string(e.host.clone())),
        ("port", Value::Int(i64::from(e.port))),
        ("addr", string(format!("{}:{}", e.host, e.port))),
    ]))
}

fn shared(v: Value) -> Arc<dyn Val> {
    pcel::shared(v).unwrap_or_else(|| Arc::new(cel::common::types::CelNull))
}

/// `time.*`.
pub(crate) fn time_value(now: SystemTime) -> Value {
    let dt: DateTime<Utc> = now.into();
    map([(
        "now",
        string(dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    )])
}

/// Lower-case name → list of values.
fn headers_value(headers: &HeaderMap) -> Value {
    let mut grouped: HashMap<String, Vec<Value>> = HashMap::with_capacity(headers.keys_len());
    for (name, value) in headers {
        grouped
            .entry(name.as_str().to_string())
            .or_default()
            .push(string(String::from_utf8_lossy(value.as_bytes())));
    }
    map_owned(
        grouped
            .into_iter()
            .map(|(k, v)| (k, Value::List(Arc::new(v)))),
    )
}

fn header_text(headers: &HeaderMap, name: http::header::HeaderName) -> String {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

fn content_type_fields(raw: &str) -> Value {
    let mut params = Vec::new();
    for p in raw.split(';').skip(1) {
        if let Some((k, v)) = p.split_once('=') {
            params.push((
                k.trim().to_ascii_lowercase(),
                string(v.trim().trim_matches('"')),
            ));
        }
    }
    map([("raw", string(raw)), ("parameters", map_owned(params))])
}

fn list_header(headers: &HeaderMap, name: http::header::HeaderName) -> Value {
    string_list(
        headers
            .get_all(name)
            .iter()
            .flat_map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty()),
    )
}

fn content_length(headers: &HeaderMap) -> Option<Value> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()
        .map(Value::Int)
}

/// Request cookies: name → list of `{name, value}`.
fn request_cookies(headers: &HeaderMap) -> Value {
    let mut grouped: HashMap<String, Vec<Value>> = HashMap::new();
    for header in headers.get_all(http::header::COOKIE) {
        let text = String::from_utf8_lossy(header.as_bytes());
        for pair in text.split(';') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let name = name.trim().to_string();
            let value = value.trim().trim_matches('"').to_string();
            grouped
                .entry(name.clone())
                .or_default()
                .push(map([("name", string(name)), ("value", string(value))]));
        }
    }
    map_owned(
        grouped
            .into_iter()
            .map(|(k, v)| (k, Value::List(Arc::new(v)))),
    )
}

/// The parts of the request URL that policies read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// Host without port.
    pub host: String,
    /// Port, when written or implied by the endpoint.
    pub port: Option<u16>,
    /// Path with its leading `/`.
    pub path: String,
    /// Query without `?`.
    pub query: String,
}

impl RequestUrl {
    /// Works the URL out from the request head and the endpoint.
    pub fn of(req: &http::request::Parts, endpoint: &EndpointInfo) -> RequestUrl {
        let scheme =
            req.uri
                .scheme_str()
                .map(str::to_string)
                .unwrap_or_else(|| match endpoint.protocol {
                    crate::Protocol::Https | crate::Protocol::Tls => "https".into(),
                    _ => "http".into(),
                });
        let authority = req
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| {
                req.headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| endpoint.host.clone());
        let (host, port) = split_host_port(&authority);
        RequestUrl {
            scheme,
            host,
            port,
            path: req.uri.path().to_string(),
            query: req.uri.query().unwrap_or_default().to_string(),
        }
    }

    /// `host[:port]` as written in the URL.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) if !self.is_default_port(p) => format!("{}:{p}", self.host),
            _ => self.host.clone(),
        }
    }

    fn is_default_port(&self, port: u16) -> bool {
        (self.scheme == "http" && port == 80) || (self.scheme == "https" && port == 443)
    }

    /// The full URL: `scheme://authority/path?query`.
    pub fn full(&self) -> String {
        let mut s = format!("{}://{}{}", self.scheme, self.authority(), self.path);
        if !self.query.is_empty() {
            s.push('?');
            s.push_str(&self.query);
        }
        s
    }
}

fn split_host_port(authority: &str) -> (String, Option<u16>) {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (format!("[{host}]"), port);
        }
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
            (h.to_string(), p.parse().ok())
        }
        _ => (authority.to_string(), None),
    }
}

fn query_params(query: &str) -> Value {
    let mut grouped: Vec<(String, Vec<Value>)> = Vec::new();
    for (k, v) in url_decode_pairs(query) {
        match grouped.iter_mut().find(|(name, _)| *name == k) {
            Some((_, values)) => values.push(string(v)),
            None => grouped.push((k, vec![string(v)])),
        }
    }
    map_owned(
        grouped
            .into_iter()
            .map(|(k, v)| (k, Value::List(Arc::new(v)))),
    )
}

/// Splits `a=1&b=2` into decoded pairs.
pub(crate) fn url_decode_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn user_agent_fields(ua: &str) -> Value {
    let lower = ua.to_ascii_lowercase();
    let is_bot = ["bot", "crawler", "spider", "curl/", "wget/"]
        .iter()
        .any(|k| lower.contains(k));
    let is_tablet = lower.contains("ipad") || lower.contains("tablet");
    let is_mobile = !is_tablet && (lower.contains("mobile") || lower.contains("iphone"));
    let (name, version) = ua
        .split_whitespace()
        .next()
        .and_then(|first| first.split_once('/'))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .unwrap_or_default();
    map([
        ("name", string(name)),
        ("version", string(version)),
        ("os", string("")),
        ("os_version", string("")),
        ("device", string("")),
        ("url", string("")),
        ("is_mobile", Value::Bool(is_mobile)),
        ("is_tablet", Value::Bool(is_tablet)),
        (
            "is_desktop",
            Value::Bool(!is_mobile && !is_tablet && !is_bot),
        ),
        ("is_bot", Value::Bool(is_bot)),
    ])
}

/// `req.*`, rebuilt when an action changes the request.
pub(crate) fn request_value(req: &http::request::Parts, endpoint: &EndpointInfo) -> Value {
    let url = RequestUrl::of(req, endpoint);
    let full = url.full();
    let uri = if url.query.is_empty() {
        url.path.clone()
    } else {
        format!("{}?{}", url.path, url.query)
    };
    let content_type = header_text(&req.headers, http::header::CONTENT_TYPE);
    let user_agent = header_text(&req.headers, http::header::USER_AGENT);
    let mut url_fields = vec![
        ("scheme", string(url.scheme.clone())),
        ("host", string(url.host.clone())),
        ("authority", string(url.authority())),
        ("path", string(url.path.clone())),
        ("raw_path", string(url.path.clone())),
        ("query", string(url.query.clone())),
        ("query_params", query_params(&url.query)),
        ("raw", string(full.clone())),
        ("uri", string(uri)),
        ("user_password", string("")),
    ];
    if let Some(p) = url.port {
        url_fields.push(("port", Value::Int(i64::from(p))));
    }
    let mut fields = vec![
        ("method", string(req.method.as_str())),
        ("url", string(full)),
        ("__url", map(url_fields)),
        ("host", string(url.authority())),
        ("headers", headers_value(&req.headers)),
        ("cookies", request_cookies(&req.headers)),
        ("content_type", string(content_type.clone())),
        ("__content_type", content_type_fields(&content_type)),
        (
            "content_encoding",
            list_header(&req.headers, http::header::CONTENT_ENCODING),
        ),
        (
            "location",
            string(header_text(&req.headers, http::header::LOCATION)),
        ),
        ("user_agent", string(user_agent.clone())),
        ("__user_agent", user_agent_fields(&user_agent)),
        ("version", string(format!("{:?}", req.version))),
        ("trailers", map([])),
    ];
    if let Some(len) = content_length(&req.headers) {
        fields.push(("content_length", len));
    }
    map(fields)
}

/// Response cookies (`Set-Cookie`): name → list of cookie maps, longest path first.
fn response_cookies(headers: &HeaderMap) -> Value {
    let mut grouped: HashMap<String, Vec<(usize, Value)>> = HashMap::new();
    for header in headers.get_all(http::header::SET_COOKIE) {
        let text = String::from_utf8_lossy(header.as_bytes()).into_owned();
        let mut parts = text.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            continue;
        };
        let (name, value) = (name.trim().to_string(), value.trim().to_string());
        let mut attrs: Vec<(String, Value)> = vec![
            ("name".into(), string(name.clone())),
            ("value".into(), string(value)),
            ("path".into(), string("")),
            ("domain".into(), string("")),
            ("secure".into(), Value::Bool(false)),
            ("http_only".into(), Value::Bool(false)),
            ("same_site".into(), string("")),
        ];
        let mut path_len = 0;
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim().to_string();
            let slot = match k.as_str() {
                "path" => {
                    path_len = v.len();
                    Some(("path", string(v)))
                }
                "domain" => Some(("domain", string(v))),
                "secure" => Some(("secure", Value::Bool(true))),
                "httponly" => Some(("http_only", Value::Bool(true))),
                "samesite" => Some(("same_site", string(v))),
                _ => None,
            };
            if let Some((key, val)) = slot
                && let Some(entry) = attrs.iter_mut().find(|(n, _)| n == key)
            {
                entry.1 = val;
            }
        }
        grouped
            .entry(name)
            .or_default()
            .push((path_len, map_owned(attrs)));
    }
    map_owned(grouped.into_iter().map(|(k, mut v)| {
        v.sort_by_key(|c| std::cmp::Reverse(c.0));
        (
            k,
            Value::List(Arc::new(v.into_iter().map(|(_, c)| c).collect())),
        )
    }))
}

/// `res.*`, rebuilt when an action changes the response.
pub(crate) fn response_value(res: &http::response::Parts) -> Value {
    let content_type = header_text(&res.headers, http::header::CONTENT_TYPE);
    let mut fields = vec![
        ("status_code", Value::Int(i64::from(res.status.as_u16()))),
        ("headers", headers_value(&res.headers)),
        ("cookies", response_cookies(&res.headers)),
        ("content_type", string(content_type.clone())),
        ("__content_type", content_type_fields(&content_type)),
        (
            "content_encoding",
            list_header(&res.headers, http::header::CONTENT_ENCODING),
        ),
        (
            "location",
            string(header_text(&res.headers, http::header::LOCATION)),
        ),
        ("trailers", map([])),
    ];
    if let Some(len) = content_length(&res.headers) {
        fields.push(("content_length", len));
    }
    map(fields)
}

/// `vars.*`.
pub(crate) fn vars_value(vars: &std::collections::BTreeMap<String, Value>) -> Value {
    map_owned(vars.iter().map(|(k, v)| (k.clone(), v.clone())))
}

/// `actions.ngrok.*`.
pub(crate) fn actions_value(results: &std::collections::BTreeMap<String, Value>) -> Value {
    map([(
        "ngrok",
        map_owned(results.iter().map(|(k, v)| (k.clone(), v.clone()))),
    )])
}

/// Whether a string is an IP address (used by actions validating CIDR lists).
pub fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}
