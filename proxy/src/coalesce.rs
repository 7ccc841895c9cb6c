//! Write coalescing for client streams.
//!
//! Pingora expects its client streams to buffer small writes until it flushes: its own
//! listener gives every accepted stream a write buffer of one TCP segment, and its HTTP/1 code
//! writes a response header and then the body, flushing only at the end of the body (or after
//! each chunk, or at once for a response without a body). The edge accepts connections itself,
//! so without this a 1 KiB response left in two `send` calls, each waking the client.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

/// Largest run of small writes held back: one TCP segment, as Pingora's listener uses.
pub const CAPACITY: usize = 1460;

/// Small writes waiting for a flush. The buffer is allocated on the first write, so a
/// connection that never answers costs nothing.
#[derive(Debug, Default)]
pub struct CoalescedWrites {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed to the stream by an unfinished drain.
    sent: usize,
}

impl CoalescedWrites {
    /// Writes `data` through this buffer to `stream`: small writes are held back (`Ready` at
    /// once), a write that would overflow the buffer first drains it, and a write as large as
    /// the buffer goes straight to the stream. `sent(n)` is called for the bytes the stream
    /// takes.
    pub fn poll_write<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        stream: &mut W,
        cx: &mut Context<'_>,
        data: &[u8],
        sent: &mut impl FnMut(usize),
    ) -> Poll<io::Result<usize>> {
        if self.buf.len() + data.len() > CAPACITY {
            ready!(self.poll_drain(stream, cx, sent))?;
        }
        if data.len() >= CAPACITY {
            let n = ready!(Pin::new(stream).poll_write(cx, data))?;
            sent(n);
            return Poll::Ready(Ok(n));
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(CAPACITY);
        }
        self.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    /// Hands everything waiting to `stream` (without flushing the stream itself).
    pub fn poll_drain<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        stream: &mut W,
        cx: &mut Context<'_>,
        sent: &mut impl FnMut(usize),
    ) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let n = ready!(Pin::new(&mut *stream).poll_write(cx, &self.buf[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            sent(n);
            self.sent += n;
        }
        self.buf.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::AsyncWriteExt;

    /// A stream that records each `poll_write` call and accepts at most `limit` bytes per call.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<Vec<u8>>,
        limit: Option<usize>,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = self.limit.map_or(buf.len(), |l| l.min(buf.len()));
            self.writes.push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    async fn write(c: &mut CoalescedWrites, s: &mut Recorder, data: &[u8], total: &mut usize) {
        let mut at = 0;
        while at < data.len() {
            at += poll_fn(|cx| c.poll_write(s, cx, &data[at..], &mut |n| *total += n))
                .await
                .expect("write");
        }
    }

    #[tokio::test]
    async fn header_and_small_body_leave_in_one_write() {
        let (mut c, mut s, mut total) = (CoalescedWrites::default(), Recorder::default(), 0);
        write(&mut c, &mut s, &[b'h'; 200], &mut total).await;
        write(&mut c, &mut s, &[b'b'; 1024], &mut total).await;
        assert!(s.writes.is_empty(), "nothing leaves before the drain");
        poll_fn(|cx| c.poll_drain(&mut s, cx, &mut |n| total += n))
            .await
            .expect("drain");
        assert_eq!(s.writes.len(), 1);
        assert_eq!(s.writes[0].len(), 1224);
        assert_eq!(total, 1224);
        assert!(c.buf.is_empty());
    }

    #[tokio::test]
    async fn a_large_write_drains_first_and_keeps_order() {
        let (mut c, mut s, mut total) = (CoalescedWrites::default(), Recorder::default(), 0);
        write(&mut c, &mut s, b"header", &mut total).await;
        write(&mut c, &mut s, &[b'x'; 4000], &mut total).await;
        assert_eq!(s.writes.len(), 2);
        assert_eq!(s.writes[0], b"header");
        assert_eq!(s.writes[1].len(), 4000);
        assert_eq!(total, 4006);
    }

    #[tokio::test]
    async fn a_partial_drain_resumes_where_it_stopped() {
        let mut c = CoalescedWrites::default();
        let mut s = Recorder {
            limit: Some(100),
            ..Recorder::default()
        };
        let mut total = 0;
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        write(&mut c, &mut s, &data, &mut total).await;
        poll_fn(|cx| c.poll_drain(&mut s, cx, &mut |n| total += n))
            .await
            .expect("drain");
        assert_eq!(s.writes.concat(), data);
        assert_eq!(total, 1000);
        // The buffer is reused, not regrown.
        s.flush().await.expect("flush");
        assert_eq!(c.buf.capacity(), CAPACITY);
    }
}
