//! Write coalescing under the mux.
//!
//! yamux writes each frame as two `write` calls (12-byte header, then body) and flushes after
//! every frame. Over TLS each `write` becomes its own record and its own `send`: a 1 KiB
//! response cost two records and two syscalls, a burst of frames from several streams twice as
//! many. [`CoalescedIo`] keeps yamux's writes in one buffer and treats yamux's flush as a no-op;
//! the mux driver drains the buffer through [`Flusher`] once the connection has nothing left to
//! do, so a burst of frames leaves as one TLS record (up to 16 KiB) and one `send`.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Buffered bytes beyond which a write first drains the buffer (backpressure), and the size
/// from which a single write bypasses the buffer.
const LIMIT: usize = 64 * 1024;

struct Inner<T> {
    io: T,
    buf: Vec<u8>,
    /// How much of `buf` has already been written.
    pos: usize,
}

impl<T: AsyncWrite + Unpin> Inner<T> {
    /// Writes out everything buffered (not flushing the transport).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pos < self.buf.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf[self.pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pos += n;
        }
        self.buf.clear();
        self.pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Writes out everything buffered and flushes the transport (a TLS stream may hold a
    /// record it could not send yet).
    fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }
}

fn lock<T>(m: &Mutex<Inner<T>>) -> MutexGuard<'_, Inner<T>> {
    // Only the mux driver task touches it; a poisoned lock still holds consistent bytes.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The transport as yamux sees it: reads pass through, writes are buffered until the driver
/// drains them through the paired [`Flusher`].
pub(crate) struct CoalescedIo<T> {
    shared: Arc<Mutex<Inner<T>>>,
}

/// The mux driver's handle on the buffer of a [`CoalescedIo`].
pub(crate) struct Flusher<T> {
    shared: Arc<Mutex<Inner<T>>>,
}

/// Wraps `io`; the driver must call [`Flusher::poll_flush`] whenever the connection goes idle.
pub(crate) fn coalesce<T>(io: T) -> (CoalescedIo<T>, Flusher<T>) {
    let shared = Arc::new(Mutex::new(Inner {
        io,
        buf: Vec::new(),
        pos: 0,
    }));
    (
        CoalescedIo {
            shared: shared.clone(),
        },
        Flusher { shared },
    )
}

impl<T: AsyncWrite + Unpin> Flusher<T> {
    /// Sends everything yamux has written so far.
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.shared).poll_flush_all(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CoalescedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut lock(&self.shared).io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CoalescedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut inner = lock(&self.shared);
        if inner.buf.len() + data.len() > LIMIT {
            ready!(inner.poll_drain(cx))?;
        }
        if data.len() >= LIMIT {
            return Pin::new(&mut inner.io).poll_write(cx, data);
        }
        inner.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Deferred: the driver drains the buffer when the connection is idle.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = lock(&self.shared);
        ready!(inner.poll_flush_all(cx))?;
        Pin::new(&mut inner.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_wait_for_the_driver_then_leave_in_one_piece() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let (mut io, flusher) = coalesce(a);
        io.write_all(b"header").await.unwrap();
        io.write_all(b"body").await.unwrap();
        io.flush().await.unwrap();
        let mut got = [0u8; 16];
        let early = tokio::time::timeout(std::time::Duration::from_millis(50), b.read(&mut got));
        assert!(
            early.await.is_err(),
            "nothing may leave before the driver drains"
        );
        poll_fn(|cx| flusher.poll_flush(cx)).await.unwrap();
        let n = b.read(&mut got).await.unwrap();
        assert_eq!(&got[..n], b"headerbody");
    }

    #[tokio::test]
    async fn a_full_buffer_drains_before_taking_more_and_shutdown_sends_the_rest() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let (mut io, _flusher) = coalesce(a);
        let chunk = vec![7u8; LIMIT / 2 + 1];
        io.write_all(&chunk).await.unwrap();
        io.write_all(&chunk).await.unwrap();
        let big = vec![9u8; LIMIT];
        io.write_all(&big).await.unwrap();
        io.write_all(b"tail").await.unwrap();
        io.shutdown().await.unwrap();
        let mut all = Vec::new();
        b.read_to_end(&mut all).await.unwrap();
        let mut want = [chunk.clone(), chunk, big].concat();
        want.extend_from_slice(b"tail");
        assert_eq!(all, want);
    }
}
