//! Error types of the tunnel protocol.

use std::io;

use crate::proto::{AuthError, BindError};

/// Code of an authentication refused, without looking at the token, because the agent's
/// address presented wrong tokens too often; retrying later can succeed.
pub const AUTH_THROTTLED: &str = "ERR_SLUICE_AUTH_THROTTLED";

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// This side closed the session (dropped it or called `close`).
    Local,
    /// The peer closed the connection or the control stream.
    PeerClosed,
    /// The peer said goodbye with a code and a message.
    GoAway {
        /// Machine-readable code, e.g. `ERR_SLUICE_SESSION_REPLACED`.
        code: String,
        /// Human-readable explanation.
        message: String,
    },
    /// No heartbeat (or acknowledgement) arrived within the tolerance.
    HeartbeatTimeout,
    /// The server is shutting down.
    ServerShutdown,
    /// A transport or protocol error ended the session.
    Error(String),
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => f.write_str("closed locally"),
            Self::PeerClosed => f.write_str("closed by peer"),
            Self::GoAway { code, message } => write!(f, "closed by peer: {code}: {message}"),
            Self::HeartbeatTimeout => f.write_str("heartbeat timeout"),
            Self::ServerShutdown => f.write_str("server shutdown"),
            Self::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// Everything that can go wrong in the tunnel library.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// Socket-level failure.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// TLS configuration failure (bad certificate, key or server name).
    #[error("tls: {0}")]
    Tls(String),
    /// The stream multiplexer failed.
    #[error("mux: {0}")]
    Mux(String),
    /// The peer sent something the protocol does not allow.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A control message could not be encoded or decoded.
    #[error("bad message: {0}")]
    Json(#[from] serde_json::Error),
    /// The peer speaks a protocol version this side does not.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    /// The server refused the authtoken.
    #[error("authentication refused: {} ({})", .0.message, .0.code)]
    AuthRejected(AuthError),
    /// The server refused a bind; the message may span several lines.
    #[error("bind refused ({}):\n{}", .0.code, .0.message)]
    BindRefused(BindError),
    /// The proxy to the edge failed: `fatal` when it refused (credentials, policy, a bad
    /// proxy URL), which retrying cannot fix; not when it was unreachable.
    #[error("{message}")]
    Proxy {
        /// What happened, naming the proxy (never its credentials).
        message: String,
        /// Whether retrying with the same settings cannot help.
        fatal: bool,
    },
    /// An operation did not complete in time.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The session is closed.
    #[error("session closed: {0}")]
    Closed(CloseReason),
}

impl TunnelError {
    /// The bind refusal, when this error is one.
    pub fn as_bind_refusal(&self) -> Option<&BindError> {
        match self {
            Self::BindRefused(e) => Some(e),
            _ => None,
        }
    }

    /// Whether retrying with the same settings cannot help (bad token, unsupported version);
    /// a refusal for too many failures from the agent's address ([`AUTH_THROTTLED`]) can pass.
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::AuthRejected(e) => e.code != AUTH_THROTTLED,
            Self::UnsupportedVersion(_) | Self::Tls(_) => true,
            Self::Proxy { fatal, .. } => *fatal,
            _ => false,
        }
    }
}

impl From<yamux::ConnectionError> for TunnelError {
    fn from(e: yamux::ConnectionError) -> Self {
        Self::Mux(e.to_string())
    }
}

/// Shorthand result type.
pub type Result<T, E = TunnelError> = std::result::Result<T, E>;
