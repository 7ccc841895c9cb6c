//! Starting and stopping endpoints through the local API, as ngrok's agent does:
//! `POST /api/tunnels` with a tunnel's config-file keys (`name`, `addr`, `proto`, `domain` or
//! `url`, `traffic_policy`, `inspect`…) binds a new endpoint on the running session and
//! answers 201 with the tunnel object; `DELETE /api/tunnels/:name` unbinds one (204).
//!
//! The API does not bind by itself: whoever runs the session (the
//! [`Runner`](crate::runner::Runner)) gives it an [`EndpointControl`].

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use serde_json::Value;

use super::api::{EndpointInfo, InspectApi, api_error};
use super::json::tunnel_json;
use crate::config::types::TunnelConfig;
use crate::config::{ResolvedEndpoint, kind_of_url, resolve_tunnel};
use crate::forward::HttpForwarder;
use crate::metrics::EndpointMetrics;
use crate::upstream::EndpointKind;

/// An endpoint the session bound and serves.
#[derive(Debug, Clone)]
pub struct StartedEndpoint {
    /// What the API shows about it.
    pub info: EndpointInfo,
    /// Serves replays of its requests (HTTP endpoints).
    pub replayer: Option<HttpForwarder>,
    /// Its traffic metrics.
    pub metrics: EndpointMetrics,
}

/// Why an endpoint could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another endpoint has that name.
    #[error("an endpoint named `{0}` is already running")]
    Duplicate(String),
    /// No endpoint has that name.
    #[error("no endpoint named `{0}` is running")]
    NotFound(String),
    /// The edge refused the bind, or the upstream cannot be served.
    #[error("{0}")]
    Refused(String),
}

/// Starts and stops endpoints on a running session.
pub trait EndpointControl: Send + Sync {
    /// Binds `endpoint` and serves it. Returns one entry per URL bound (an http endpoint serving
    /// both schemes binds two), the one to report first.
    fn start(
        &self,
        endpoint: ResolvedEndpoint,
    ) -> BoxFuture<'static, Result<Vec<StartedEndpoint>, ControlError>>;
    /// Unbinds the endpoint named `name`.
    fn stop(&self, name: String) -> BoxFuture<'static, Result<(), ControlError>>;
}

impl InspectApi {
    /// Lets `POST /api/tunnels` and `DELETE /api/tunnels/:name` start and stop endpoints.
    pub fn set_control(&self, control: Arc<dyn EndpointControl>) {
        self.write().control = Some(control);
    }

    /// Registers a started endpoint: listed, replayable and counted.
    pub fn register(&self, started: StartedEndpoint) {
        self.attach_metrics(&started.info.name, started.metrics);
        self.add_endpoint(started.info, started.replayer);
    }
}

/// Reads a `POST /api/tunnels` body: ngrok's v2 tunnel keys plus `name`, and `url` (v3) as
/// another way to give the domain.
pub fn parse_tunnel_body(body: &[u8]) -> Result<ResolvedEndpoint, String> {
    let mut fields = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err("expected a JSON object".into()),
        Err(e) => return Err(format!("invalid JSON: {e}")),
    };
    let name = match fields.remove("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n,
        _ => return Err("`name` is required".into()),
    };
    let url = match fields.remove("url") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => Some(u),
        Some(_) => return Err("`url` must be a string".into()),
    };
    // ngrok's API takes the policy as a document or as its YAML text.
    let policy_text = match fields.get("traffic_policy") {
        Some(Value::String(text)) => Some(text.clone()),
        _ => None,
    };
    if let Some(text) = policy_text {
        let node = sluice_source::parse(&text)
            .map_err(|(loc, m)| format!("traffic_policy:{}:{}: {m}", loc.line, loc.col))?;
        fields.insert("traffic_policy".into(), node.to_json());
    }
    if url.is_some() && (fields.contains_key("domain") || fields.contains_key("hostname")) {
        return Err("give `url` or `domain`, not both".into());
    }
    let proto = match (fields.get("proto"), url.as_deref()) {
        (Some(_), _) => None,
        (None, Some(u)) => Some(scheme_of(kind_of_url(Some(u))).to_owned()),
        (None, None) => Some("http".to_owned()),
    };
    if let Some(p) = proto {
        fields.insert("proto".into(), Value::String(p));
    }
    let config: TunnelConfig =
        serde_json::from_value(Value::Object(fields)).map_err(|e| e.to_string())?;
    let mut endpoint = resolve_tunnel(&name, &config).map_err(|e| e.to_string())?;
    if let Some(u) = url.filter(|u| !u.is_empty()) {
        let u = match u.contains("://") {
            true => u,
            false => format!("{}://{u}", scheme_of(endpoint.kind)),
        };
        if kind_of_url(Some(&u)) != endpoint.kind {
            return Err(format!("`url` {u} does not match proto `{}`", config.proto));
        }
        endpoint.url = Some(u);
    }
    Ok(endpoint)
}

