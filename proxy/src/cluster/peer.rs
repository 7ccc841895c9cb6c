//! The inter-edge channel. The edge a client reached (B) runs the endpoint's policy, then
//! opens a stream to the edge that holds the agent (A) and sends one line naming the endpoint
//! and the client; A answers `+` and from then on copies bytes between the stream and a
//! stream it opens on the agent's session (`-` and close when it no longer holds the name).
//! A runs no policy and reads no HTTP: the request is the one B's policy let through, as B
//! sends it.
//!
//! The streams ride one multiplexed connection per pair of edges (mutual TLS, first line
//! `mux`, then the agent session's multiplexer), dialed by the first request and kept: a
//! request that crosses edges costs a stream, not a TCP connect and a TLS handshake. A
//! connection whose first line is the endpoint's line instead carries that one request.
//! B keeps a finished stream (with A's stream to the agent behind it) for the same client
//! connection's next request to the same endpoint, as for a stream to an agent
//! ([`crate::tunnel::lease`]): that request costs no stream, no first line and no answer
//! to wait for.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::{Error, ErrorType};
use serde::{Deserialize, Serialize};
use sluice_tunnel::MuxConfig;
use sluice_tunnel::idle::IdleStreams;
use sluice_tunnel::mux::{Mux, MuxStream, Role};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::config::{Scheme, Target};
use crate::state::Shared;
use crate::tunnel::{StreamHome, StreamLease};

/// Time allowed to connect to a peer edge, handshake and hear its answer.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest first line accepted from a peer.
const MAX_LINE: u64 = 4096;
/// The first line of a connection that carries many requests, one per stream.
const MUX_LINE: &[u8] = b"mux\n";

/// The multiplexed connections of this edge to its peers, one per peer address, dialed by
/// the first request to a peer and reused by the next ones; and the streams on them kept for
/// a client connection's next request.
#[derive(Debug, Default)]
pub struct PeerChannels {
    open: Mutex<HashMap<SocketAddr, Mux>>,
    idle: IdleStreams<PeerKey, PeerSock>,
}

/// What a kept inter-edge stream serves: the peer edge, the listener, the endpoint's name,
/// the client's address and this edge's id of the client connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerKey {
    addr: SocketAddr,
    scheme: Scheme,
    host: String,
    client: SocketAddr,
    conn: u64,
}

/// Where a request's stream to another edge is kept: the channels, under its [`PeerKey`].
#[derive(Debug)]
pub struct PeerHome {
    channels: Arc<PeerChannels>,
    key: PeerKey,
}

impl PeerHome {
    /// The home of a request on client connection `conn` (0: none, never kept) of `client`
    /// to `host` on the `scheme` listener, held by the edge `route` leads to.
    pub fn new(
        route: &super::PeerRoute,
        scheme: Scheme,
        client: SocketAddr,
        conn: u64,
    ) -> PeerHome {
        PeerHome {
            channels: route.channels.clone(),
            key: PeerKey {
                addr: route.addr,
                scheme,
                host: route.host.clone(),
                client,
                conn,
            },
        }
    }
}

impl StreamHome for PeerHome {
    type Stream = PeerSock;

    fn keep(&self, stream: PeerSock) -> bool {
        if self.key.conn == 0 {
            return false;
        }
        self.channels.idle.keep(self.key.clone(), stream);
        true
    }

    fn discard(&self) {
        self.channels.idle.discard(&self.key);
    }

    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.channels, &other.channels) && self.key == other.key
    }
}

impl PeerChannels {
    /// A new stream to the peer at `addr`, on its connection (dialed again once closed),
    /// with a handle on that connection: the connection lives while a handle does.
    async fn stream(
        &self,
        addr: SocketAddr,
        tls: &Arc<rustls::ClientConfig>,
    ) -> Result<(Mux, MuxStream), String> {
        let cached = self.open.lock().ok().and_then(|m| m.get(&addr).cloned());
        if let Some(mux) = cached
            && !mux.is_closed()
            && let Ok(stream) = mux.open().await
        {
            return Ok((mux, stream));
        }
        let mux = dial_channel(addr, tls).await?;
        let stream = mux.open().await.map_err(|e| e.to_string())?;
        if let Ok(mut open) = self.open.lock() {
            // Two requests may have dialed at once: the first connection stays the shared one.
            match open.get(&addr) {
                Some(kept) if !kept.is_closed() => {}
                _ => {
                    open.insert(addr, mux.clone());
                }
            }
        }
        Ok((mux, stream))
    }

    /// Stops handing out the connection to `addr` (a stream on it failed or stalled): the
    /// next request dials anew. It is not closed: other requests' streams on it (perhaps
    /// only waiting for a slow agent) finish, and it ends with the last of them.
    fn forget(&self, addr: SocketAddr) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&addr);
        }
    }
}

