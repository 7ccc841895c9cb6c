//! The edge's events, one JSON line each: `http_request_complete.v0` per finished request
//! (timing, status, bytes, endpoint, client, the `log` action's metadata of the HTTP phases)
//! and `tcp_connection_closed.v0` per closed connection (bytes in/out, duration, requests, TLS
//! facts, the `on_tcp_connect` logs), with [`login`]'s `oauth` part when a login action ran.
//! The types here are the whole format: field names and their order are what consumers read.
//! [`crate::event_sink::EventSink`] writes them out.

pub mod login;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use serde::Serialize;
use sluice_policy::{FiredRule, LogEntry, TlsInfo};

use crate::conn::{ConnRecord, EndpointConn};

/// One event, as queued for the writer (boxed: the queue holds thousands of them).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Event {
    /// A finished HTTP request.
    HttpRequestComplete(Box<Envelope<HttpRequestComplete>>),
    /// A closed client connection.
    TcpConnectionClosed(Box<Envelope<TcpConnectionClosed>>),
}

impl Event {
    /// `http_request_complete.v0`, stamped now.
    pub fn http_request_complete(object: HttpRequestComplete) -> Event {
        Event::HttpRequestComplete(Box::new(Envelope::now("http_request_complete.v0", object)))
    }

    /// `tcp_connection_closed.v0`, stamped now.
    pub fn tcp_connection_closed(object: TcpConnectionClosed) -> Event {
        Event::TcpConnectionClosed(Box::new(Envelope::now("tcp_connection_closed.v0", object)))
    }
}

/// What every event line carries around its object.
#[derive(Debug, Serialize)]
pub struct Envelope<T> {
    /// e.g. `http_request_complete.v0`.
    pub event_type: &'static str,
    /// When it happened, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The event itself.
    pub object: T,
}

impl<T> Envelope<T> {
    fn now(event_type: &'static str, object: T) -> Self {
        Envelope {
            event_type,
            timestamp_ms: now_ms(),
            object,
        }
    }
}

/// The object of `http_request_complete.v0`.
#[derive(Debug, Serialize)]
pub struct HttpRequestComplete {
    /// The endpoint the request was routed to (none: no endpoint matched).
    pub endpoint: Option<EndpointRef>,
    /// The client.
    pub conn: ClientRef,
    /// The request, its response and how long it took.
    pub http: HttpExchange,
    /// `ERR_SLUICE_NNNN` when the edge answered with one of its own errors.
    pub error_code: Option<String>,
    /// The HTTP phases' rules that fired and the `log` action's metadata.
    pub policy: PolicyTrace,
    /// What a login action (`oauth`, `openid-connect`) decided; absent when none ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth: Option<login::OAuthEvent>,
}

/// An endpoint, as events name it.
#[derive(Debug, Serialize)]
pub struct EndpointRef {
    /// Endpoint id.
    pub id: String,
    /// Endpoint URL.
    pub url: String,
}

/// The client of a request (unknown for requests not from a socket).
#[derive(Debug, Serialize)]
pub struct ClientRef {
    /// Client IP address.
    pub client_ip: Option<String>,
    /// Client port.
    pub client_port: Option<u16>,
}

impl ClientRef {
    /// The client at `addr`, if known.
    pub fn new(addr: Option<SocketAddr>) -> Self {
        ClientRef {
            client_ip: addr.map(|a| a.ip().to_string()),
            client_port: addr.map(|a| a.port()),
        }
    }
}

/// The HTTP part of `http_request_complete.v0`.
#[derive(Debug, Serialize)]
pub struct HttpExchange {
    /// The request line.
    pub request: RequestLine,
    /// What was answered.
    pub response: ResponseSummary,
    /// From the request's first byte to its end, in milliseconds.
    pub duration_ms: f64,
}

/// A request, as events show it.
#[derive(Debug, Serialize)]
pub struct RequestLine {
    /// Method.
    pub method: String,
    /// Host (the `Host` header or the URI's authority).
    pub host: String,
    /// Path and query.
    pub path: String,
}

/// A response, as events show it.
#[derive(Debug, Serialize)]
pub struct ResponseSummary {
    /// Status written to the client (none: nothing was written).
    pub status_code: Option<u16>,
    /// Body bytes written to the client.
    pub bytes_out: u64,
}

/// Which rules fired and what the `log` action recorded.
#[derive(Debug, Default, Serialize)]
pub struct PolicyTrace {
    /// Rules that matched and ran, in order.
    pub fired: Vec<Fired>,
    /// The `log` action's metadata, in order.
    pub logs: Vec<serde_json::Value>,
}

