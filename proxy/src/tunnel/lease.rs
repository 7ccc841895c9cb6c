//! Streams kept between requests of one client connection. Pingora puts a finished upstream
//! connection in its pool but never hands a virtual stream (a stream to an agent, or to
//! another edge) out again: its pool checks the connection's file descriptor against the
//! peer address, and a virtual stream has none. So the edge keeps such streams itself.
//!
//! A request's [`StreamLease`] holds its stream while Pingora uses it; when the request is
//! logged, [`Lease::finish`] takes the stream back and hands it to its [`StreamHome`] (the
//! agent session, or the channel to the other edge) for the same client connection's next
//! request, if Pingora released it intact; otherwise the stream closes. Pingora's own verdict
//! decides: a connection it does not keep alive is shut down (which marks the stream broken) or
//! dropped before the request ends (which closes it); one it keeps sits in its pool until
//! `finish` empties it.

use std::any::Any;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::l4::virt::{VirtualSockOpt, VirtualSocket, VirtualSocketStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where a request's finished stream waits for the same client connection's next request.
pub trait StreamHome: Send + Sync + 'static {
    /// The stream kept.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static;
    /// Keeps `stream`, between two exchanges, for the client connection's next request;
    /// `false` when it was closed instead.
    fn keep(&self, stream: Self::Stream) -> bool;
    /// Closes what is kept here for the client connection (it ended).
    fn discard(&self);
    /// Whether `other` keeps its streams in the same place.
    fn same(&self, other: &Self) -> bool;
}

/// A request's lease as the service and the connection record see it, whatever its stream.
pub trait Lease: std::fmt::Debug + Send + Sync + 'static {
    /// The request ended; `clean` when Pingora finished it without an error. Keeps the
    /// stream for the client connection's next request when it is intact (`true`), closes
    /// it otherwise.
    fn finish(&self, clean: bool) -> bool;
    /// Whether the request went out on a kept stream: a failure on it may be the far side
    /// closing it just then, worth a retry on a new stream (as Pingora retries a reused
    /// connection).
    fn reused(&self) -> bool;
    /// Closes what is kept for the client connection this lease's request came on.
    fn discard_kept(&self);
    /// Whether `other` keeps its streams in the same place as this one.
    fn same_place(&self, other: &dyn Lease) -> bool;
    /// For [`Lease::same_place`].
    fn as_any(&self) -> &dyn Any;
}

/// One request's stream, from its opening (or taking) to its home or its end.
pub struct StreamLease<H: StreamHome> {
    home: H,
    slot: Mutex<Slot<H::Stream>>,
}

struct Slot<S> {
    stream: Option<S>,
    /// A read or write failed, the far side closed, or Pingora shut the stream down.
    broken: bool,
    /// Pingora dropped its end.
    dropped: bool,
    /// The stream was kept from an earlier request.
    reused: bool,
    /// The task waiting to read (Pingora's idle pool, once the request is done).
    reader: Option<Waker>,
}

impl<S> Default for Slot<S> {
    fn default() -> Self {
        Slot {
            stream: None,
            broken: false,
            dropped: false,
            reused: false,
            reader: None,
        }
    }
}

impl<H: StreamHome> std::fmt::Debug for StreamLease<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamLease")
    }
}

impl<H: StreamHome> StreamLease<H> {
    /// A lease whose stream goes home to `home`.
    pub fn new(home: H) -> Arc<Self> {
        Arc::new(StreamLease {
            home,
            slot: Mutex::new(Slot::default()),
        })
    }

    /// Where the stream goes when the request ends clean.
    pub fn home(&self) -> &H {
        &self.home
    }

    /// Holds `stream` (`reused`: it was kept from an earlier request) and gives Pingora a
    /// virtual socket over it.
    pub fn socket(self: &Arc<Self>, stream: H::Stream, reused: bool) -> L4Stream {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Slot {
                stream: Some(stream),
                reused,
                ..Slot::default()
            };
        }
        L4Stream::from(VirtualSocketStream::new(Box::new(LeasedSock(self.clone()))))
    }
}

impl<H: StreamHome> Lease for StreamLease<H> {
    fn finish(&self, clean: bool) -> bool {
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
        match stream {
            Some(stream) if clean && intact => self.home.keep(stream),
            _ => false,
        }
    }

    fn reused(&self) -> bool {
        self.slot.lock().is_ok_and(|s| s.reused)
    }

    fn discard_kept(&self) {
        self.home.discard();
    }

    fn same_place(&self, other: &dyn Lease) -> bool {
        other
            .as_any()
            .downcast_ref::<Self>()
            .is_some_and(|o| self.home.same(&o.home))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The stream of a lease as a Pingora virtual socket. Once the lease is finished it reads as
/// closed.
struct LeasedSock<H: StreamHome>(Arc<StreamLease<H>>);

impl<H: StreamHome> LeasedSock<H> {
    /// Runs `f` on the stream, marking it broken on an error; `empty` when it is gone.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut H::Stream, &mut Slot<H::Stream>) -> Poll<std::io::Result<T>>,
        empty: impl FnOnce() -> std::io::Result<T>,
    ) -> Poll<std::io::Result<T>> {
        let Ok(mut guard) = self.0.slot.lock() else {
            return Poll::Ready(Err(std::io::Error::other("stream lock poisoned")));
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

impl<H: StreamHome> std::fmt::Debug for LeasedSock<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeasedSock")
    }
}

impl<H: StreamHome> AsyncRead for LeasedSock<H> {
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
                        // The far side closed its end.
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

impl<H: StreamHome> AsyncWrite for LeasedSock<H> {
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

impl<H: StreamHome> VirtualSocket for LeasedSock<H> {
    fn set_socket_option(&self, _opt: VirtualSockOpt) -> std::io::Result<()> {
        Ok(())
    }
}

impl<H: StreamHome> Drop for LeasedSock<H> {
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
