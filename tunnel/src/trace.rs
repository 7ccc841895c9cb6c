//! How the edge hands a request's policy trace to the agent, for the inspector.
//!
//! Only for endpoints whose [`BindRequest::inspect`](crate::BindRequest::inspect) is set (the
//! agent records their traffic); other endpoints are never traced, so the edge pays nothing.
//!
//! Wire shape. A proxy stream carries a whole HTTP/1.1 connection and the edge reuses idle
//! streams for later requests, so the per-stream [`StreamHeader`](crate::StreamHeader) cannot
//! carry a per-request trace; and the response phase runs only after the agent has sent the
//! response head, so no part of the request can carry it either. Instead:
//!
//! 1. a request the edge forwards through the tunnel gets one extra request header,
//!    [`TRACE_ID_HEADER`]` = <id>` (a decimal number unique on that edge). The agent removes it
//!    before recording or forwarding the request, so its upstream never sees it (and a public
//!    client cannot smuggle one through: the edge overwrites it, and the agent strips it on
//!    every endpoint). The id [`NO_REPORT_TRACE_ID`] (0) says that no report follows: the
//!    endpoint has no policy rules and the client's connection is not TLS, so the trace would
//!    be empty and the edge spares the report (most inspected endpoints have no policy);
//! 2. once the request is over (both HTTP phases have run, the response is sent), the edge
//!    sends one [`TraceReport`] on the control stream (`{"type":"trace", …}`) with the same
//!    id and the whole trace: the connection's `on_tcp_connect`, `on_http_request`,
//!    `on_http_response`. A request the edge answered itself (`deny`, `custom-response`, a
//!    budget stop…) never reaches the agent: its report also carries [`EdgeAnswered`], the
//!    request and response heads, so the agent records it as an exchange of its own.
//!    When the client spoke TLS to the edge, the report also carries [`ClientTls`] (version,
//!    cipher suite, SNI, ALPN), so the inspector can show them; only inspected endpoints pay.
//!
//! The agent joins a report to its recorded exchange by the id, whichever arrives first.
//! Reports are best effort: the control queue drops one rather than wait when it is full.
//! Bounded: the trace within [`sluice_wire::trace::MAX_TRACE_ENTRIES`] entries of at most
//! [`sluice_wire::trace::MAX_TRACE_TEXT`] bytes of text each; heads within
//! [`MAX_REPORTED_HEADERS`] headers. An agent that never set `inspect` never gets a report,
//! so older agents (which would not know the message) are unaffected.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sluice_wire::trace::PolicyTrace;

/// Request header carrying the trace id of a request forwarded to an inspecting agent.
pub const TRACE_ID_HEADER: &str = "sluice-trace-id";

/// The trace id that says no report will follow: the endpoint has no policy rules (its trace
/// would have no phases) and the client did not speak TLS to the edge. The agent records the
/// exchange with an empty trace at once.
pub const NO_REPORT_TRACE_ID: u64 = 0;

/// Most headers an [`EdgeAnswered`] lists per head (the rest are left out).
pub const MAX_REPORTED_HEADERS: usize = 64;

/// Edge → agent: the policy trace of one request on an inspected endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceReport {
    /// The bound URL the request arrived on.
    pub endpoint_url: String,
    /// The id sent in the request's [`TRACE_ID_HEADER`] (when it was forwarded).
    pub trace_id: u64,
    /// Set when the edge answered the request itself, so the agent never saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<EdgeAnswered>,
    /// What the policy did.
    pub trace: PolicyTrace,
    /// The client's TLS, when the request came over TLS the edge ended. Left out of the frame
    /// when absent, so older agents read the same report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
}

/// The TLS the public client spoke to the edge, as the edge's listener negotiated it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientTls {
    /// The server name the client asked for (SNI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// The protocol version, as the listener names it (e.g. `TLSv1_3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The negotiated cipher suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<String>,
    /// The negotiated ALPN protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
}

/// A request the edge answered without the agent: its heads, for the inspector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeAnswered {
    /// The public client's address.
    pub client_addr: SocketAddr,
    /// When the request arrived, in milliseconds since the Unix epoch.
    pub start_unix_ms: u64,
    /// How long the edge took to answer, in milliseconds.
    pub duration_ms: u64,
    /// Request method.
    pub method: String,
    /// Request path and query.
    pub uri: String,
    /// `HTTP/1.1`, `HTTP/2.0`…
    pub proto: String,
    /// Request headers as received (at most [`MAX_REPORTED_HEADERS`]).
    pub request_headers: Vec<(String, String)>,
    /// The status sent; `None` when the policy closed the connection instead.
    #[serde(default)]
    pub status: Option<u16>,
    /// Response headers sent (at most [`MAX_REPORTED_HEADERS`]).
    #[serde(default)]
    pub response_headers: Vec<(String, String)>,
    /// Response body bytes sent (the body itself is not reported).
    #[serde(default)]
    pub response_bytes: u64,
}