/// Dials the peer at `addr` (TCP, mutual TLS) and starts a multiplexed connection on it.
async fn dial_channel(addr: SocketAddr, tls: &Arc<rustls::ClientConfig>) -> Result<Mux, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot reach the edge at {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut tls = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(super::tls::peer_name(), tcp)
        .await
        .map_err(|e| format!("TLS with the edge at {addr}: {e}"))?;
    tls.write_all(MUX_LINE).await.map_err(|e| e.to_string())?;
    tls.flush().await.map_err(|e| e.to_string())?;
    // The peer never opens streams this way: its queue is dropped.
    let (mux, _) = Mux::start(tls, Role::Client, &MuxConfig::default());
    Ok(mux)
}

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

/// Dials a peer edge in place of a TCP connect (Pingora's L4 connector), or takes the stream
/// the same client connection's previous request to the endpoint left kept.
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
    /// The request's stream, from its dialing to where it goes when the request ends.
    pub lease: Arc<StreamLease<PeerHome>>,
}

impl PeerConnect {
    async fn dial(&self) -> Result<PeerSock, String> {
        let addr = self.route.addr;
        let (channel, stream) = self.route.channels.stream(addr, &self.tls).await?;
        let mut sock = BufReader::new(stream);
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
            Ok(b'+') => Ok(PeerSock {
                io: Box::new(sock),
                _channel: channel,
            }),
            Ok(_) => Err(format!("the edge at {addr} no longer serves {}", self.host)),
            Err(e) => {
                self.route.channels.forget(addr);
                Err(format!("the edge at {addr} closed: {e}"))
            }
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
        if let Some(kept) = route.channels.idle.take(&self.lease.home().key) {
            return Ok(self.lease.socket(kept, true));
        }
        let dialed = tokio::time::timeout(DIAL_TIMEOUT, self.dial()).await;
        if matches!(dialed, Ok(Ok(_))) {
            route.down.clear(&route.edge, &route.host);
        } else {
            route.down.mark(&route.edge, &route.host);
        }
        match dialed {
            Ok(Ok(s)) => Ok(self.lease.socket(s, false)),
            Ok(Err(e)) => Error::e_explain(ErrorType::ConnectError, e),
            Err(_) => {
                // A connection that stopped answering is not used again.
                route.channels.forget(route.addr);
                Error::e_explain(
                    ErrorType::ConnectTimedout,
                    format!("dialing the edge at {} timed out", route.addr),
                )
            }
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

/// A stream to another edge, holding its connection open.
pub struct PeerSock {
    io: Box<dyn Io>,
    _channel: Mux,
}

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
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerSock {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
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
            if let Err(e) = handle(acceptor, tcp, shared).await {
                tracing::debug!(%from, "inter-edge connection: {e}");
            }
        });
    }
}

/// Reads a first line of at most [`MAX_LINE`] bytes.
async fn first_line<R: AsyncBufReadExt + Unpin>(sock: &mut R) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    let mut limited = sock.take(MAX_LINE);
    tokio::time::timeout(DIAL_TIMEOUT, limited.read_until(b'\n', &mut line))
        .await
        .map_err(|_| "no first line".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(line)
}

async fn handle(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
    shared: Arc<Shared>,
) -> Result<(), String> {
    let _ = tcp.set_nodelay(true);
    let tls = tokio::time::timeout(DIAL_TIMEOUT, acceptor.accept(tcp))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| format!("handshake: {e}"))?;
    let mut sock = BufReader::new(tls);
    let line = first_line(&mut sock).await?;
    if line != MUX_LINE {
        return forward(sock, &line, &shared).await;
    }
    // Many requests, one per stream, each starting with its own line.
    let (_mux, mut streams) = Mux::start(sock, Role::Server, &MuxConfig::default());
    while let Some(stream) = streams.recv().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut stream = BufReader::new(stream);
            let line = match first_line(&mut stream).await {
                Ok(line) => line,
                Err(e) => return tracing::debug!("inter-edge stream: {e}"),
            };
            if let Err(e) = forward(stream, &line, &shared).await {
                tracing::debug!("inter-edge stream: {e}");
            }
        });
    }
    Ok(())
}

/// Serves one request whose first line is `line` on `sock`: opens a stream on the agent's
/// session for the endpoint it names and copies bytes both ways.
async fn forward<S>(mut sock: S, line: &[u8], shared: &Shared) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let hello: Hello = serde_json::from_slice(line).map_err(|e| format!("first line: {e}"))?;
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
        let _ = sock.flush().await;
        return Err(format!("{} is not bound here", hello.host));
    };
    sock.write_all(b"+").await.map_err(|e| e.to_string())?;
    sock.flush().await.map_err(|e| e.to_string())?;
    tokio::io::copy_bidirectional(&mut sock, &mut stream)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
