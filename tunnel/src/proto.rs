//! Wire types: control messages (JSON, length-prefixed) and data-stream headers.
//!
//! Every stream starts with a big-endian `u32` [`StreamType`]. The control stream (opened by
//! the agent, first) then carries [`ControlMessage`] frames; a proxy stream (opened by the
//! edge, one per public connection) carries one [`StreamHeader`] frame followed by raw bytes.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Version of this wire protocol; sent in [`Auth`] and echoed in [`AuthOk`].
pub const PROTOCOL_VERSION: u32 = 1;

/// ALPN protocol id the tunnel listener and the agent negotiate.
pub const ALPN: &[u8] = b"sluice-tunnel/1";

/// Kind of a multiplexed stream, written as a big-endian `u32` before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum StreamType {
    /// The agent's control stream: auth, bind, unbind, heartbeats.
    Control = 0,
    /// An edge-opened stream carrying one public connection.
    Proxy = 3,
}

impl StreamType {
    /// Decodes a stream type, `None` when unknown.
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Control),
            3 => Some(Self::Proxy),
            _ => None,
        }
    }
}

/// Public protocol of an endpoint (shared with the policy engine).
pub use sluice_wire::Protocol;

/// Agent → edge, first message on the control stream. Its `Debug` leaves the authtoken out,
/// so no log line can carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    /// [`PROTOCOL_VERSION`] of the agent.
    pub version: u32,
    /// Secret identifying the account.
    pub authtoken: String,
    /// Agent software version, for logs.
    pub agent_version: String,
    /// Stable id of this agent across reconnects; the edge uses it to resume and take over.
    pub client_id: String,
    /// How often the agent sends heartbeats, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// How long the edge waits for a heartbeat before closing the session, in milliseconds.
    pub heartbeat_tolerance_ms: u64,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("version", &self.version)
            .field("authtoken", &"<redacted>")
            .field("agent_version", &self.agent_version)
            .field("client_id", &self.client_id)
            .field("heartbeat_interval_ms", &self.heartbeat_interval_ms)
            .field("heartbeat_tolerance_ms", &self.heartbeat_tolerance_ms)
            .finish()
    }
}

/// Edge → agent: authentication succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthOk {
    /// [`PROTOCOL_VERSION`] of the edge.
    pub version: u32,
    /// Id of this session (new on every connection).
    pub session_id: String,
    /// The client id the edge recorded (the agent's own).
    pub client_id: String,
    /// Heartbeat tolerance the edge applies (after clamping), in milliseconds.
    pub heartbeat_tolerance_ms: u64,
    /// The account the authtoken belongs to, for the agent to show (empty from older edges).
    #[serde(default)]
    pub account: String,
}

/// Edge → agent: authentication failed; the edge closes the connection after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthError {
    /// Machine-readable code, e.g. `ERR_SLUICE_AUTH_FAILED`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// What an agent asks to bind (the request id is added on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindRequest {
    /// Public protocol.
    pub protocol: Protocol,
    /// Requested URL (`https://app.example.com`, `tcp://host:2222`); `None` lets the edge pick.
    #[serde(default)]
    pub url: Option<String>,
    /// Traffic Policy document text (YAML or JSON), validated by the edge.
    #[serde(default)]
    pub traffic_policy: Option<String>,
    /// Share the URL with other agents that bind it with pooling enabled.
    #[serde(default)]
    pub pooling_enabled: bool,
    /// Opaque user metadata.
    #[serde(default)]
    pub metadata: Option<String>,
    /// `public` or `internal` (at most one; empty: implied by the URL, see
    /// [`binding::resolve`](crate::binding::resolve)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<String>,
    /// The agent records this endpoint's traffic (ngrok's `inspect`): the edge then traces
    /// its policy for each request and reports it (see [`crate::trace`]). Left out of the
    /// frame when false, so older peers read the same bind.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inspect: bool,
    /// ngrok's `--subdomain`: with no `url` host, the edge names the endpoint
    /// `SUBDOMAIN.<its first base domain>`. Left out of the frame when unset, so older peers
    /// read the same request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
}