/// What the agent does with each [`TraceReport`] it receives (set with
/// [`SessionBuilder::on_trace`](crate::SessionBuilder::on_trace)); called in order on a thread
/// of its own (not the control loop, whose heartbeat acks must not wait for it), and reports
/// are dropped while it is 1,024 behind.
pub type TraceSink = Arc<dyn Fn(TraceReport) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ControlMessage;
    use sluice_wire::trace::{
        ActionTrace, Change, ExprResult, ExprTrace, PhaseTrace, RuleTrace, Side,
    };

    #[test]
    fn the_documented_json_shape() {
        let trace = PolicyTrace {
            phases: vec![PhaseTrace {
                phase: "on_http_request".into(),
                rules: vec![RuleTrace {
                    index: 0,
                    name: "tag".into(),
                    expressions: vec![
                        ExprTrace {
                            expr: "true".into(),
                            result: ExprResult::Bool(true),
                        },
                        ExprTrace {
                            expr: "x".into(),
                            result: ExprResult::Error("no such key".into()),
                        },
                    ],
                    matched: true,
                    actions: vec![ActionTrace {
                        action_type: "add-headers".into(),
                        effect: "added x-foo".into(),
                        terminated: false,
                        changes: vec![Change::HeaderAdded {
                            side: Side::Request,
                            name: "x-foo".into(),
                            value: "1".into(),
                        }],
                    }],
                }],
            }],
            truncated: false,
        };
        let text = serde_json::to_string(&trace).expect("encodes");
        assert_eq!(
            text,
            r#"{"phases":[{"phase":"on_http_request","rules":[{"index":0,"name":"tag","expressions":[{"expr":"true","result":true},{"expr":"x","result":"no such key"}],"matched":true,"actions":[{"type":"add-headers","effect":"added x-foo","terminated":false,"changes":[{"kind":"header-added","side":"request","name":"x-foo","value":"1"}]}]}]}]}"#
        );
        let back: PolicyTrace = serde_json::from_str(&text).expect("decodes");
        assert_eq!(back, trace);
    }

    #[test]
    fn a_report_round_trips_as_a_control_message() {
        let report = TraceReport {
            endpoint_url: "http://app.localhost:8080".into(),
            trace_id: 7,
            answered: Some(EdgeAnswered {
                client_addr: "127.0.0.1:5000".parse().expect("addr"),
                start_unix_ms: 1,
                duration_ms: 2,
                method: "GET".into(),
                uri: "/admin?x=1".into(),
                proto: "HTTP/1.1".into(),
                request_headers: vec![("host".into(), "app.localhost".into())],
                status: Some(403),
                response_headers: vec![],
                response_bytes: 0,
            }),
            trace: PolicyTrace {
                phases: vec![PhaseTrace {
                    phase: "on_http_request".into(),
                    rules: vec![RuleTrace {
                        index: 0,
                        name: "block".into(),
                        expressions: vec![ExprTrace {
                            expr: "req.url.path.startsWith('/admin')".into(),
                            result: ExprResult::Bool(true),
                        }],
                        matched: true,
                        actions: vec![],
                    }],
                }],
                truncated: true,
            },
            tls: Some(ClientTls {
                sni: Some("app.localhost".into()),
                version: Some("TLSv1_3".into()),
                cipher_suite: Some("TLS13_AES_256_GCM_SHA384".into()),
                alpn: None,
            }),
        };
        let msg = ControlMessage::Trace(Box::new(report.clone()));
        let bytes = serde_json::to_vec(&msg).expect("encodes");
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with(r#"{"type":"trace""#), "{text}");
        let back = crate::codec::decode_control(&bytes).expect("decodes");
        assert_eq!(back, ControlMessage::Trace(Box::new(report)));
    }

    #[test]
    fn a_report_without_tls_reads_as_before() {
        let old = r#"{"endpoint_url":"http://a.localhost","trace_id":3,"trace":{"phases":[]}}"#;
        let report: TraceReport = serde_json::from_str(old).expect("old report reads");
        assert_eq!(report.tls, None);
        assert_eq!(serde_json::to_string(&report).expect("encodes"), old);
    }

    #[test]
    fn a_bind_request_without_inspect_reads_and_writes_as_before() {
        let old = r#"{"protocol":"http","url":null,"traffic_policy":null,"pooling_enabled":false,"metadata":null}"#;
        let req: crate::BindRequest = serde_json::from_str(old).expect("old bind reads");
        assert!(!req.inspect);
        let again = serde_json::to_string(&req).expect("encodes");
        assert_eq!(again, old, "inspect: false is left out of the frame");
        let mut on = req;
        on.inspect = true;
        let text = serde_json::to_string(&on).expect("encodes");
        assert!(text.contains(r#""inspect":true"#), "{text}");
    }
}
