//! Builds the CEL variables of reference §3.1 (`conn`, `req`, `res`, `endpoint`, `time`) from
//! plain connection facts and `http` heads, directly in the interpreter's representation.
//! `conn` and `endpoint` are built once per connection; `req`/`res` per phase, with only the
//! fields the policy reads (see [`crate::cel::Needs`]).
//!
//! Geolocation and IP-intelligence fields (`conn.geo.*`, `conn.client_ip.geo.*`,
//! `.categories`, `.is_tor_node`, `.as.*`) need data a self-hosted edge does not have: they are
//! present with empty values (empty strings, `false`, `0`, `[]`) so expressions that test them
//! evaluate cleanly.

mod build;
mod content_type;
mod headers;
mod request;
mod response;
mod set_cookie;
mod tls;
mod url;
pub(crate) mod user_agent;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use cel::Value;
use cel::common::value::Val;
use chrono::{DateTime, Utc};

use crate::cel::value::{map as value_map, map_owned as value_map_owned};
use crate::exchange::{ConnInfo, EndpointInfo};
use build::{BoxVal, boolean, int, list, map, s, timestamp};

pub(crate) use request::request_val;
pub(crate) use response::response_val;
pub use tls::terminate_tls_result;
pub use url::RequestUrl;

fn empty_geo() -> BoxVal {
    map([
        "city",
        "continent",
        "country",
        "country_code",
        "latitude",
        "longitude",
        "metro_code",
        "postal_code",
        "radius",
        "subdivision",
        "timezone",
    ]
    .into_iter()
    .map(|k| (k, s("")))
    .chain([("is_eu", boolean(false))])
    .collect())
}

/// The subfields of `conn.client_ip` / `conn.server_ip` (all empty: no IP data is bundled).
fn ip_fields() -> BoxVal {
    map(vec![
        (
            "geo",
            map(vec![
                ("location", empty_geo()),
                ("registered_location", empty_geo()),
            ]),
        ),
        ("categories", list(Vec::new())),
        ("is_on_blocklist", boolean(false)),
        ("is_tor_node", boolean(false)),
        ("as", map(vec![("number", int(0)), ("organization", s(""))])),
    ])
}

/// `conn.*`, built once per connection.
pub(crate) fn conn_value(info: &ConnInfo) -> Arc<dyn Val> {
    let tls = info.tls.clone().unwrap_or_default();
    Arc::from(map(vec![
        ("client_ip", s(info.client.ip().to_string())),
        ("client_port", int(i64::from(info.client.port()))),
        ("server_ip", s(info.server.ip().to_string())),
        ("server_port", int(i64::from(info.server.port()))),
        ("server_region", s("")),
        ("bytes_in", int(0)),
        ("bytes_out", int(0)),
        ("ts", map(vec![("start", timestamp(info.started))])),
        ("tls", tls::tls_val(&tls)),
        ("geo", empty_geo()),
        ("__client_ip", ip_fields()),
        ("__server_ip", ip_fields()),
    ]))
}

/// `endpoint.*`, built once per connection.
pub(crate) fn endpoint_value(e: &EndpointInfo) -> Arc<dyn Val> {
    Arc::from(map(vec![
        ("id", s(e.id.clone())),
        ("url", s(e.url.clone())),
        ("protocol", s(e.protocol.as_str())),
        ("host", s(e.host.clone())),
        ("port", int(i64::from(e.port))),
        ("addr", s(format!("{}:{}", e.host, e.port))),
    ]))
}

/// `time.*`.
pub(crate) fn time_value(now: SystemTime) -> BoxVal {
    let dt: DateTime<Utc> = now.into();
    map(vec![(
        "now",
        s(dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    )])
}

/// `vars.*`.
pub(crate) fn vars_value(vars: &BTreeMap<String, Value>) -> Value {
    value_map_owned(vars.iter().map(|(k, v)| (k.clone(), v.clone())))
}

/// `actions.ngrok.*` in the HTTP phases: the connection's results (`on_tcp_connect`, e.g.
/// `terminate_tls`) under the request's own, which win on the same name.
pub(crate) fn layered_actions_value(
    conn: &BTreeMap<String, Value>,
    ex: &BTreeMap<String, Value>,
) -> Value {
    if conn.is_empty() {
        return actions_value(ex);
    }
    let mut all = conn.clone();
    all.extend(ex.iter().map(|(k, v)| (k.clone(), v.clone())));
    actions_value(&all)
}

/// `actions.ngrok.*`.
pub(crate) fn actions_value(results: &BTreeMap<String, Value>) -> Value {
    value_map([(
        "ngrok",
        value_map_owned(results.iter().map(|(k, v)| (k.clone(), v.clone()))),
    )])
}

#[cfg(test)]
mod tests {
    use super::tls::{cipher_suite, tls_version};

    #[test]
    fn tls_facts_use_ngrok_spelling() {
        assert_eq!(tls_version(Some("TLSv1_3")), "1.3");
        assert_eq!(tls_version(Some("TLSv1.2")), "1.2");
        assert_eq!(tls_version(None), "");
        assert_eq!(
            cipher_suite(Some("TLS13_AES_256_GCM_SHA384")),
            "TLS_AES_256_GCM_SHA384"
        );
        assert_eq!(
            cipher_suite(Some("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")),
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
        );
        assert_eq!(cipher_suite(None), "");
    }
}
