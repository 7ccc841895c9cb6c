//! The Pingora L4 connector that opens a stream on an agent session in place of a TCP
//! connect, and the stream header sent first on every stream.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::l4::virt::{VirtualSockOpt, VirtualSocket, VirtualSocketStream};
use pingora::{Error, ErrorType};
use sluice_tunnel::{AgentSession, StreamHeader, TunnelStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::Endpoint;

/// Time allowed to open a stream on an agent session.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a proxy stream on an agent session in place of a TCP connect.
#[derive(Debug)]
pub struct TunnelConnect {
    /// The agent.
    pub session: AgentSession,
    /// The header sent first on each stream.
    pub header: StreamHeader,
}

#[async_trait]
impl pingora::connectors::L4Connect for TunnelConnect {
    async fn connect(
        &self,
        _addr: &pingora::protocols::l4::socket::SocketAddr,
    ) -> pingora::Result<L4Stream> {
        let open = tokio::time::timeout(OPEN_TIMEOUT, self.session.open_stream(&self.header));
        match open.await {
            Ok(Ok(s)) => Ok(L4Stream::from(VirtualSocketStream::new(Box::new(
                TunnelSock(s),
            )))),
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

/// A tunnel stream as a Pingora virtual socket.
struct TunnelSock(TunnelStream);

impl std::fmt::Debug for TunnelSock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunnelSock")
    }
}

impl AsyncRead for TunnelSock {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TunnelSock {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl VirtualSocket for TunnelSock {
    fn set_socket_option(&self, _opt: VirtualSockOpt) -> std::io::Result<()> {
        Ok(())
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
