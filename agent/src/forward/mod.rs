//! Local forwarders: serve one tunnelled public connection to the endpoint's upstream.
//!
//! [`Forwarder::serve`] is what the tunnel integration calls for each accepted stream: HTTP
//! endpoints get an HTTP/1.1 server ([`HttpForwarder`]) that forwards to http/https/h2c or the
//! built-in file server and records exchanges for the inspector; TCP and TLS endpoints splice
//! bytes ([`forward_tcp`]), with a PROXY protocol header first when configured, after ending
//! the client's TLS at the agent when so configured ([`AgentTls`]).

mod capture;
mod connector;
pub mod file;
mod headers;
pub mod http;
mod location;
pub mod tcp;
pub mod terminate;
pub mod tls;

#[cfg(test)]
pub(crate) mod tests;

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) use self::headers::headers_of;
pub use self::http::{
    ERR_UPSTREAM_UNREACHABLE, ERROR_CODE_HEADER, HostHeader, HttpForwarder, HttpOptions,
    KeepTrailerHeader, REPLAY_HEADER,
};
pub use self::tcp::{Transferred, forward_tcp, forward_tcp_with};
pub use self::terminate::{AgentTls, AgentTlsPem};
use crate::inspect::Inspector;
use crate::inspect::live::ConnectionRecord;
use crate::metrics::EndpointMetrics;
use crate::upstream::{EndpointKind, Scheme, Upstream};

/// A boxed error, as bodies carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type of forwarded requests and responses.
pub type HttpBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// Why forwarding failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The upstream refused or could not be reached.
    #[error("failed to reach the upstream at {upstream}: {source}")]
    Unreachable {
        /// The upstream, as a URL.
        upstream: String,
        /// The cause.
        source: std::io::Error,
    },
    /// This forwarder cannot serve that upstream.
    #[error("cannot forward to `{0}` here")]
    NotSupported(String),
    /// An I/O error while splicing.
    #[error("i/o error: {0}")]
    Io(std::io::Error),
    /// An HTTP protocol error on the public connection.
    #[error("http error: {0}")]
    Http(String),
    /// The public client's TLS handshake with the agent failed.
    #[error("TLS handshake with the client: {0}")]
    Handshake(std::io::Error),
}

/// Serves the connections of one endpoint. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Forwarder {
    /// HTTP endpoints.
    Http(HttpForwarder),
    /// TCP and TLS endpoints: splice bytes.
    Stream(StreamForwarder),
}

/// Serves the connections of a TCP or TLS endpoint: bytes spliced to the upstream.
#[derive(Debug, Clone)]
pub struct StreamForwarder {
    upstream: Upstream,
    kind: EndpointKind,
    /// Agent-side termination (TLS endpoints).
    terminate: Option<AgentTls>,
    /// The endpoint's name, for connection records.
    endpoint: String,
    /// Where each finished connection is recorded, when inspecting.
    inspector: Option<Inspector>,
    /// Counts its connections.
    metrics: EndpointMetrics,
}

impl Forwarder {
    /// Builds the forwarder for an endpoint of `kind` named `endpoint`.
    pub fn new(
        endpoint: &str,
        kind: EndpointKind,
        upstream: Upstream,
        options: HttpOptions,
        inspector: Option<Inspector>,
    ) -> Result<Self, ForwardError> {
        match kind {
            EndpointKind::Http => Ok(Forwarder::Http(HttpForwarder::new(
                endpoint, upstream, options, inspector,
            )?)),
            EndpointKind::Tcp | EndpointKind::Tls if !upstream.is_http() => {
                Ok(Forwarder::Stream(StreamForwarder {
                    upstream,
                    kind,
                    terminate: None,
                    endpoint: endpoint.to_string(),
                    inspector,
                    metrics: EndpointMetrics::new(),
                }))
            }
            _ => Err(ForwardError::NotSupported(upstream.to_string())),
        }
    }

