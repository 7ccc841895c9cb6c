//! What `/api/status` and the `/status` page report: the session (status, edge address,
//! round-trip latency, account), the agent's settings with where each came from, and each
//! endpoint's configuration and traffic metrics. The terminal console reads the same report.
//!
//! The `session.legs` array keeps ngrok's shape (`region`, `latency`), so scripts reading
//! ngrok's status work; the rest is sluice's.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::api::{EndpointInfo, InspectApi};
use super::json::UpstreamJson;
use crate::metrics::{EndpointMetrics, MetricsSnapshot};

/// One agent setting, its effective value and where that value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSetting {
    /// The config key (`web_addr`, `inspect_db_size`…).
    pub name: String,
    /// The value in effect (secrets are shown as `set`).
    pub value: String,
    /// `flag --web-addr`, `environment SLUICE_AUTHTOKEN`, `config file PATH` or `default`.
    pub source: String,
}

/// What the status report needs beyond the endpoints: kept by the API, set by the runner.
#[derive(Default)]
pub(super) struct LiveState {
    /// Each endpoint's metrics, by name.
    pub metrics: HashMap<String, EndpointMetrics>,
    /// The last round trip to the edge.
    pub latency: Option<Duration>,
    /// The authtoken's account, as the edge named it.
    pub account: Option<String>,
}

/// `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    /// `/api/status`.
    pub uri: String,
    /// `online`, `reconnecting`, `offline`.
    pub status: String,
    /// This agent's version.
    pub agent_version: String,
    /// ngrok's session object: one leg, the edge.
    pub session: SessionJson,
    /// The edge this agent is connected to.
    pub edge: EdgeReport,
    /// The agent's settings and where each came from.
    pub settings: Vec<AgentSetting>,
    /// Every endpoint, with its configuration and metrics.
    pub endpoints: Vec<EndpointStatus>,
}

/// ngrok's `session`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionJson {
    /// One leg per edge connection.
    pub legs: Vec<LegJson>,
}

/// ngrok's `session.legs[]`: sluice has no regions, so `region` is the edge's address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegJson {
    /// The edge's address.
    pub region: String,
    /// The last round trip, Go-style (`87ms`, `412µs`).
    pub latency: String,
}

/// The edge side of the session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeReport {
    /// Where the agent connects (`host:port`, or the embedded edge's tunnel address).
    pub address: String,
    /// The authtoken's account, once connected.
    pub account: Option<String>,
    /// The last round trip in nanoseconds (a heartbeat and its acknowledgement).
    pub latency_ns: Option<u64>,
}

/// One endpoint on the status page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointStatus {
    /// Name.
    pub name: String,
    /// Public URL.
    pub url: String,
    /// Upstream URL and protocol.
    pub upstream: UpstreamJson,
    /// `public` or `internal`.
    pub binding: String,
    /// Pooling.
    pub pooling_enabled: bool,
    /// Whether HTTP traffic is recorded.
    pub inspect: bool,
    /// What its Traffic Policy does, phase by phase (`None`: no policy).
    pub policy: Option<PolicySummary>,
    /// Its traffic since it started (the numbers `/api/tunnels` shows).
    pub metrics: MetricsSnapshot,
}

/// A Traffic Policy in a few words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySummary {
    /// The phases it has rules for, in document order.
    pub phases: Vec<PhaseSummary>,
}

/// The rules of one phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseSummary {
    /// `on_tcp_connect`, `on_http_request`, `on_http_response`.
    pub phase: String,
    /// How many rules.
    pub rules: usize,
    /// The action types, in order, each once.
    pub actions: Vec<String>,
}

/// Summarises policy text (YAML or JSON). The edge validated it at bind; text that does not
/// parse here is summarised as having no phases.
pub fn summarise_policy(text: &str) -> PolicySummary {
    let json = sluice_source::parse(text)
        .map(|node| node.to_json())
        .unwrap_or_default();
    let mut phases = Vec::new();
    if let Some(doc) = json.as_object() {
        for (key, rules) in doc {
            let phase = match key.as_str() {
                "inbound" => "on_http_request",
                "outbound" => "on_http_response",
                other => other,
            };
            let rules = rules.as_array().cloned().unwrap_or_default();
            let mut actions: Vec<String> = Vec::new();
            for rule in &rules {
                let listed = rule["actions"].as_array().cloned().unwrap_or_default();
                for a in listed {
                    if let Some(t) = a["type"]
                        .as_str()
                        .filter(|t| !actions.iter().any(|x| x == t))
                    {
                        actions.push(t.to_owned());
                    }
                }
            }
            phases.push(PhaseSummary {
                phase: phase.to_owned(),
                rules: rules.len(),
                actions,
            });
        }
    }
    PolicySummary { phases }
}