impl PolicyTrace {
    /// Adds a phase's fired rules and logs; `endpoint` names their endpoint in connection
    /// events, which can cover several.
    pub fn extend(&mut self, fired: &[FiredRule], logs: &[LogEntry], endpoint: Option<&str>) {
        self.fired.extend(fired.iter().map(|f| Fired {
            phase: f.phase.key(),
            index: f.index,
            name: f.name.clone(),
            endpoint: endpoint.map(str::to_string),
        }));
        self.logs.extend(logs.iter().map(|l| l.metadata.clone()));
    }
}

/// A rule that fired.
#[derive(Debug, Serialize)]
pub struct Fired {
    /// Phase key, e.g. `on_http_request`.
    pub phase: &'static str,
    /// Index of the rule in its phase.
    pub index: usize,
    /// The rule's name, if it has one.
    pub name: Option<String>,
    /// The endpoint whose policy it belongs to (connection events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// The object of `tcp_connection_closed.v0`.
#[derive(Debug, Serialize)]
pub struct TcpConnectionClosed {
    /// The connection.
    pub conn: ConnSummary,
    /// The endpoints whose `on_tcp_connect` ran on it.
    pub endpoints: Vec<ConnEndpoint>,
    /// `on_tcp_connect`'s fired rules and logs, per endpoint.
    pub policy: PolicyTrace,
}

impl TcpConnectionClosed {
    /// The event of `conn`, closing now; `endpoints` are its policy states by endpoint id.
    pub fn new(conn: &ConnRecord, endpoints: &HashMap<String, EndpointConn>) -> Self {
        let mut policy = PolicyTrace::default();
        let mut list = Vec::with_capacity(endpoints.len());
        for (id, ec) in endpoints {
            list.push(ConnEndpoint {
                id: id.clone(),
                url: ec.conn.endpoint.url.clone(),
                closed_by_policy: ec.closed,
            });
            policy.extend(&ec.conn.fired, &ec.conn.logs, Some(id));
        }
        TcpConnectionClosed {
            conn: ConnSummary {
                client_ip: conn.client.ip().to_string(),
                client_port: conn.client.port(),
                server_ip: conn.server.ip().to_string(),
                server_port: conn.server.port(),
                tls: conn
                    .terminated_tls
                    .get()
                    .or(conn.tls.as_ref())
                    .map(TlsSummary::from),
                bytes_in: conn.bytes_in.load(Ordering::Relaxed),
                bytes_out: conn.bytes_out.load(Ordering::Relaxed),
                duration_ms: conn.started.elapsed().as_secs_f64() * 1000.0,
                requests: conn.requests.load(Ordering::Relaxed),
                close_reason: conn.close_reason.get().cloned(),
            },
            endpoints: list,
            policy,
        }
    }
}

/// A finished connection, as events show it.
#[derive(Debug, Serialize)]
pub struct ConnSummary {
    /// Client IP address.
    pub client_ip: String,
    /// Client port.
    pub client_port: u16,
    /// Local IP address the client connected to.
    pub server_ip: String,
    /// Local port the client connected to.
    pub server_port: u16,
    /// TLS facts (none: not TLS, or TLS passed through unseen).
    pub tls: Option<TlsSummary>,
    /// Bytes read from the client.
    pub bytes_in: u64,
    /// Bytes written to the client.
    pub bytes_out: u64,
    /// From accept to close, in milliseconds.
    pub duration_ms: f64,
    /// Requests started on it.
    pub requests: u64,
    /// Why the edge closed it, when it was not the client or the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
}

/// The TLS facts of a connection.
#[derive(Debug, Serialize)]
pub struct TlsSummary {
    /// Server name the client asked for.
    pub sni: Option<String>,
    /// e.g. `TLSv1.3`.
    pub version: Option<String>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<String>,
    /// Negotiated ALPN protocol.
    pub alpn: Option<String>,
}

impl From<&TlsInfo> for TlsSummary {
    fn from(t: &TlsInfo) -> Self {
        TlsSummary {
            sni: t.sni.clone(),
            version: t.version.clone(),
            cipher_suite: t.cipher_suite.clone(),
            alpn: t.alpn.clone(),
        }
    }
}

/// An endpoint of a connection and what its `on_tcp_connect` decided.
#[derive(Debug, Serialize)]
pub struct ConnEndpoint {
    /// Endpoint id.
    pub id: String,
    /// Endpoint URL.
    pub url: String,
    /// `on_tcp_connect` closed the connection.
    pub closed_by_policy: bool,
}

/// Milliseconds since the Unix epoch: an event's `timestamp_ms`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