/// The `proto` (and plain URL scheme) of an endpoint kind.
fn scheme_of(kind: EndpointKind) -> &'static str {
    match kind {
        EndpointKind::Http => "http",
        EndpointKind::Tcp => "tcp",
        EndpointKind::Tls => "tls",
    }
}

/// `POST /api/tunnels`.
pub(super) async fn start_tunnel(
    State(api): State<InspectApi>,
    body: axum::body::Bytes,
) -> Response {
    let endpoint = match parse_tunnel_body(&body) {
        Ok(e) => e,
        Err(msg) => return api_error(StatusCode::BAD_REQUEST, &msg),
    };
    let Some(control) = api.read().control.clone() else {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this agent cannot start endpoints from the API",
        );
    };
    if api.endpoints().iter().any(|e| e.name == endpoint.name) {
        let e = ControlError::Duplicate(endpoint.name);
        return api_error(StatusCode::BAD_REQUEST, &e.to_string());
    }
    match control.start(endpoint).await {
        Ok(started) => {
            let Some(first) = started.first() else {
                return api_error(StatusCode::BAD_GATEWAY, "the edge bound no URL");
            };
            let json = tunnel_json(&first.info, first.metrics.snapshot());
            for s in started {
                api.register(s);
            }
            (StatusCode::CREATED, Json(json)).into_response()
        }
        Err(e) => api_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// `DELETE /api/tunnels/:name`.
pub(super) async fn stop_tunnel(
    State(api): State<InspectApi>,
    Path(name): Path<String>,
) -> Response {
    let Some(control) = api.read().control.clone() else {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this agent cannot stop endpoints from the API",
        );
    };
    match control.stop(name.clone()).await {
        Ok(()) => {
            api.remove_endpoint(&name);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e @ ControlError::NotFound(_)) => api_error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => api_error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_use_the_config_file_keys() {
        let e = parse_tunnel_body(br#"{"name":"ssh","addr":"22","proto":"tcp"}"#);
        let e = e.unwrap_or_else(|m| panic!("{m}"));
        assert_eq!((e.name.as_str(), e.kind), ("ssh", EndpointKind::Tcp));
        assert_eq!(e.upstream.to_string(), "tcp://localhost:22");
        let e = parse_tunnel_body(
            br#"{"name":"web","addr":"8080","url":"https://a.localhost","inspect":false,
                "traffic_policy":"on_http_request:\n  - actions:\n      - type: deny\n"}"#,
        )
        .unwrap_or_else(|m| panic!("{m}"));
        assert_eq!(e.kind, EndpointKind::Http);
        assert_eq!(e.url.as_deref(), Some("https://a.localhost"));
        assert!(!e.inspect);
        assert!(e.traffic_policy.is_some_and(|p| p.contains("deny")));
        for bad in [
            &br#"{"addr":"80"}"#[..],
            br#"{"name":"x","addr":"80","nope":1}"#,
            br#"{"name":"x","url":"tcp://a:1","proto":"http"}"#,
            br#"[1]"#,
        ] {
            assert!(
                parse_tunnel_body(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
