//! Phases of a policy, and which of them an endpoint's protocol has.

use std::fmt;

pub use sluice_wire::Protocol;

/// When a rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Once per connection, before any protocol handling.
    TcpConnect,
    /// Once per HTTP request.
    HttpRequest,
    /// Once per HTTP response.
    HttpResponse,
    /// Once per Server-Sent Events message of a `text/event-stream` response.
    EventStreamMessage,
}

impl Phase {
    /// All phases in run order.
    pub const ALL: [Phase; 4] = [
        Phase::TcpConnect,
        Phase::HttpRequest,
        Phase::HttpResponse,
        Phase::EventStreamMessage,
    ];

    /// The document key.
    pub fn key(self) -> &'static str {
        match self {
            Phase::TcpConnect => "on_tcp_connect",
            Phase::HttpRequest => "on_http_request",
            Phase::HttpResponse => "on_http_response",
            Phase::EventStreamMessage => "on_event_stream_message",
        }
    }

    /// Reads a document key, accepting the legacy names `inbound` / `outbound`.
    /// The boolean says whether the legacy name was used.
    pub fn from_key(key: &str) -> Option<(Phase, bool)> {
        Some(match key {
            "on_tcp_connect" => (Phase::TcpConnect, false),
            "on_http_request" => (Phase::HttpRequest, false),
            "on_http_response" => (Phase::HttpResponse, false),
            "on_event_stream_message" => (Phase::EventStreamMessage, false),
            "inbound" => (Phase::HttpRequest, true),
            "outbound" => (Phase::HttpResponse, true),
            _ => return None,
        })
    }

    /// Whether endpoints of `protocol` run this phase (TCP and TLS endpoints have no HTTP).
    pub fn runs_on(self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Http | Protocol::Https => true,
            Protocol::Tcp | Protocol::Tls => self == Phase::TcpConnect,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}
