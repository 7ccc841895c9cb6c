//! The Pingora L4 connector that opens a stream on an agent session in place of a TCP
//! connect (or takes one kept from the same client connection's previous request), and the
//! stream header sent first on every stream.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
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

/// Opens a proxy stream on an agent session in place of a TCP connect, or takes the one the
/// same client connection's previous request left kept (see [`StreamLease`]).
#[derive(Debug)]
pub struct TunnelConnect {
    /// The request's stream, from its opening to where it goes when the request ends.
    pub lease: Arc<StreamLease>,
}

#[async_trait]
impl pingora::connectors::L4Connect for TunnelConnect {
    async fn connect(
        &self,
        _addr: &pingora::protocols::l4::socket::SocketAddr,
    ) -> pingora::Result<L4Stream> {
        let lease = &self.lease;
        let stream = lease.session.stream_for(&lease.header, lease.conn);
        let open = tokio::time::timeout(OPEN_TIMEOUT, stream);
        match open.await {
            Ok(Ok((stream, reused))) => {
                lease.hold(stream, reused);
                Ok(L4Stream::from(VirtualSocketStream::new(Box::new(
                    TunnelSock(lease.clone()),
                ))))
            }
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

/// One request's tunnel stream. Pingora cannot hand a virtual stream to a later request (its
/// pool matches a connection's file descriptor, which a virtual stream lacks), so the edge
/// keeps streams itself: when the request ends, [`StreamLease::finish`] takes the stream back
/// from Pingora and keeps it in the session for the same client connection's next request,
/// if Pingora released it intact (its HTTP/1 exchange complete and kept alive); otherwise the
/// stream closes.
///
/// Pingora's own verdict decides: a connection it does not keep alive is shut down (which
/// marks the stream broken) or dropped before the request ends (which closes it); one it
/// keeps sits in its pool until `finish` empties it.
#[derive(Debug)]
pub struct StreamLease {
    session: AgentSession,
    header: StreamHeader,
    /// The edge's id of the client connection (see [`crate::conn::ConnRecord::id`]).
    conn: u64,
    slot: Mutex<Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    stream: Option<TunnelStream>,
    /// A read or write failed, the agent closed, or Pingora shut the stream down.
    broken: bool,
    /// Pingora dropped its end.
    dropped: bool,
    /// The stream was kept from an earlier request.
    reused: bool,
    /// The task waiting to read (Pingora's idle pool, once the request is done).
    reader: Option<Waker>,
}

impl StreamLease {
    /// A lease for a request on client connection `conn` to `session`, whose streams carry
    /// `header`.
    pub fn new(session: AgentSession, header: StreamHeader, conn: u64) -> Arc<Self> {
        Arc::new(StreamLease {
            session,
            header,
            conn,
            slot: Mutex::new(Slot::default()),
        })
    }

    fn hold(&self, stream: TunnelStream, reused: bool) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Slot {
                stream: Some(stream),
                reused,
                ..Slot::default()
            };
        }
    }

    /// Whether the request went out on a kept stream: a failure on it may be the agent closing
    /// it just then, worth a retry on a new stream (as Pingora retries a reused connection).
    pub fn reused(&self) -> bool {
        self.slot.lock().is_ok_and(|s| s.reused)
    }

    /// The request ended; `clean` when Pingora finished it without an error. Keeps the stream
    /// for the client connection's next request when it is intact (`true`), closes it
    /// otherwise.
    pub fn finish(&self, clean: bool) -> bool {
        let (stream, intact) = {
            let Ok(mut slot) = self.slot.lock() else {
                return false;
            };
            if let Some(waker) = slot.reader.take() {
                // Pingora's pool reads the end of the emptied stream and lets go of it.
                waker.wake();
            }
            (slot.stream.take(), !slot.broken && !slot.dropped)
        };
        // Without a client connection to close them with, streams are not kept.
        if let Some(stream) = stream
            && clean
            && intact
            && self.conn != 0
        {
            self.session
                .keep_stream(self.header.clone(), self.conn, stream);
            return true;
        }
        false
    }

    /// Closes what is kept for the client connection this lease's request came on (it ended).
    pub fn discard_kept(&self) {
        self.session.discard_kept(&self.header, self.conn);
    }

    /// Whether `other` keeps its stream in the same place (session and header) as this one.
    pub fn same_place(&self, other: &StreamLease) -> bool {
        self.session.id() == other.session.id()
            && self.conn == other.conn
            && self.header == other.header
    }
}

/// The stream of a lease as a Pingora virtual socket. Once the lease is finished it reads as
/// closed.
struct TunnelSock(Arc<StreamLease>);

impl TunnelSock {
    /// Runs `f` on the stream, marking it broken on an error; `empty` when it is gone.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut TunnelStream, &mut Slot) -> Poll<std::io::Result<T>>,
        empty: impl FnOnce() -> std::io::Result<T>,
    ) -> Poll<std::io::Result<T>> {
        let Ok(mut guard) = self.0.slot.lock() else {
            return Poll::Ready(Err(std::io::Error::other("tunnel stream lock poisoned")));
        };
        let slot = &mut *guard;
        let Some(mut stream) = slot.stream.take() else {
            return Poll::Ready(empty());
        };
        let polled = f(&mut stream, slot);
        if matches!(polled, Poll::Ready(Err(_))) {
            slot.broken = true;
        }
        slot.stream = Some(stream);
        polled
    }
}

impl std::fmt::Debug for TunnelSock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunnelSock")
    }
}

impl AsyncRead for TunnelSock {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.with(
            |stream, slot| {
                let before = buf.filled().len();
                let polled = Pin::new(stream).poll_read(cx, buf);
                match &polled {
                    Poll::Pending => {
                        if !slot
                            .reader
                            .as_ref()
                            .is_some_and(|w| w.will_wake(cx.waker()))
                        {
                            slot.reader = Some(cx.waker().clone());
                        }
                    }
                    Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                        // The agent closed its side.
                        slot.broken = true;
                    }
                    Poll::Ready(_) => {}
                }
                polled
            },
            || Ok(()),
        )
    }
}

impl AsyncWrite for TunnelSock {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.with(
            |stream, _| Pin::new(stream).poll_write(cx, buf),
            || Err(std::io::ErrorKind::BrokenPipe.into()),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.with(|stream, _| Pin::new(stream).poll_flush(cx), || Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.with(
            |stream, slot| {
                // Pingora does not keep this connection alive.
                slot.broken = true;
                Pin::new(stream).poll_shutdown(cx)
            },
            || Ok(()),
        )
    }
}

impl VirtualSocket for TunnelSock {
    fn set_socket_option(&self, _opt: VirtualSockOpt) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for TunnelSock {
    fn drop(&mut self) {
        let stream = self.0.slot.lock().ok().and_then(|mut slot| {
            slot.dropped = true;
            slot.reader = None;
            slot.stream.take()
        });
        // Closed outside the lock.
        drop(stream);
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