/// A latency written the way Go prints durations, to the precision a person reads.
pub fn format_latency(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{}µs", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

impl EndpointStatus {
    fn of(e: &EndpointInfo, metrics: MetricsSnapshot) -> Self {
        EndpointStatus {
            name: e.name.clone(),
            url: e.url.clone(),
            upstream: UpstreamJson {
                url: e.upstream_url.clone(),
                protocol: e.upstream_protocol.clone(),
            },
            binding: e.binding.clone(),
            pooling_enabled: e.pooling_enabled,
            inspect: e.inspect,
            policy: e.traffic_policy.as_deref().map(summarise_policy),
            metrics,
        }
    }
}

impl InspectApi {
    /// Registers the metrics of endpoint `name` (replacing earlier ones of that name).
    pub fn attach_metrics(&self, name: &str, metrics: EndpointMetrics) {
        self.write().live.metrics.insert(name.to_owned(), metrics);
    }

    /// The metrics of endpoint `name` as of now (zeros when none were attached).
    pub fn metrics_of(&self, name: &str) -> MetricsSnapshot {
        self.read()
            .live
            .metrics
            .get(name)
            .map(EndpointMetrics::snapshot)
            .unwrap_or_default()
    }

    /// Records the session's last round trip to the edge and its account.
    pub fn set_session_health(&self, latency: Option<Duration>, account: Option<String>) {
        let mut s = self.write();
        s.live.latency = latency;
        s.live.account = account.filter(|a| !a.is_empty());
    }

    /// The whole status report, as of now.
    pub fn status_report(&self) -> StatusReport {
        let (status, endpoints, latency, account, metrics) = {
            let s = self.read();
            (
                s.status.clone(),
                s.endpoints.clone(),
                s.live.latency,
                s.live.account.clone(),
                s.live.metrics.clone(),
            )
        };
        let options = self.options();
        let legs = match latency {
            Some(l) if status == "online" => vec![LegJson {
                region: options.edge_addr.clone(),
                latency: format_latency(l),
            }],
            _ => Vec::new(),
        };
        let endpoints = endpoints
            .iter()
            .map(|e| {
                let m = metrics
                    .get(&e.name)
                    .map(EndpointMetrics::snapshot)
                    .unwrap_or_default();
                EndpointStatus::of(e, m)
            })
            .collect();
        StatusReport {
            uri: "/api/status".into(),
            status,
            agent_version: options.agent_version.clone(),
            session: SessionJson { legs },
            edge: EdgeReport {
                address: options.edge_addr.clone(),
                account,
                latency_ns: latency.map(|l| u64::try_from(l.as_nanos()).unwrap_or(u64::MAX)),
            },
            settings: options.settings.clone(),
            endpoints,
        }
    }
}

/// `GET /api/status`.
pub(super) async fn status_json(
    axum::extract::State(api): axum::extract::State<InspectApi>,
) -> axum::Json<StatusReport> {
    axum::Json(api.status_report())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_summarised_by_phase() {
        let text = "on_http_request:\n  - actions:\n      - type: add-headers\n  - expressions: [\"true\"]\n    actions:\n      - type: deny\n      - type: add-headers\noutbound:\n  - actions:\n      - type: compress-response\n";
        let s = summarise_policy(text);
        assert_eq!(s.phases.len(), 2);
        assert_eq!(s.phases[0].phase, "on_http_request");
        assert_eq!(s.phases[0].rules, 2);
        assert_eq!(s.phases[0].actions, ["add-headers", "deny"]);
        assert_eq!(s.phases[1].phase, "on_http_response");
        assert_eq!(format_latency(Duration::from_micros(412)), "412µs");
        assert_eq!(format_latency(Duration::from_millis(87)), "87ms");
    }
}
