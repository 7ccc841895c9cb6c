//! The local API (ngrok's `http://127.0.0.1:4040/api`) and the inspector page, with axum.
//!
//! Security: requests whose `Host` is not a loopback name (or one of `web_allow_hosts`) get
//! 403, which defeats DNS rebinding; writes with an `Origin` other than the API's own get 403;
//! writes with a body must be `application/json` (415), so no HTML form can make one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::guard::guard;
use super::json::{EndpointJson, TunnelJson, endpoint_json, exchange_json, tunnel_json};
use super::live::{ReplayMark, ReplayTag, ReplayVia};
use super::status::{AgentSetting, LiveState};
use super::store::Inspector;
use super::tunnels::EndpointControl;
use super::{status, status_page, tunnels, ui};
use crate::forward::HttpForwarder;

/// What the API shows about one bound endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInfo {
    /// Endpoint name (`command_line` for CLI endpoints).
    pub name: String,
    /// Public URL assigned by the edge.
    pub url: String,
    /// Upstream URL.
    pub upstream_url: String,
    /// Upstream protocol (`http1`, `http2`, `tcp`…).
    pub upstream_protocol: String,
    /// Whether HTTP traffic is recorded.
    pub inspect: bool,
    /// The policy text sent at bind, if any.
    pub traffic_policy: Option<String>,
    /// Pooling.
    pub pooling_enabled: bool,
    /// Who may reach it: `public`, or `internal` (only `forward-internal` on the edge).
    pub binding: String,
}

/// API settings.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    /// Extra allowed `Host` values: names, `.suffix` patterns or IPs (ngrok's `web_allow_hosts`).
    pub allow_hosts: Vec<String>,
    /// Reported as `agent_version`.
    pub agent_version: String,
    /// The edge's address, for `/status` (`host:port`).
    pub edge_addr: String,
    /// The agent's settings and where each came from, for `/status`.
    pub settings: Vec<AgentSetting>,
}

#[derive(Default)]
pub(super) struct Shared {
    pub(super) endpoints: Vec<EndpointInfo>,
    replayers: HashMap<String, HttpForwarder>,
    pub(super) status: String,
    /// Metrics and session health for `/status` (see `status.rs`).
    pub(super) live: LiveState,
    /// Starts and stops endpoints for `POST`/`DELETE /api/tunnels` (see `tunnels.rs`).
    pub(super) control: Option<Arc<dyn EndpointControl>>,
}

/// The API's state. Cheap to clone; the tunnel integration registers endpoints on it.
#[derive(Clone)]
pub struct InspectApi {
    inspector: Inspector,
    pub(super) options: Arc<ApiOptions>,
    shared: Arc<RwLock<Shared>>,
}

impl InspectApi {
    /// An API over `inspector`.
    pub fn new(inspector: Inspector, options: ApiOptions) -> Self {
        let shared = Shared {
            status: "online".into(),
            ..Shared::default()
        };
        InspectApi {
            inspector,
            options: Arc::new(options),
            shared: Arc::new(RwLock::new(shared)),
        }
    }

    pub(super) fn read(&self) -> std::sync::RwLockReadGuard<'_, Shared> {
        self.shared.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn options(&self) -> &ApiOptions {
        &self.options
    }

    pub(super) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Shared> {
        self.shared.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The store behind the API.
    pub fn inspector(&self) -> &Inspector {
        &self.inspector
    }

    /// Sets the session status shown by `/api/status` (`online`, `reconnecting`…).
    pub fn set_status(&self, status: &str) {
        self.write().status = status.to_string();
    }

    /// Adds (or replaces, by name) a bound endpoint; `replayer` serves replays of its requests.
    pub fn add_endpoint(&self, info: EndpointInfo, replayer: Option<HttpForwarder>) {
        let mut s = self.write();
        s.endpoints.retain(|e| e.name != info.name);
        match replayer {
            Some(r) => s.replayers.insert(info.name.clone(), r),
            None => s.replayers.remove(&info.name),
        };
        s.endpoints.push(info);
    }

    /// Removes an endpoint after unbind.
    pub fn remove_endpoint(&self, name: &str) {
        let mut s = self.write();
        s.endpoints.retain(|e| e.name != name);
        s.replayers.remove(name);
        s.live.metrics.remove(name);
    }

    /// The endpoints registered.
    pub fn endpoints(&self) -> Vec<EndpointInfo> {
        self.read().endpoints.clone()
    }

    // --- accessors of the inspector's own request routes (routes.rs) ---

    /// The replayer of HTTP endpoint `name`, if it runs.
    pub(crate) fn replayer(&self, name: &str) -> Option<HttpForwarder> {
        self.read().replayers.get(name).cloned()
    }

    /// The public URL of endpoint `name`, if it runs.
    pub(crate) fn public_url(&self, name: &str) -> Option<String> {
        self.read()
            .endpoints
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.url.clone())
    }

    /// The agent's version, as the API reports it.
    pub(crate) fn agent_version(&self) -> &str {
        &self.options.agent_version
    }

