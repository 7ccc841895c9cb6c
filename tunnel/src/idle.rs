//! Idle streams kept for the next request of the same public connection, the way an HTTP
//! client keeps a keep-alive connection: a small request then costs no stream open and close,
//! and the far side keeps serving it with the same upstream connection.
//!
//! An agent session keeps its proxy streams under their whole [`StreamHeader`] (endpoint,
//! client address and port, protocol) and the edge's id of the client connection, so a stream
//! only ever carries requests of the client connection it was opened for (even when one client
//! address reaches the edge on two of its addresses at once); the edge's streams to another
//! edge of a cluster are kept the same way.
//! Whoever keeps a stream vouches that it sits between two exchanges (nothing unread, nothing
//! half-written); a stream found readable when taken (closed, or bytes nobody asked for) is
//! dropped instead of handed out.

use std::collections::HashMap;
use std::hash::Hash;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Instant;

/// Longest a stream waits idle for its client's next request. Well under the agent's own
/// limits, so the agent never closes a kept stream first.
pub const IDLE_LIMIT: Duration = Duration::from_secs(10);
/// Most idle streams one pool keeps; past it a finished stream is closed. Kept streams count
/// against the connection's stream limit (512 by default, [`crate::MuxConfig`]): a quarter of
/// it at most, so clients that leave keep-alive connections idle cannot take the streams the
/// endpoint's next requests need.
pub const MAX_IDLE: usize = 128;
/// Most idle streams kept under one key (HTTP/2 clients send requests side by side).
const MAX_PER_KEY: usize = 8;

/// Idle streams `S` kept under keys `K` (for an agent session: stream header and client
/// connection).
#[derive(Debug)]
pub struct IdleStreams<K, S> {
    inner: Mutex<Pool<K, S>>,
}

#[derive(Debug)]
struct Pool<K, S> {
    by_key: HashMap<K, Vec<(S, Instant)>>,
    count: usize,
    last_sweep: Option<Instant>,
}

impl<K, S> Default for IdleStreams<K, S> {
    fn default() -> Self {
        IdleStreams {
            inner: Mutex::new(Pool {
                by_key: HashMap::new(),
                count: 0,
                last_sweep: None,
            }),
        }
    }
}

impl<K: Hash + Eq, S: AsyncRead + Unpin> IdleStreams<K, S> {
    /// A stream kept under `key` that is still open and quiet, if there is one.
    pub fn take(&self, key: &K) -> Option<S> {
        let mut pool = self.inner.lock().ok()?;
        let now = Instant::now();
        pool.sweep(now);
        loop {
            let list = pool.by_key.get_mut(key)?;
            let popped = list.pop();
            if list.is_empty() {
                pool.by_key.remove(key);
            }
            let (mut stream, since) = popped?;
            pool.count -= 1;
            if now.duration_since(since) < IDLE_LIMIT && is_quiet(&mut stream) {
                return Some(stream);
            }
        }
    }

    /// Keeps `stream`, between two exchanges, for the next request under `key`.
    pub fn keep(&self, key: K, stream: S) {
        let Ok(mut pool) = self.inner.lock() else {
            return;
        };
        let now = Instant::now();
        pool.sweep(now);
        if pool.count >= MAX_IDLE {
            return;
        }
        let list = pool.by_key.entry(key).or_default();
        if list.len() >= MAX_PER_KEY {
            return;
        }
        list.push((stream, now));
        pool.count += 1;
    }

    /// Closes the streams kept under `key` (its client connection ended).
    pub fn discard(&self, key: &K) {
        let Ok(mut pool) = self.inner.lock() else {
            return;
        };
        if let Some(list) = pool.by_key.remove(key) {
            pool.count -= list.len();
        }
    }

