//! The multiplexing layer: many streams over one connection (yamux), driven by one task.
//!
//! yamux's `Connection` is poll-based and must be polled from one place; [`Mux::start`] spawns
//! that driver and hands out a cloneable [`Mux`] handle to open streams plus a bounded receiver of
//! inbound streams. When the inbound backlog is full a new stream is reset rather than queued.

use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};
use tokio_util::sync::CancellationToken;

use crate::coalesce::{CoalescedIo, Flusher, coalesce};
use crate::error::{CloseReason, Result, TunnelError};

/// A raw multiplexed stream (tokio I/O traits); half-close via `shutdown`.
pub type MuxStream = Compat<yamux::Stream>;

/// yamux's per-stream starting window (from its spec).
const BASE_WINDOW: usize = 256 * 1024;

/// Which end of the connection this is (decides stream id parity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The dialing side (the agent).
    Client,
    /// The listening side (the edge).
    Server,
}

/// Tuning of the multiplexer.
#[derive(Debug, Clone)]
pub struct MuxConfig {
    /// Most concurrent streams on one connection.
    pub max_streams: usize,
    /// Receive-window budget shared by all streams beyond each stream's 256 KiB base. A single
    /// stream's window auto-tunes (doubling, yamux 0.13) up to base + this, so this bounds both
    /// single-stream throughput (window / RTT) and per-connection buffering.
    pub window_budget: usize,
    /// Inbound streams waiting to be accepted before new ones are reset.
    pub accept_backlog: usize,
    /// How long a graceful close may take before the connection is dropped.
    pub close_timeout: Duration,
}

impl Default for MuxConfig {
    fn default() -> Self {
        Self {
            max_streams: 512,
            window_budget: 32 * 1024 * 1024,
            accept_backlog: 256,
            close_timeout: Duration::from_secs(2),
        }
    }
}

impl MuxConfig {
    fn yamux(&self) -> yamux::Config {
        let max_streams = self.max_streams.max(1);
        let mut cfg = yamux::Config::default();
        // Window first: yamux asserts window >= streams * base after each setter.
        cfg.set_max_connection_receive_window(Some(
            max_streams * BASE_WINDOW + self.window_budget.max(BASE_WINDOW),
        ));
        cfg.set_max_num_streams(max_streams);
        cfg.set_split_send_size(64 * 1024);
        cfg
    }
}

type OpenReply = oneshot::Sender<Result<MuxStream>>;

/// Cloneable handle on a multiplexed connection.
#[derive(Debug, Clone)]
pub struct Mux {
    open_tx: mpsc::Sender<OpenReply>,
    cancel: CancellationToken,
    closed: watch::Receiver<bool>,
}

impl Mux {
    /// Starts multiplexing over `io`; returns the handle and the bounded inbound-stream queue.
    pub fn start<T>(io: T, role: Role, config: &MuxConfig) -> (Mux, mpsc::Receiver<MuxStream>)
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let mode = match role {
            Role::Client => yamux::Mode::Client,
            Role::Server => yamux::Mode::Server,
        };
        let (io, flusher) = coalesce(io);
        let conn = yamux::Connection::new(io.compat(), config.yamux(), mode);
        let (open_tx, open_rx) = mpsc::channel(64);
        let (inbound_tx, inbound_rx) = mpsc::channel(config.accept_backlog.max(1));
        let (closed_tx, closed) = watch::channel(false);
        let cancel = CancellationToken::new();
        let driver = Driver {
            conn,
            flusher,
            open_rx,
            pending: None,
            inbound_tx,
        };
        tokio::spawn(driver.run(cancel.clone(), closed_tx, config.close_timeout));
        (
            Mux {
                open_tx,
                cancel,
                closed,
            },
            inbound_rx,
        )
    }

    /// Opens a new outbound stream.
    pub async fn open(&self) -> Result<MuxStream> {
        let (tx, rx) = oneshot::channel();
        let closed = || TunnelError::Closed(CloseReason::PeerClosed);
        self.open_tx.send(tx).await.map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Starts a graceful close of the connection (idempotent).
    pub fn close(&self) {
        self.cancel.cancel();
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Resolves when the connection has ended, for whatever reason.
    pub async fn closed(&self) {
        let mut rx = self.closed.clone();
        // An error means the driver is gone, which also means closed.
        let _ = rx.wait_for(|c| *c).await;
    }
}

struct Driver<T> {
    conn: yamux::Connection<Compat<CoalescedIo<T>>>,
    /// Sends what yamux wrote once it has nothing left to do (see [`crate::coalesce`]).
    flusher: Flusher<T>,
    open_rx: mpsc::Receiver<OpenReply>,
    pending: Option<OpenReply>,
    inbound_tx: mpsc::Sender<MuxStream>,
}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Driver<T> {
    async fn run(
        mut self,
        cancel: CancellationToken,
        closed_tx: watch::Sender<bool>,
        close_timeout: Duration,
    ) {
        let result = tokio::select! {
            r = poll_fn(|cx| self.step(cx)) => r,
            _ = cancel.cancelled() => Ok(()),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "mux connection ended");
        }
        let conn = &mut self.conn;
        let _ = tokio::time::timeout(close_timeout, poll_fn(|cx| conn.poll_close(cx))).await;
        if let Some(tx) = self.pending.take() {
            let _ = tx.send(Err(TunnelError::Closed(CloseReason::PeerClosed)));
        }
        let _ = closed_tx.send(true);
    }

    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), yamux::ConnectionError>> {
        loop {
            if self.pending.is_none() {
                match self.open_rx.poll_recv(cx) {
                    Poll::Ready(Some(tx)) => self.pending = Some(tx),
                    // Every handle is gone: nobody can use this connection any more.
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Pending => {}
                }
            }
            if let Some(tx) = self.pending.take() {
                if tx.is_closed() {
                    // The requester gave up; look at the next one.
                    continue;
                }
                match self.conn.poll_new_outbound(cx) {
                    Poll::Ready(Ok(s)) => {
                        let _ = tx.send(Ok(s.compat()));
                        continue;
                    }
                    Poll::Ready(Err(e)) => {
                        let _ = tx.send(Err(TunnelError::Mux(e.to_string())));
                        return Poll::Ready(Err(e));
                    }
                    Poll::Pending => self.pending = Some(tx),
                }
            }
            match self.conn.poll_next_inbound(cx) {
                Poll::Ready(Some(Ok(s))) => {
                    if self.inbound_tx.try_send(s.compat()).is_err() {
                        tracing::warn!("inbound stream backlog full; resetting new stream");
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    // Everything ready has been written into the buffer: send it as one piece.
                    // Pending here means the transport is full; its waker brings us back.
                    return match self.flusher.poll_flush(cx) {
                        Poll::Ready(Err(e)) => Poll::Ready(Err(yamux::ConnectionError::Io(e))),
                        _ => Poll::Pending,
                    };
                }
            }
        }
    }
}
