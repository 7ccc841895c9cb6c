//! The stream wrapper the accept loop puts around every client stream (after TLS, so it sees
//! HTTP bytes), one [`crate::conn::ConnRecord`] per connection.
//!
//! The wrapper counts bytes in and out, holds small writes back until Pingora flushes (see
//! [`crate::coalesce`]), and guards the reading of HTTP/1 request headers: while
//! a header is awaited, it must be complete within the header-read timeout from its first byte
//! (else the read fails and the connection closes); it is checked byte by byte as it arrives
//! ([`HeadScanner`]: strict request line and line ends, at most
//! [`errors::MAX_HEADER_FIELDS`] fields); and one over 1 MiB or with too many fields is
//! answered `431` with `ERR_SLUICE_3906`, a malformed one `400` with `ERR_SLUICE_3907`, before
//! the connection closes ([`HeadRefusal`]).
//!
//! [`pingora_io`] passes Pingora's stream traits through to the wrapped stream.

mod pingora_io;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pingora::protocols::Stream;
use sluice_wire::HeadScanner;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::coalesce::CoalescedWrites;
use crate::conn::ConnRecord;
use crate::errors;
use crate::metrics::Metrics;
use crate::refusal::HeadRefusal;

/// Largest request header accepted (Pingora's own limit is one byte more).
pub const HEADER_LIMIT: usize = 1024 * 1024 - 1;
// The policy cost estimator bounds request strings by this limit (README, CEL section).
const _: () = assert!(HEADER_LIMIT as u64 <= sluice_policy::cel::cost::limits::REQUEST_HEAD_BYTES);

/// A client stream that counts bytes and guards HTTP/1 header reads.
pub struct Metered {
    inner: Stream,
    record: Arc<ConnRecord>,
    metrics: Arc<Metrics>,
    header_timeout: Duration,
    seen_gen: u64,
    header_bytes: usize,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Checks the awaited header's bytes.
    scanner: HeadScanner,
    /// Why the header was refused, and the bytes of the answer written so far.
    reject: Option<(HeadRefusal, usize)>,
    /// Refusals also carry `ngrok-error-code` (the edge config's opt-in).
    ngrok_code: bool,
    /// Small writes waiting for the next flush.
    pending: CoalescedWrites,
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Metered {
    /// Wraps a client stream.
    pub fn new(
        inner: Stream,
        record: Arc<ConnRecord>,
        metrics: Arc<Metrics>,
        header_timeout: Duration,
        ngrok_code: bool,
    ) -> Self {
        Metered {
            inner,
            record,
            metrics,
            header_timeout,
            seen_gen: 0,
            header_bytes: 0,
            deadline: None,
            scanner: HeadScanner::new(errors::MAX_HEADER_FIELDS),
            reject: None,
            ngrok_code,
            pending: CoalescedWrites::default(),
        }
    }

    /// The record of the connection this stream is.
    pub fn record(&self) -> &Arc<ConnRecord> {
        &self.record
    }

    /// Writes the refusal, then fails the read.
    fn poll_reject(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        let Some((why, mut written)) = self.reject else {
            return Poll::Ready(Ok(()));
        };
        let answer = why.response(self.ngrok_code);
        while written < answer.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &answer[written..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    written = answer.len() + 1;
                }
                Poll::Ready(Ok(n)) => {
                    written += n;
                    self.count_out(n);
                }
                Poll::Pending => {
                    self.reject = Some((why, written));
                    return Poll::Pending;
                }
            }
            self.reject = Some((why, written));
        }
        if written == answer.len() {
            if Pin::new(&mut self.inner).poll_flush(cx).is_pending() {
                return Poll::Pending;
            }
            self.reject = Some((why, written + 1));
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            why.reason(),
        )))
    }

    /// Starts refusing the awaited header.
    fn refuse(&mut self, why: HeadRefusal, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let counter = match why {
            HeadRefusal::TooLarge | HeadRefusal::TooManyFields => &self.metrics.headers_too_large,
            HeadRefusal::Malformed => &self.metrics.malformed_requests,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.reject = Some((why, 0));
        self.poll_reject(cx)
    }

    /// Hands the held-back writes to the stream.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (record, metrics) = (&self.record, &self.metrics);
        self.pending
            .poll_drain(&mut self.inner, cx, &mut |n| count_out(record, metrics, n))
    }

    fn count_out(&self, n: usize) {
        count_out(&self.record, &self.metrics, n);
    }
}

impl AsyncRead for Metered {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.reject.is_some() {
            return this.poll_reject(cx);
        }
        let awaiting = this.record.awaiting_header.load(Ordering::Acquire);
        if awaiting {
            let generation = this.record.header_gen.load(Ordering::Acquire);
            if generation != this.seen_gen {
                this.seen_gen = generation;
                this.header_bytes = 0;
                this.deadline = None;
                this.scanner.reset();
            }
            if let Some(d) = this.deadline.as_mut()
                && d.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request header did not arrive in time",
                )));
            }
        } else {
            this.deadline = None;
            this.header_bytes = 0;
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let n = buf.filled().len() - before;
        this.record.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        this.metrics.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        if awaiting && n > 0 {
            if this.deadline.is_none() {
                let mut d = Box::pin(tokio::time::sleep(this.header_timeout));
                // Register the timer now, so a stalled client is noticed.
                let _ = d.as_mut().poll(cx);
                this.deadline = Some(d);
            }
            this.header_bytes += n;
            if this.header_bytes > HEADER_LIMIT {
                buf.set_filled(before);
                return this.refuse(HeadRefusal::TooLarge, cx);
            }
            if !this.scanner.is_done()
                && let Err(e) = this.scanner.feed(&buf.filled()[before..])
            {
                tracing::debug!(client = %this.record.client, "request refused: {e}");
                buf.set_filled(before);
                return this.refuse(HeadRefusal::of(&e), cx);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let (record, metrics) = (&this.record, &this.metrics);
        this.pending.poll_write(&mut this.inner, cx, buf, &mut |n| {
            count_out(record, metrics, n)
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Vectored writes (chunk framing) go out as they are, after what is held back.
        ready!(this.poll_drain(cx))?;
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &r {
            this.count_out(*n);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Counts `n` bytes written to a client.
fn count_out(record: &ConnRecord, metrics: &Metrics, n: usize) {
    record.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    metrics.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
}
