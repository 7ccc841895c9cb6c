//! Phases of a policy and endpoint protocols.

use std::fmt;

/// When a rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Once per connection, before any protocol handling.
    TcpConnect,
    /// Once per HTTP request.
    HttpRequest,
    /// Once per HTTP response.
    HttpResponse,
}

impl Phase {
    /// All phases in run order.
    pub const ALL: [Phase; 3] = [Phase::TcpConnect, Phase::HttpRequest, Phase::HttpResponse];

    /// The document key.
    pub fn key(self) -> &'static str {
        match self {
            Phase::TcpConnect => "on_tcp_connect",
            Phase::HttpRequest => "on_http_request",
            Phase::HttpResponse => "on_http_response",
        }
    }

    /// Reads a document key, accepting the legacy names `inbound` / `outbound`.
    /// The boolean says whether the legacy name was used.
    pub fn from_key(key: &str) -> Option<(Phase, bool)> {
        Some(match key {
            "on_tcp_connect" => (Phase::TcpConnect, false),
            "on_http_request" => (Phase::HttpRequest, false),
            "on_http_response" => (Phase::HttpResponse, false),
            "inbound" => (Phase::HttpRequest, true),
            "outbound" => (Phase::HttpResponse, true),
            _ => return None,
        })
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

/// The protocol of the endpoint a policy is attached to; it decides which phases may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS terminated at the edge.
    Https,
    /// Raw TCP.
    Tcp,
    /// TLS passed through by SNI.
    Tls,
}

impl Protocol {
    /// The URL scheme / `endpoint.protocol` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
        }
    }

    /// Parses a scheme.
    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s {
            "http" => Protocol::Http,
            "https" => Protocol::Https,
            "tcp" => Protocol::Tcp,
            "tls" => Protocol::Tls,
            _ => return None,
        })
    }

    /// Whether policies for this protocol may have `phase`.
    pub fn allows(self, phase: Phase) -> bool {
        match self {
            Protocol::Http | Protocol::Https => true,
            Protocol::Tcp | Protocol::Tls => phase == Phase::TcpConnect,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
