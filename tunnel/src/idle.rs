//! Idle proxy streams a session keeps for the next request of the same public connection, the
//! way an HTTP client keeps a keep-alive connection: a small request then costs no stream
//! open and close, and the agent keeps serving it with the same upstream connection.
//!
//! A stream is kept under its whole [`StreamHeader`] (endpoint, client address and port,
//! protocol) and the edge's id of the client connection, so it only ever carries requests of
//! the client connection it was opened for (even when one client address reaches the edge
//! on two of its addresses at once).
//! Whoever keeps a stream vouches that it sits between two exchanges (nothing unread, nothing
//! half-written); a stream found readable when taken (closed, or bytes nobody asked for) is
//! dropped instead of handed out.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Instant;

use crate::proto::StreamHeader;
use crate::stream::TunnelStream;

/// Longest a stream waits idle for its client's next request. Well under the agent's own
/// limits, so the agent never closes a kept stream first.
pub const IDLE_LIMIT: Duration = Duration::from_secs(10);
/// Most idle streams one session keeps; past it a finished stream is closed.
pub const MAX_IDLE: usize = 1024;
/// Most idle streams kept for one header (HTTP/2 clients send requests side by side).
const MAX_PER_HEADER: usize = 8;

/// The idle streams of one session.
#[derive(Debug, Default)]
pub(crate) struct IdleStreams {
    inner: Mutex<Pool>,
}

#[derive(Debug, Default)]
struct Pool {
    by_header: HashMap<(StreamHeader, u64), Vec<(TunnelStream, Instant)>>,
    count: usize,
    last_sweep: Option<Instant>,
}

impl IdleStreams {
    /// A kept stream for `header` on client connection `conn` that is still open and quiet,
    /// if there is one.
    pub(crate) fn take(&self, header: &StreamHeader, conn: u64) -> Option<TunnelStream> {
        let mut pool = self.inner.lock().ok()?;
        let now = Instant::now();
        pool.sweep(now);
        // The key is owned; one clone per take is the price of a plain `HashMap`.
        let key = (header.clone(), conn);
        loop {
            let list = pool.by_header.get_mut(&key)?;
            let popped = list.pop();
            if list.is_empty() {
                pool.by_header.remove(&key);
            }
            let (mut stream, since) = popped?;
            pool.count -= 1;
            if now.duration_since(since) < IDLE_LIMIT && is_quiet(&mut stream) {
                return Some(stream);
            }
        }
    }

    /// Keeps `stream`, between two exchanges, for the next request with `header` on client
    /// connection `conn`.
    pub(crate) fn keep(&self, header: StreamHeader, conn: u64, stream: TunnelStream) {
        let Ok(mut pool) = self.inner.lock() else {
            return;
        };
        let now = Instant::now();
        pool.sweep(now);
        if pool.count >= MAX_IDLE {
            return;
        }
        let list = pool.by_header.entry((header, conn)).or_default();
        if list.len() >= MAX_PER_HEADER {
            return;
        }
        list.push((stream, now));
        pool.count += 1;
    }

    /// Closes the streams kept for `header` on client connection `conn` (it ended).
    pub(crate) fn discard(&self, header: &StreamHeader, conn: u64) {
        let Ok(mut pool) = self.inner.lock() else {
            return;
        };
        if let Some(list) = pool.by_header.remove(&(header.clone(), conn)) {
            pool.count -= list.len();
        }
    }

    /// How many streams are kept now.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map_or(0, |p| p.count)
    }

    /// Closes every kept stream (the session ended).
    pub(crate) fn clear(&self) {
        if let Ok(mut pool) = self.inner.lock() {
            pool.by_header.clear();
            pool.count = 0;
        }
    }

    /// Closes the streams idle past [`IDLE_LIMIT`] (also done on the way by `take` and `keep`;
    /// this is for a session whose traffic stopped).
    pub(crate) fn sweep(&self) {
        if let Ok(mut pool) = self.inner.lock() {
            pool.last_sweep = None;
            pool.sweep(Instant::now());
        }
    }
}

impl Pool {
    /// Closes streams idle past [`IDLE_LIMIT`]; at most once a second, so a keep costs a scan
    /// only now and then.
    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_sweep = Some(now);
        let mut count = 0;
        self.by_header.retain(|_, list| {
            list.retain(|(_, since)| now.duration_since(*since) < IDLE_LIMIT);
            count += list.len();
            !list.is_empty()
        });
        self.count = count;
    }
}

/// Whether nothing can be read from `stream` right now: no bytes and no end. A kept stream
/// that is readable was closed by the agent or carries bytes no request asked for.
fn is_quiet(stream: &mut TunnelStream) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    let mut cx = Context::from_waker(Waker::noop());
    let polled: Poll<io::Result<()>> = Pin::new(stream).poll_read(&mut cx, &mut buf);
    polled.is_pending()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::{Mux, MuxConfig, Role};
    use crate::proto::Protocol;
    use crate::stream::StreamTimeouts;

    fn header(port: u16) -> StreamHeader {
        StreamHeader {
            endpoint_url: "http://app.example".into(),
            client_addr: std::net::SocketAddr::from(([192, 0, 2, 1], port)),
            protocol: Protocol::Http,
            tls_terminated: false,
        }
    }

    /// `n` open streams of a multiplexed connection whose other end keeps them open.
    async fn streams(n: usize) -> (Vec<TunnelStream>, Mux, Mux) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (client, _) = Mux::start(a, Role::Client, &MuxConfig::default());
        let (server, _accepted) = Mux::start(b, Role::Server, &MuxConfig::default());
        let mut out = Vec::new();
        for _ in 0..n {
            let s = client.open().await.expect("open");
            out.push(TunnelStream::new(s, StreamTimeouts::default()));
        }
        (out, client, server)
    }

    #[tokio::test]
    async fn a_kept_stream_goes_only_to_its_own_header_and_client_connection() {
        let (mut s, _c, _s) = streams(2).await;
        let pool = IdleStreams::default();
        pool.keep(header(1000), 7, s.pop().expect("stream"));
        assert!(pool.take(&header(1000), 8).is_none(), "another connection");
        assert!(pool.take(&header(1001), 7).is_none(), "another client port");
        assert!(pool.take(&header(1000), 7).is_some());
        assert!(pool.take(&header(1000), 7).is_none(), "handed out once");
        assert_eq!(pool.len(), 0);

        pool.keep(header(1000), 7, s.pop().expect("stream"));
        assert_eq!(pool.len(), 1);
        pool.discard(&header(1000), 7);
        assert_eq!(pool.len(), 0);
        assert!(pool.take(&header(1000), 7).is_none(), "discarded");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_idle_past_the_limit_is_not_handed_out() {
        let (mut s, _c, _s) = streams(1).await;
        let pool = IdleStreams::default();
        pool.keep(header(1000), 7, s.pop().expect("stream"));
        tokio::time::advance(IDLE_LIMIT).await;
        assert!(pool.take(&header(1000), 7).is_none());
        assert_eq!(pool.len(), 0);
    }
}
