//! Local forwarders: serve one tunnelled public connection to the endpoint's upstream.
//!
//! [`Forwarder::serve`] is what the tunnel integration calls for each accepted stream: HTTP
//! endpoints get an HTTP/1.1 server ([`HttpForwarder`]) that forwards to http/https/h2c or the
//! built-in file server and records exchanges for the inspector; TCP and TLS endpoints splice
//! bytes ([`forward_tcp`]), with a PROXY protocol header first when configured.

mod capture;
mod connector;
pub mod file;
mod headers;
pub mod http;
mod location;
pub mod tcp;
pub mod tls;

#[cfg(test)]
pub(crate) mod tests;

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

pub use self::http::{
    ERR_UPSTREAM_UNREACHABLE, ERROR_CODE_HEADER, HostHeader, HttpForwarder, HttpOptions,
};
pub use self::tcp::{Transferred, forward_tcp};
use crate::inspect::Inspector;
use crate::upstream::{EndpointKind, Upstream};

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
}

/// Serves the connections of one endpoint. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Forwarder {
    /// HTTP endpoints.
    Http(HttpForwarder),
    /// TCP and TLS endpoints: splice bytes.
    Stream(Upstream),
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
                Ok(Forwarder::Stream(upstream))
            }
            _ => Err(ForwardError::NotSupported(upstream.to_string())),
        }
    }

    /// Serves one accepted public connection until it closes.
    pub async fn serve<S>(&self, stream: S, client_addr: SocketAddr) -> Result<(), ForwardError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        match self {
            Forwarder::Http(h) => h.serve_connection(stream, client_addr).await,
            Forwarder::Stream(up) => forward_tcp(stream, client_addr, up).await.map(|_| ()),
        }
    }
}