impl BindRequest {
    /// A request for `protocol` with everything else defaulted.
    pub fn new(protocol: Protocol) -> Self {
        Self {
            protocol,
            url: None,
            traffic_policy: None,
            pooling_enabled: false,
            metadata: None,
            bindings: Vec::new(),
            inspect: false,
            subdomain: None,
        }
    }

    /// Sets the requested URL.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Asks for `NAME.<the edge's base domain>` (ngrok's `--subdomain`).
    pub fn with_subdomain(mut self, name: impl Into<String>) -> Self {
        self.subdomain = Some(name.into());
        self
    }

    /// Sets the binding (`public` or `internal`).
    pub fn with_binding(mut self, binding: impl Into<String>) -> Self {
        self.bindings = vec![binding.into()];
        self
    }

    /// Sets the Traffic Policy text.
    pub fn with_traffic_policy(mut self, policy: impl Into<String>) -> Self {
        self.traffic_policy = Some(policy.into());
        self
    }
}

/// Agent → edge: bind an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// Chosen by the agent; echoed in the answer.
    pub request_id: u64,
    /// What to bind.
    #[serde(flatten)]
    pub request: BindRequest,
}

/// Edge → agent: the endpoint is bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindOk {
    /// The request this answers.
    pub request_id: u64,
    /// The assigned public URL.
    pub url: String,
}

/// Edge → agent: the bind was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindError {
    /// The request this answers.
    pub request_id: u64,
    /// Machine-readable code, e.g. `ERR_SLUICE_POLICY_INVALID`.
    pub code: String,
    /// Human-readable explanation; may span several lines (policy `line:col` errors).
    pub message: String,
}

/// A message on the control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlMessage {
    /// See [`Auth`].
    Auth(Auth),
    /// See [`AuthOk`].
    AuthOk(AuthOk),
    /// See [`AuthError`].
    AuthError(AuthError),
    /// See [`Bind`].
    Bind(Bind),
    /// See [`BindOk`].
    BindOk(BindOk),
    /// See [`BindError`].
    BindError(BindError),
    /// Agent → edge: release a URL.
    Unbind {
        /// The URL to release.
        url: String,
    },
    /// Agent → edge liveness probe.
    Heartbeat,
    /// Edge → agent answer to [`ControlMessage::Heartbeat`].
    HeartbeatAck,
    /// Edge → agent: the policy trace of one request on an endpoint bound with `inspect`
    /// (see [`crate::trace`]); never sent to an agent that did not ask. Boxed: it is much
    /// larger than the other messages.
    Trace(Box<crate::trace::TraceReport>),
    /// Either side: the session is about to close, and why.
    GoAway {
        /// Machine-readable code.
        code: String,
        /// Human-readable explanation.
        message: String,
    },
}

/// First frame of an edge-opened proxy stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamHeader {
    /// The bound URL the public connection arrived on.
    pub endpoint_url: String,
    /// The public client's address.
    pub client_addr: SocketAddr,
    /// The endpoint's protocol.
    pub protocol: Protocol,
    /// The edge terminated the client's TLS (`terminate-tls` on a TLS endpoint): the stream
    /// carries plaintext, not the client's TLS records. Left out of the frame when false, so
    /// older peers read the same header.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_terminated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bind with no subdomain is the frame older peers send and read; one with a subdomain
    /// carries it, and an old frame decodes with none.
    #[test]
    fn subdomain_is_optional_on_the_wire() -> Result<(), serde_json::Error> {
        let plain = serde_json::to_value(BindRequest::new(Protocol::Http))?;
        assert!(plain.get("subdomain").is_none(), "{plain}");
        let named = BindRequest::new(Protocol::Https).with_subdomain("app");
        let text = serde_json::to_string(&named)?;
        assert!(text.contains(r#""subdomain":"app""#), "{text}");
        assert_eq!(serde_json::from_str::<BindRequest>(&text)?, named);
        let old: BindRequest = serde_json::from_str(r#"{"protocol":"http","url":null}"#)?;
        assert_eq!(old.subdomain, None);
        Ok(())
    }
}
