//! Prometheus metrics, written by hand in the text exposition format (version 0.0.4):
//! requests by endpoint and status, a latency histogram per endpoint, open and total
//! connections, bytes in and out (on the client side), responses made by the traffic policy by
//! status, connections closed by the policy, requests handed to internal endpoints, refused agent authentications, and reloads.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// The edge's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    policy_responses: Mutex<BTreeMap<(String, u16), u64>>,
    policy_closed: Mutex<BTreeMap<(String, &'static str), u64>>,
    forwarded_internal: Mutex<BTreeMap<String, u64>>,
    reloads: Mutex<BTreeMap<&'static str, u64>>,
    /// Client connections open now.
    pub open_connections: AtomicI64,
    /// Client connections accepted.
    pub connections: AtomicU64,
    /// Bytes read from clients.
    pub bytes_in: AtomicU64,
    /// Bytes written to clients.
    pub bytes_out: AtomicU64,
    /// Requests refused for a header over the limit (bytes or fields).
    pub headers_too_large: AtomicU64,
    /// Requests refused with 400 for breaking HTTP/1.1's syntax or framing, or for a path
    /// that cannot be normalised.
    pub malformed_requests: AtomicU64,
    /// Events dropped because the event writer's queue was full (shared with the sink).
    pub events_dropped: Arc<AtomicU64>,
    /// Failed writes and flushes of the event output (shared with the sink).
    pub event_write_errors: Arc<AtomicU64>,
    /// Tunnel authentications refused for an unknown authtoken.
    pub tunnel_auth_invalid: AtomicU64,
    /// Tunnel authentications refused because the source address is blocked after failures.
    pub tunnel_auth_throttled: AtomicU64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_insert(0) += 1;
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts a client connection (total, and open for as long as this lives).
pub(crate) struct OpenConnection(Arc<Metrics>);

impl OpenConnection {
    /// Counts a new connection as open until the guard drops.
    pub(crate) fn count(metrics: Arc<Metrics>) -> Self {
        metrics.connections.fetch_add(1, Ordering::Relaxed);
        metrics.open_connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A finished request: its endpoint id (empty when none matched), status and duration.
    pub fn request(&self, endpoint: &str, status: u16, seconds: f64) {
        bump(&self.requests, (endpoint.to_string(), status));
        if let Ok(mut m) = self.latency.lock() {
            let h = m.entry(endpoint.to_string()).or_default();
            for (i, b) in BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        }
    }

    /// A response made by the traffic policy (not by the upstream).
    pub fn policy_response(&self, endpoint: &str, status: u16) {
        bump(&self.policy_responses, (endpoint.to_string(), status));
    }

    /// A connection closed by the traffic policy in `phase`.
    pub fn policy_closed(&self, endpoint: &str, phase: &'static str) {
        bump(&self.policy_closed, (endpoint.to_string(), phase));
    }

    /// A request handed to the internal endpoint `endpoint` by `forward-internal`.
    pub fn forwarded_internal(&self, endpoint: &str) {
        bump(&self.forwarded_internal, endpoint.to_string());
    }

    /// A reload attempt: `ok` or `refused`.
    pub fn reload(&self, result: &'static str) {
        bump(&self.reloads, result);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "# HELP sluice_http_requests_total HTTP requests finished, by endpoint and status."
        )?;
        writeln!(out, "# TYPE sluice_http_requests_total counter")?;
        if let Ok(m) = self.requests.lock() {
            for ((ep, status), n) in m.iter() {
                writeln!(
                    out,
                    "sluice_http_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {n}",
                    escape(ep)
                )?;
            }
        }
        writeln!(
            out,
            "# HELP sluice_http_request_duration_seconds Time from request header to the end of the response."
        )?;
        writeln!(out, "# TYPE sluice_http_request_duration_seconds histogram")?;
        if let Ok(m) = self.latency.lock() {
            for (ep, h) in m.iter() {
                let ep = escape(ep);
                for (i, b) in BUCKETS.iter().enumerate() {
                    writeln!(
                        out,
                        "sluice_http_request_duration_seconds_bucket{{endpoint=\"{ep}\",le=\"{b}\"}} {}",
                        h.counts[i]
                    )?;
                }
                writeln!(
                    out,
                    "sluice_http_request_duration_seconds_bucket{{endpoint=\"{ep}\",le=\"+Inf\"}} {}",
                    h.count
                )?;
                writeln!(
                    out,
                    "sluice_http_request_duration_seconds_sum{{endpoint=\"{ep}\"}} {}",
                    h.sum
                )?;
                writeln!(
                    out,
                    "sluice_http_request_duration_seconds_count{{endpoint=\"{ep}\"}} {}",
                    h.count
                )?;
            }
        }
        writeln!(
            out,
            "# HELP sluice_policy_responses_total Responses made by the traffic policy, by endpoint and status."
        )?;
        writeln!(out, "# TYPE sluice_policy_responses_total counter")?;
        if let Ok(m) = self.policy_responses.lock() {
            for ((ep, status), n) in m.iter() {
                writeln!(
                    out,
                    "sluice_policy_responses_total{{endpoint=\"{}\",status=\"{status}\"}} {n}",
                    escape(ep)
                )?;
            }
        }
        writeln!(
            out,
            "# HELP sluice_policy_connections_closed_total Connections closed by the traffic policy, by endpoint and phase."
        )?;
        writeln!(out, "# TYPE sluice_policy_connections_closed_total counter")?;
        if let Ok(m) = self.policy_closed.lock() {
            for ((ep, phase), n) in m.iter() {
                writeln!(
                    out,
                    "sluice_policy_connections_closed_total{{endpoint=\"{}\",phase=\"{phase}\"}} {n}",
                    escape(ep)
                )?;
            }
        }
        writeln!(
            out,
            "# HELP sluice_forward_internal_total Requests handed to an internal endpoint by forward-internal, by endpoint."
        )?;
        writeln!(out, "# TYPE sluice_forward_internal_total counter")?;
        if let Ok(m) = self.forwarded_internal.lock() {
            for (ep, n) in m.iter() {
                writeln!(
                    out,
                    "sluice_forward_internal_total{{endpoint=\"{}\",binding=\"internal\"}} {n}",
                    escape(ep)
                )?;
            }
        }
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: String| {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} {kind}")?;
            writeln!(out, "{name} {v}")
        };
        gauge(
            out,
            "sluice_open_connections",
            "Client connections open now.",
            "gauge",
            self.open_connections.load(Ordering::Relaxed).to_string(),
        )?;
        gauge(
            out,
            "sluice_connections_total",
            "Client connections accepted.",
            "counter",
            self.connections.load(Ordering::Relaxed).to_string(),
        )?;
        gauge(
            out,
            "sluice_bytes_in_total",
            "Bytes read from clients.",
            "counter",
            self.bytes_in.load(Ordering::Relaxed).to_string(),
        )?;
        gauge(
            out,
            "sluice_bytes_out_total",
            "Bytes written to clients.",
            "counter",
            self.bytes_out.load(Ordering::Relaxed).to_string(),
        )?;
        gauge(
            out,
            "sluice_request_headers_too_large_total",
            "Requests refused with 431 for a header over 1 MiB or 256 fields.",
            "counter",
            self.headers_too_large.load(Ordering::Relaxed).to_string(),
        )?;
        gauge(
            out,
            "sluice_requests_malformed_total",
            "Requests refused with 400: invalid HTTP/1.1 syntax or framing, or an unsafe path.",
            "counter",
            self.malformed_requests.load(Ordering::Relaxed).to_string(),
        )?;
        gauge(
            out,
            "sluice_events_dropped_total",
            "Events dropped because the event output could not keep up.",
            "counter",
            self.events_dropped.load(Ordering::Relaxed).to_string(),
        )?;
        gauge(
            out,
            "sluice_event_write_errors_total",
            "Failed writes and flushes of the event output (events lost, e.g. to a full disk).",
            "counter",
            self.event_write_errors.load(Ordering::Relaxed).to_string(),
        )?;
        writeln!(
            out,
            "# HELP sluice_tunnel_auth_failures_total Refused agent authentications, by reason (invalid_token, throttled)."
        )?;
        writeln!(out, "# TYPE sluice_tunnel_auth_failures_total counter")?;
        for (reason, n) in [
            ("invalid_token", &self.tunnel_auth_invalid),
            ("throttled", &self.tunnel_auth_throttled),
        ] {
            writeln!(
                out,
                "sluice_tunnel_auth_failures_total{{reason=\"{reason}\"}} {}",
                n.load(Ordering::Relaxed)
            )?;
        }
        writeln!(
            out,
            "# HELP sluice_config_reloads_total Config reloads, by result (ok, refused)."
        )?;
        writeln!(out, "# TYPE sluice_config_reloads_total counter")?;
        if let Ok(m) = self.reloads.lock() {
            for (result, n) in m.iter() {
                writeln!(
                    out,
                    "sluice_config_reloads_total{{result=\"{result}\"}} {n}"
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition() {
        let m = Metrics::default();
        m.request("ep_0", 200, 0.003);
        m.request("ep_0", 200, 0.2);
        m.policy_response("ep_1", 403);
        let text = m.render();
        assert!(text.contains("sluice_http_requests_total{endpoint=\"ep_0\",status=\"200\"} 2"));
        assert!(text.contains(
            "sluice_http_request_duration_seconds_bucket{endpoint=\"ep_0\",le=\"0.005\"} 1"
        ));
        assert!(text.contains("le=\"+Inf\"} 2"));
        assert!(text.contains("sluice_policy_responses_total{endpoint=\"ep_1\",status=\"403\"} 1"));
        m.tunnel_auth_invalid.fetch_add(2, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("sluice_tunnel_auth_failures_total{reason=\"invalid_token\"} 2"));
        assert!(text.contains("sluice_tunnel_auth_failures_total{reason=\"throttled\"} 0"));
    }
}