    /// The router: `/`, `/api/…`.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(ui::routes())
            .route("/api", get(root))
            .route("/api/", get(root))
            // Status, metrics and endpoint control (status.rs, status_page.rs, tunnels.rs).
            .route("/status", get(status_page::page))
            .route("/api/status", get(status::status_json))
            .route("/api/endpoints", get(endpoints))
            .route("/api/endpoints/{name}", get(endpoint))
            .route("/api/tunnels", get(tunnels).post(tunnels::start_tunnel))
            .route(
                "/api/tunnels/{name}",
                get(tunnel).delete(tunnels::stop_tunnel),
            )
            // End of the status block.
            .route("/api/requests/http", get(list).delete(clear).post(replay))
            .route("/api/requests/http/{id}", get(one))
            // --- the inspector's own request routes (live stream, detail, HAR, replays) ---
            .merge(super::routes::routes())
            // --- end of the inspector's own request routes ---
            .layer(middleware::from_fn_with_state(self.clone(), guard))
            .with_state(self.clone())
    }

    /// Serves the router on `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }
}

async fn root() -> Json<Value> {
    Json(
        json!({"uri": "/api", "status": "/api/status", "endpoints": "/api/endpoints",
                "tunnels": "/api/tunnels", "requests": "/api/requests/http"}),
    )
}

/// `GET /api/endpoints`.
#[derive(Debug, Serialize)]
struct EndpointList {
    endpoints: Vec<EndpointJson>,
    uri: &'static str,
}

/// `GET /api/tunnels`.
#[derive(Debug, Serialize)]
struct TunnelList {
    tunnels: Vec<TunnelJson>,
    uri: &'static str,
}

async fn endpoints(State(api): State<InspectApi>) -> Json<EndpointList> {
    let endpoints = api
        .endpoints()
        .iter()
        .map(|e| endpoint_json(e, api.metrics_of(&e.name)))
        .collect();
    Json(EndpointList {
        endpoints,
        uri: "/api/endpoints",
    })
}

async fn endpoint(State(api): State<InspectApi>, Path(name): Path<String>) -> Response {
    match api.endpoints().iter().find(|e| e.name == name) {
        Some(e) => Json(endpoint_json(e, api.metrics_of(&e.name))).into_response(),
        None => not_found(),
    }
}

async fn tunnels(State(api): State<InspectApi>) -> Json<TunnelList> {
    let tunnels = api
        .endpoints()
        .iter()
        .map(|e| tunnel_json(e, api.metrics_of(&e.name)))
        .collect();
    Json(TunnelList {
        tunnels,
        uri: "/api/tunnels",
    })
}

async fn tunnel(State(api): State<InspectApi>, Path(name): Path<String>) -> Response {
    match api.endpoints().iter().find(|e| e.name == name) {
        Some(e) => Json(tunnel_json(e, api.metrics_of(&e.name))).into_response(),
        None => not_found(),
    }
}

/// Query of `GET /api/requests/http`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<usize>,
    tunnel_name: Option<String>,
}

async fn list(State(api): State<InspectApi>, Query(q): Query<ListQuery>) -> Json<Value> {
    let limit = q.limit.unwrap_or(50);
    let requests: Vec<Value> = api
        .inspector
        .list(limit, q.tunnel_name.as_deref())
        .iter()
        .map(|e| exchange_json(e))
        .collect();
    Json(json!({"uri": "/api/requests/http", "requests": requests}))
}

async fn one(State(api): State<InspectApi>, Path(id): Path<String>) -> Response {
    match api.inspector.get(&id) {
        Some(e) => Json(exchange_json(&e)).into_response(),
        None => not_found(),
    }
}

async fn clear(State(api): State<InspectApi>) -> StatusCode {
    api.inspector.clear();
    StatusCode::NO_CONTENT
}

/// Body of `POST /api/requests/http`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    id: String,
    #[serde(default)]
    tunnel_name: Option<String>,
}

async fn replay(State(api): State<InspectApi>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<ReplayBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, "expected {\"id\": \"…\"}");
    };
    let Some(exchange) = api.inspector.get(&body.id) else {
        return not_found();
    };
    let name = body
        .tunnel_name
        .unwrap_or_else(|| exchange.endpoint.clone());
    let replayer = api.read().replayers.get(&name).cloned();
    let Some(replayer) = replayer else {
        return error(StatusCode::BAD_REQUEST, "that endpoint is not running");
    };
    // Marked as a replay in the inspector's list.
    let tag = ReplayTag {
        id: api.inspector.next_id(),
        mark: ReplayMark {
            of: exchange.id.clone(),
            via: ReplayVia::Upstream,
        },
    };
    match replayer
        .replay_marked(&exchange.request, exchange.remote_addr, Some(tag))
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

/// An error answer in ngrok's shape: `{"error_code": …, "msg": …}`.
pub(super) fn api_error(status: StatusCode, msg: &str) -> Response {
    error(status, msg)
}

fn error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        Json(json!({"error_code": status.as_u16(), "msg": msg})),
    )
        .into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}