    /// How many streams are kept now.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |p| p.count)
    }

    /// Whether no stream is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every kept stream (their connection ended).
    pub fn clear(&self) {
        if let Ok(mut pool) = self.inner.lock() {
            pool.by_key.clear();
            pool.count = 0;
        }
    }

    /// Closes the streams idle past [`IDLE_LIMIT`] (also done on the way by `take` and `keep`;
    /// this is for a pool whose traffic stopped).
    pub fn sweep(&self) {
        if let Ok(mut pool) = self.inner.lock() {
            pool.last_sweep = None;
            pool.sweep(Instant::now());
        }
    }
}

impl<K, S> Pool<K, S> {
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
        self.by_key.retain(|_, list| {
            list.retain(|(_, since)| now.duration_since(*since) < IDLE_LIMIT);
            count += list.len();
            !list.is_empty()
        });
        self.count = count;
    }
}

/// Whether nothing can be read from `stream` right now: no bytes and no end. A kept stream
/// that is readable was closed by the far side or carries bytes no request asked for.
fn is_quiet<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
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
    use crate::proto::{Protocol, StreamHeader};
    use crate::stream::{StreamTimeouts, TunnelStream};

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
        let pool: IdleStreams<(StreamHeader, u64), TunnelStream> = IdleStreams::default();
        pool.keep((header(1000), 7), s.pop().expect("stream"));
        assert!(
            pool.take(&(header(1000), 8)).is_none(),
            "another connection"
        );
        assert!(
            pool.take(&(header(1001), 7)).is_none(),
            "another client port"
        );
        assert!(pool.take(&(header(1000), 7)).is_some());
        assert!(pool.take(&(header(1000), 7)).is_none(), "handed out once");
        assert_eq!(pool.len(), 0);

        pool.keep((header(1000), 7), s.pop().expect("stream"));
        assert_eq!(pool.len(), 1);
        pool.discard(&(header(1000), 7));
        assert_eq!(pool.len(), 0);
        assert!(pool.take(&(header(1000), 7)).is_none(), "discarded");
    }

    #[tokio::test]
    async fn a_pool_keeps_at_most_its_share_of_the_stream_limit() {
        let (s, _c, _s) = streams(MAX_IDLE + 1).await;
        let pool: IdleStreams<(StreamHeader, u64), TunnelStream> = IdleStreams::default();
        for (conn, stream) in s.into_iter().enumerate() {
            pool.keep((header(1000), conn as u64), stream);
        }
        assert_eq!(pool.len(), MAX_IDLE);
        assert!(MAX_IDLE * 4 <= MuxConfig::default().max_streams);
    }

    #[tokio::test]
    async fn one_client_connection_keeps_at_most_eight_streams() {
        let (s, _c, _s) = streams(MAX_PER_KEY + 1).await;
        let pool: IdleStreams<(StreamHeader, u64), TunnelStream> = IdleStreams::default();
        for stream in s {
            pool.keep((header(1000), 7), stream);
        }
        assert_eq!(pool.len(), MAX_PER_KEY);
        assert_eq!(MAX_PER_KEY, 8);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sweep_closes_only_the_streams_idle_past_the_limit() {
        let (mut s, _c, _s) = streams(2).await;
        let pool: IdleStreams<(StreamHeader, u64), TunnelStream> = IdleStreams::default();
        pool.keep((header(1000), 7), s.pop().expect("stream"));
        tokio::time::advance(IDLE_LIMIT / 2).await;
        pool.keep((header(1001), 8), s.pop().expect("stream"));
        tokio::time::advance(IDLE_LIMIT / 2).await;
        pool.sweep();
        assert_eq!(pool.len(), 1, "the older stream went, the newer one stays");
        assert!(pool.take(&(header(1000), 7)).is_none());
        assert!(pool.take(&(header(1001), 8)).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_idle_past_the_limit_is_not_handed_out() {
        let (mut s, _c, _s) = streams(1).await;
        let pool: IdleStreams<(StreamHeader, u64), TunnelStream> = IdleStreams::default();
        pool.keep((header(1000), 7), s.pop().expect("stream"));
        tokio::time::advance(IDLE_LIMIT).await;
        assert!(pool.take(&(header(1000), 7)).is_none());
        assert_eq!(pool.len(), 0);
    }
}
