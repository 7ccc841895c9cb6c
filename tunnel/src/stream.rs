//! [`TunnelStream`]: one proxied connection, with idle and half-open reaping.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::mux::MuxStream;

/// Buffer size for copying between a tunnel stream and a socket (each direction). One read then
/// fills one mux frame (the mux splits at 64 KiB), so a bulk transfer crosses between tasks once
/// per 64 KiB instead of once per 8 KiB (tokio's default copy buffer).
pub const COPY_BUFFER: usize = 64 * 1024;

/// Limits after which a quiet stream is reaped (its reads and writes fail with `TimedOut`, and
/// dropping it resets the stream on the peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTimeouts {
    /// No byte in either direction for this long; `None` never reaps an open stream.
    pub idle: Option<Duration>,
    /// After one direction has finished (EOF read or write shut down), no byte for this long.
    pub half_open: Option<Duration>,
}

impl Default for StreamTimeouts {
    fn default() -> Self {
        Self {
            idle: Some(Duration::from_secs(2 * 60 * 60)),
            half_open: Some(Duration::from_secs(120)),
        }
    }
}

/// A bidirectional byte stream carried over the tunnel (`AsyncRead + AsyncWrite`).
///
/// `shutdown()` half-closes: the peer reads EOF and may keep writing back.
#[derive(Debug)]
pub struct TunnelStream {
    inner: MuxStream,
    timeouts: StreamTimeouts,
    last_activity: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    read_eof: bool,
    write_shut: bool,
    reaped: bool,
}

impl TunnelStream {
    pub(crate) fn new(inner: MuxStream, timeouts: StreamTimeouts) -> Self {
        Self {
            inner,
            timeouts,
            last_activity: Instant::now(),
            timer: None,
            read_eof: false,
            write_shut: false,
            reaped: false,
        }
    }

    fn limit(&self) -> Option<Duration> {
        if self.read_eof || self.write_shut {
            match (self.timeouts.half_open, self.timeouts.idle) {
                (Some(h), Some(i)) => Some(h.min(i)),
                (h, i) => h.or(i),
            }
        } else {
            self.timeouts.idle
        }
    }

    fn touch(&mut self) {
        self.last_activity = Instant::now();
    }

    /// Called when the inner stream is pending: arms the timer and reports expiry.
    fn poll_reap(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(limit) = self.limit() else {
            return Poll::Pending;
        };
        loop {
            let deadline = self.last_activity + limit;
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            ready!(timer.as_mut().poll(cx));
            if self.last_activity + limit <= Instant::now() {
                self.reaped = true;
                let what = if self.read_eof || self.write_shut {
                    "half-open"
                } else {
                    "idle"
                };
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("tunnel stream {what} for {limit:?}; reaped"),
                ));
            }
        }
    }

    fn reaped_error() -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, "tunnel stream reaped")
    }
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.reaped {
            return Poll::Ready(Err(Self::reaped_error()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() == before {
                    this.read_eof = true;
                }
                this.touch();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_reap(cx).map(Err),
        }
    }
}

impl AsyncWrite for TunnelStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.reaped {
            return Poll::Ready(Err(Self::reaped_error()));
        }
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_reap(cx).map(Err),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
        this.write_shut = true;
        this.touch();
        Poll::Ready(r)
    }
}
