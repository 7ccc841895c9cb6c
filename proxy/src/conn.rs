//! Client connections: the record the edge keeps of each one ([`ConnRecord`]: addresses,
//! TLS facts, bytes, requests, and per endpoint the `on_tcp_connect` outcome), made by the
//! accept loop and closed into `tcp_connection_closed.v0`. Requests reach it through the
//! handle their session carries ([`crate::conn_handle`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use sluice_policy::{
    Clock, ConnInfo, Connection, InternalRouting, TcpVerdict, TlsHandshake, TlsInfo, TlsTermination,
};

use crate::config::Endpoint;
use crate::tunnel::Lease;

/// Policy state of one endpoint on one connection: `on_tcp_connect` ran once, with this
/// outcome.
#[derive(Clone)]
pub struct EndpointConn {
    /// The connection as the policy saw it.
    pub conn: Arc<Connection>,
    /// `on_tcp_connect` closed the connection.
    pub closed: bool,
}

impl std::fmt::Debug for EndpointConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConn")
            .field("endpoint", &self.conn.endpoint.id)
            .field("closed", &self.closed)
            .finish()
    }
}

/// One client connection.
#[derive(Debug)]
pub struct ConnRecord {
    /// This edge's id of the connection: unique in the process (what a stream to an agent is
    /// kept under, besides the client's address).
    pub id: u64,
    /// Client address.
    pub client: SocketAddr,
    /// Local address the client connected to.
    pub server: SocketAddr,
    /// TLS facts (https listener).
    pub tls: Option<TlsInfo>,
    /// When it was accepted.
    pub started: Instant,
    /// Wall-clock time it was accepted.
    pub started_at: SystemTime,
    /// Bytes read from the client.
    pub bytes_in: AtomicU64,
    /// Bytes written to the client.
    pub bytes_out: AtomicU64,
    /// Requests started on it.
    pub requests: AtomicU64,
    pub(crate) header_gen: AtomicU64,
    pub(crate) awaiting_header: AtomicBool,
    /// TLS facts of the edge's own handshake when `terminate-tls` ended a TLS endpoint's
    /// TLS (`tls` holds only the SNI read before it).
    pub terminated_tls: OnceLock<TlsInfo>,
    /// The HTTPS endpoint named by the SNI whose `on_tcp_connect` ran before the handshake;
    /// requests whose Host is the SNI go to it (the same pool member).
    pub https_endpoint: Option<Arc<Endpoint>>,
    /// The `terminate-tls` options the https listener's handshake used, when an HTTPS
    /// endpoint's `on_tcp_connect` gave some before it.
    pub https_termination: OnceLock<Arc<TlsTermination>>,
    /// Why the edge closed the connection, when it was not the client or the policy (a
    /// failed terminating handshake, …).
    pub close_reason: OnceLock<String>,
    /// Per endpoint id: the policy's connection state (`on_tcp_connect` runs once per
    /// connection and endpoint; the lock is held while it runs, so HTTP/2 streams wait).
    pub endpoints: tokio::sync::Mutex<HashMap<String, EndpointConn>>,
    /// Where streams to agents are kept for this connection's next request: closed with it.
    kept_streams: Mutex<Vec<Arc<dyn Lease>>>,
}

impl ConnRecord {
    /// A new connection's record.
    pub fn new(client: SocketAddr, server: SocketAddr, tls: Option<TlsInfo>) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        ConnRecord {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            client,
            server,
            tls,
            started: Instant::now(),
            started_at: SystemTime::now(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            header_gen: AtomicU64::new(0),
            awaiting_header: AtomicBool::new(false),
            terminated_tls: OnceLock::new(),
            https_endpoint: None,
            https_termination: OnceLock::new(),
            close_reason: OnceLock::new(),
            endpoints: tokio::sync::Mutex::new(HashMap::new()),
            kept_streams: Mutex::new(Vec::new()),
        }
    }

    /// Remembers that `lease` kept its stream for this connection's next request.
    pub fn stream_kept(&self, lease: Arc<dyn Lease>) {
        if let Ok(mut kept) = self.kept_streams.lock()
            && !kept.iter().any(|k| k.same_place(lease.as_ref()))
        {
            kept.push(lease);
        }
    }

    /// Closes the streams to agents kept for this connection (it ended).
    pub fn close_kept_streams(&self) {
        let kept = self
            .kept_streams
            .lock()
            .map(|mut k| std::mem::take(&mut *k))
            .unwrap_or_default();
        for lease in kept {
            lease.discard_kept();
        }
    }

    /// An HTTP/1 request header is awaited next (its timeout starts at its first byte).
    pub fn await_header(&self) {
        self.header_gen.fetch_add(1, Ordering::AcqRel);
        self.awaiting_header.store(true, Ordering::Release);
    }

    /// The request header arrived.
    pub fn header_done(&self) {
        self.awaiting_header.store(false, Ordering::Release);
    }

    /// Runs `ep`'s `on_tcp_connect` on this connection and records the outcome (it goes into
    /// `tcp_connection_closed.v0`). For TCP and TLS endpoints, whose connections carry one
    /// endpoint (or a chain of them, with `forward-internal`; `internal` says what it may
    /// reach) and no HTTP. `handshake`: the listener's, for `terminate-tls` to end the
    /// client's TLS while the phase runs.
    pub async fn tcp_connect(
        &self,
        ep: &Endpoint,
        clock: Arc<dyn Clock>,
        internal: Option<InternalRouting>,
        handshake: Option<Arc<dyn TlsHandshake>>,
    ) -> TcpDecision {
        let info = ConnInfo {
            client: self.client,
            server: self.server,
            tls: self.terminated_tls.get().or(self.tls.as_ref()).cloned(),
            started: self.started_at,
        };
        let mut conn = Connection::new(info, ep.info.clone(), clock);
        conn.internal = internal;
        conn.handshake = handshake;
        let closed = ep.policy.on_tcp_connect(&mut conn).await == TcpVerdict::Close;
        let terminate_tls = conn.tls_termination.clone();
        let forward_to = conn.forward_to.clone();
        self.endpoints.lock().await.insert(
            ep.info.id.clone(),
            EndpointConn {
                conn: Arc::new(conn),
                closed,
            },
        );
        if closed {
            TcpDecision::Closed
        } else {
            TcpDecision::Open {
                terminate_tls,
                forward_to,
            }
        }
    }
}

/// What `on_tcp_connect` decided for a TCP or TLS endpoint's connection.
#[derive(Debug)]
pub enum TcpDecision {
    /// The policy closed it.
    Closed,
    /// It goes on; `terminate_tls` when a `terminate-tls` action asked the edge to end the
    /// client's TLS first.
    Open {
        /// The termination options.
        terminate_tls: Option<Arc<TlsTermination>>,
        /// The internal endpoint (canonical URL) `forward-internal` handed the connection to.
        forward_to: Option<String>,
    },
}
