//! The inter-edge channel. The edge a client reached (B) runs the endpoint's policy, then
//! dials the edge that holds the agent (A) over mutual TLS and sends one line naming the
//! endpoint and the client; A answers `+` and from then on copies bytes between the
//! connection and a stream it opens on the agent's session (`-` and close when it no longer
//! holds the name). A runs no policy and reads no HTTP: the request is the one B's policy let
//! through, as B sends it.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::l4::virt::{VirtualSockOpt, VirtualSocket, VirtualSocketStream};
use pingora::{Error, ErrorType};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::config::{Scheme, Target};
use crate::state::Shared;

/// Time allowed to connect to a peer edge, handshake and hear its answer.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest first line accepted from a peer.
const MAX_LINE: u64 = 4096;

/// The first line on an inter-edge connection.
#[derive(Debug, Serialize, Deserialize)]
struct Hello {
    /// `http` or `https`: the listener the client reached.
    scheme: String,
    /// The endpoint's name.
    host: String,
    /// The client's address.
    client: SocketAddr,
}

/// Dials a peer edge in place of a TCP connect (Pingora's L4 connector).
#[derive(Debug)]
pub struct PeerConnect {
    /// The peer edge (its address, and where a failure is recorded).
    pub route: Arc<super::PeerRoute>,
    /// This edge's client TLS settings.
    pub tls: Arc<rustls::ClientConfig>,
    /// The listener the client reached.
    pub scheme: Scheme,
    /// The endpoint's name.
    pub host: String,
    /// The client's address.
    pub client: SocketAddr,
}

impl PeerConnect {
    async fn dial(&self) -> Result<PeerSock, String> {
        let addr = self.route.addr;
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot reach the edge at {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(super::tls::peer_name(), tcp)
            .await
            .map_err(|e| format!("TLS with the edge at {addr}: {e}"))?;
        let mut sock = BufReader::new(tls);
        let hello = Hello {
            scheme: scheme_str(self.scheme).into(),
            host: self.host.clone(),
            client: self.client,
        };
        let mut line = serde_json::to_vec(&hello).map_err(|e| e.to_string())?;
        line.push(b'\n');
        sock.write_all(&line).await.map_err(|e| e.to_string())?;
        sock.flush().await.map_err(|e| e.to_string())?;
        match sock.read_u8().await {
            Ok(b'+') => Ok(PeerSock(Box::new(sock))),
            Ok(_) => Err(format!("the edge at {addr} no longer serves {}", self.host)),
            Err(e) => Err(format!("the edge at {addr} closed: {e}")),
        }
    }
}

#[async_trait]
impl pingora::connectors::L4Connect for PeerConnect {
    async fn connect(
        &self,
        _addr: &pingora::protocols::l4::socket::SocketAddr,
    ) -> pingora::Result<L4Stream> {
        let route = &self.route;
        let dialed = tokio::time::timeout(DIAL_TIMEOUT, self.dial()).await;
        if matches!(dialed, Ok(Ok(_))) {
            route.down.clear(&route.edge, &route.host);
        } else {
            route.down.mark(&route.edge, &route.host);
        }
        match dialed {
            Ok(Ok(s)) => Ok(L4Stream::from(VirtualSocketStream::new(Box::new(s)))),
            Ok(Err(e)) => Error::e_explain(ErrorType::ConnectError, e),
            Err(_) => Error::e_explain(
                ErrorType::ConnectTimedout,
                format!("dialing the edge at {} timed out", route.addr),
            ),
        }
    }
}

fn scheme_str(s: Scheme) -> &'static str {
    match s {
        Scheme::Http => "http",
        Scheme::Https => "https",
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// An inter-edge connection as a Pingora virtual socket.
struct PeerSock(Box<dyn Io>);

impl std::fmt::Debug for PeerSock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerSock")
    }
}

impl AsyncRead for PeerSock {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerSock {
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

impl VirtualSocket for PeerSock {
    fn set_socket_option(&self, _opt: VirtualSockOpt) -> std::io::Result<()> {
        Ok(())
    }
}

/// Accepts inter-edge connections on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, shared: Arc<Shared>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, from)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(async move {
            if let Err(e) = handle(acceptor, tcp, &shared).await {
                tracing::debug!(%from, "inter-edge connection: {e}");
            }
        });
    }
}

async fn handle(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
    shared: &Shared,
) -> Result<(), String> {
    let _ = tcp.set_nodelay(true);
    let tls = tokio::time::timeout(DIAL_TIMEOUT, acceptor.accept(tcp))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| format!("handshake: {e}"))?;
    let mut sock = BufReader::new(tls);
    let mut line = Vec::new();
    let mut limited = (&mut sock).take(MAX_LINE);
    tokio::time::timeout(DIAL_TIMEOUT, limited.read_until(b'\n', &mut line))
        .await
        .map_err(|_| "no first line".to_string())?
        .map_err(|e| e.to_string())?;
    let hello: Hello = serde_json::from_slice(&line).map_err(|e| format!("first line: {e}"))?;
    let scheme = match hello.scheme.as_str() {
        "https" => Scheme::Https,
        _ => Scheme::Http,
    };
    let stream = match shared.tunnels.lookup(scheme, &hello.host) {
        Some(ep) => match &ep.upstream.target {
            Target::Tunnel(session) => {
                let header = crate::tunnel::header(&ep, Some(hello.client));
                let open = session.open_stream(&header);
                tokio::time::timeout(crate::tunnel::connect::OPEN_TIMEOUT, open)
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            _ => None,
        },
        None => None,
    };
    let Some(mut stream) = stream else {
        let _ = sock.write_all(b"-").await;
        return Err(format!("{} is not bound here", hello.host));
    };
    sock.write_all(b"+").await.map_err(|e| e.to_string())?;
    sock.flush().await.map_err(|e| e.to_string())?;
    tokio::io::copy_bidirectional(&mut sock, &mut stream)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
