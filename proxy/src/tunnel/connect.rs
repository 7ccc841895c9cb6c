//! The Pingora L4 connector that opens a stream on an agent session in place of a TCP
//! connect (or takes one kept from the same client connection's previous request, see
//! [`super::lease`]), and the stream header sent first on every stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::{Error, ErrorType};
use sluice_tunnel::{AgentSession, StreamHeader, TunnelStream};

use super::lease::{StreamHome, StreamLease};
use crate::config::Endpoint;

/// Time allowed to open a stream on an agent session.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a proxy stream on an agent session in place of a TCP connect, or takes the one the
/// same client connection's previous request left kept.
#[derive(Debug)]
pub struct TunnelConnect {
    /// The request's stream, from its opening to where it goes when the request ends.
    pub lease: Arc<StreamLease<AgentHome>>,
}

#[async_trait]
impl pingora::connectors::L4Connect for TunnelConnect {
    async fn connect(
        &self,
        _addr: &pingora::protocols::l4::socket::SocketAddr,
    ) -> pingora::Result<L4Stream> {
        let home = self.lease.home();
        let stream = home.session.stream_for(&home.header, home.conn);
        match tokio::time::timeout(OPEN_TIMEOUT, stream).await {
            Ok(Ok((stream, reused))) => Ok(self.lease.socket(stream, reused)),
            Ok(Err(e)) => Error::e_explain(
                ErrorType::ConnectError,
                format!("cannot open a stream to the agent: {e}"),
            ),
            Err(_) => Error::e_explain(
                ErrorType::ConnectTimedout,
                "opening a stream to the agent timed out",
            ),
        }
    }
}

/// Where a request's stream to an agent is kept: its session, under the stream header and
/// the edge's id of the client connection.
#[derive(Debug)]
pub struct AgentHome {
    /// The agent.
    pub session: AgentSession,
    /// The header sent first on each stream.
    pub header: StreamHeader,
    /// The edge's id of the client connection (see [`crate::conn::ConnRecord::id`]); 0 for
    /// none, and then the stream is never kept (nothing would close it with the connection).
    pub conn: u64,
}

impl StreamHome for AgentHome {
    type Stream = TunnelStream;

    fn keep(&self, stream: TunnelStream) -> bool {
        if self.conn == 0 {
            return false;
        }
        self.session
            .keep_stream(self.header.clone(), self.conn, stream);
        true
    }

    fn discard(&self) {
        self.session.discard_kept(&self.header, self.conn);
    }

    fn same(&self, other: &Self) -> bool {
        self.session.id() == other.session.id()
            && self.conn == other.conn
            && self.header == other.header
    }
}

/// The stream header for a request from `client` to `ep`.
pub fn header(ep: &Endpoint, client: Option<SocketAddr>) -> StreamHeader {
    StreamHeader {
        endpoint_url: ep.info.url.clone(),
        client_addr: client.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        protocol: ep.info.protocol,
        tls_terminated: false,
    }
}
