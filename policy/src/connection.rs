//! A connection: its facts (addresses, TLS, endpoint, clock) and its policy state: what `on_tcp_connect` left (fired rules, results, vars, the
//! TLS termination it asked for) and the `conn.*` / `endpoint.*` values every request on the
//! connection reads, built once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use cel::Value;

use crate::exchange::{FiredRule, LogEntry, RuntimeIssue};
use crate::internal::InternalRouting;
use crate::phase::Protocol;

/// TLS facts about a connection.
#[derive(Debug, Clone, Default)]
pub struct TlsInfo {
    /// Server name the client asked for.
    pub sni: Option<String>,
    /// As the listener names it (`TLSv1_3` from rustls); `conn.tls.version` spells it `1.3`.
    pub version: Option<String>,
    /// Negotiated cipher suite name.
    pub cipher_suite: Option<String>,
    /// Negotiated ALPN protocol.
    pub alpn: Option<String>,
    /// The client's certificate, when it sent one (mutual TLS): `conn.tls.client.*`.
    pub client: Option<Arc<crate::peer_cert::PeerCertificate>>,
}

/// Facts about a client connection, as the listener saw them.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// Client address (layer 4; never from headers).
    pub client: SocketAddr,
    /// Local address the client connected to.
    pub server: SocketAddr,
    /// TLS facts, when the connection is TLS.
    pub tls: Option<TlsInfo>,
    /// When the connection was accepted.
    pub started: SystemTime,
}

/// The endpoint the traffic is for.
#[derive(Debug, Clone)]
pub struct EndpointInfo {
    /// Stable id.
    pub id: String,
    /// Public URL, e.g. `https://app.example.com`.
    pub url: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// The source of time for policies; tests use a virtual one.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// Real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A connection's policy state: built once per connection, shared by its requests.
pub struct Connection {
    /// Facts about the connection.
    pub info: ConnInfo,
    /// The endpoint.
    pub endpoint: Arc<EndpointInfo>,
    /// Output of `log` actions in `on_tcp_connect`.
    pub logs: Vec<LogEntry>,
    /// Rules fired in `on_tcp_connect`.
    pub fired: Vec<FiredRule>,
    /// `actions.ngrok.*` set in `on_tcp_connect`.
    pub results: BTreeMap<String, Value>,
    /// `vars.*` at the end of `on_tcp_connect`.
    pub vars: BTreeMap<String, Value>,
    /// Runtime problems.
    pub issues: Vec<RuntimeIssue>,
    /// Set when the evaluation budget stopped `on_tcp_connect` (the connection is closed).
    pub aborted: Option<crate::abort::PolicyAbort>,
    /// Set by `terminate-tls`: the listener terminates the client's TLS with these options.
    pub tls_termination: Option<Arc<crate::TlsTermination>>,
    /// The listener's handshake, set by the host when `terminate-tls` can end the client's
    /// TLS while `on_tcp_connect` runs (so later rules see `conn.tls.*`); taken by the first
    /// `terminate-tls` that runs. `None` in the harness: the options are only recorded.
    pub handshake: Option<Arc<dyn crate::TlsHandshake>>,
    /// The listener's handshake ran during `on_tcp_connect` (through [`Connection::handshake`]).
    pub tls_handshaken: bool,
    /// The trace of `on_tcp_connect`: recorded only when the host sets it to `Some` before
    /// running the phase; `None` costs nothing.
    pub trace: Option<Box<crate::trace::PolicyTrace>>,
    /// The internal endpoints `forward-internal` may hand this connection to (TCP and TLS
    /// endpoints), set by the host; `None` when there are none.
    pub internal: Option<InternalRouting>,
    /// The internal endpoint `forward-internal` handed the connection to in `on_tcp_connect`,
    /// as [`crate::internal::internal_url`] spells it.
    pub forward_to: Option<String>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) conn_value: Arc<dyn cel::common::value::Val>,
    pub(crate) endpoint_value: Arc<dyn cel::common::value::Val>,
}

impl Connection {
    /// Prepares a connection's state (its `conn.*` and `endpoint.*` values are built here, once).
    pub fn new(info: ConnInfo, endpoint: Arc<EndpointInfo>, clock: Arc<dyn Clock>) -> Self {
        let conn_value = crate::values::conn_value(&info);
        let endpoint_value = crate::values::endpoint_value(&endpoint);
        Connection {
            info,
            endpoint,
            logs: Vec::new(),
            fired: Vec::new(),
            results: BTreeMap::new(),
            vars: BTreeMap::new(),
            issues: Vec::new(),
            aborted: None,
            tls_termination: None,
            handshake: None,
            tls_handshaken: false,
            trace: None,
            internal: None,
            forward_to: None,
            clock,
            conn_value,
            endpoint_value,
        }
    }

    /// Current time from the connection's clock.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// The connection's clock, for work the policy starts on its behalf (`http-request` to an
    /// internal endpoint runs that endpoint's policy on the same clock).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Replaces the TLS facts (after the listener's handshake), rebuilding `conn.*`.
    pub fn set_tls(&mut self, tls: TlsInfo) {
        self.info.tls = Some(tls);
        self.conn_value = crate::values::conn_value(&self.info);
    }
}