    /// Ends the public client's TLS at the agent with `tls` (TLS endpoints only).
    pub fn with_agent_tls(self, tls: AgentTls) -> Result<Self, ForwardError> {
        match self {
            Forwarder::Stream(s) if s.kind == EndpointKind::Tls => {
                Ok(Forwarder::Stream(StreamForwarder {
                    terminate: Some(tls),
                    ..s
                }))
            }
            _ => Err(ForwardError::NotSupported(
                "agent TLS termination on an endpoint that is not tls://".into(),
            )),
        }
    }

    /// The endpoint's traffic metrics, counted by every connection this forwarder serves.
    pub fn metrics(&self) -> &EndpointMetrics {
        match self {
            Forwarder::Http(h) => h.metrics(),
            Forwarder::Stream(s) => &s.metrics,
        }
    }

    /// Serves one accepted public connection until it closes, as sent by an edge that did
    /// not terminate its TLS.
    pub async fn serve<S>(&self, stream: S, client_addr: SocketAddr) -> Result<(), ForwardError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_tunnelled(stream, client_addr, false).await
    }

    /// Serves one accepted public connection until it closes; `edge_terminated` when the
    /// stream header says the edge ended the client's TLS (the stream is plaintext).
    pub async fn serve_tunnelled<S>(
        &self,
        stream: S,
        client_addr: SocketAddr,
        edge_terminated: bool,
    ) -> Result<(), ForwardError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let _open = self.metrics().open_connection();
        match self {
            Forwarder::Http(h) => h.serve_connection(stream, client_addr).await,
            Forwarder::Stream(s) => s.serve(stream, client_addr, edge_terminated).await,
        }
    }
}

impl StreamForwarder {
    /// Splices one connection and records it (start, duration, bytes, close reason) when
    /// inspecting.
    async fn serve<S>(
        &self,
        stream: S,
        client_addr: SocketAddr,
        edge_terminated: bool,
    ) -> Result<(), ForwardError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(inspector) = &self.inspector else {
            return self
                .splice(stream, client_addr, edge_terminated)
                .await
                .map(|_| ());
        };
        let start = chrono::Utc::now();
        let started = std::time::Instant::now();
        let result = self.splice(stream, client_addr, edge_terminated).await;
        let (moved, close_reason) = match &result {
            Ok(t) => (*t, "closed".to_string()),
            Err(e) => (Transferred::default(), e.to_string()),
        };
        inspector.live().record_connection(ConnectionRecord {
            id: inspector.next_id(),
            tunnel_name: self.endpoint.clone(),
            proto: match self.kind {
                EndpointKind::Tls => "tls",
                _ => "tcp",
            }
            .to_string(),
            remote_addr: client_addr,
            start,
            duration: started.elapsed(),
            bytes_in: moved.to_upstream,
            bytes_out: moved.to_client,
            close_reason,
        });
        result.map(|_| ())
    }

    async fn splice<S>(
        &self,
        stream: S,
        client_addr: SocketAddr,
        edge_terminated: bool,
    ) -> Result<Transferred, ForwardError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let tls_upstream = self.upstream.scheme == Scheme::Tls;
        match &self.terminate {
            Some(_) if edge_terminated => Err(ForwardError::NotSupported(
                "the edge already terminated TLS (terminate-tls) on an endpoint that terminates \
                 at the agent"
                    .into(),
            )),
            Some(t) => {
                let tls = t.accept(stream).await.map_err(ForwardError::Handshake)?;
                forward_tcp_with(tls, client_addr, &self.upstream, tls_upstream).await
            }
            None => {
                // A TLS endpoint's stream still holds the client's own TLS unless the edge
                // ended it: the upstream terminates that itself, the agent adds no layer.
                let passthrough = self.kind == EndpointKind::Tls && !edge_terminated;
                forward_tcp_with(
                    stream,
                    client_addr,
                    &self.upstream,
                    tls_upstream && !passthrough,
                )
                .await
            }
        }
    }
}
