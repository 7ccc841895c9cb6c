//! [`SessionBuilder`]: how an agent dials and authenticates to an edge.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::client::{ClientSession, StartParams};
use crate::codec::write_stream_type;
use crate::control::{self, ControlReader, ControlTx};
use crate::edge_proxy::EdgeProxy;
use crate::error::{CloseReason, Result, TunnelError};
use crate::mux::{Mux, MuxConfig, Role};
use crate::proto::{Auth, AuthOk, ControlMessage, PROTOCOL_VERSION, StreamType};
use crate::stream::StreamTimeouts;
use crate::trace::TraceSink;
use crate::transport::{BoxedIo, Roots, TlsTransport, Transport, client_tls_config};

/// Settings for dialing and authenticating to an edge.
#[derive(Clone)]
pub struct SessionBuilder {
    authtoken: String,
    agent_version: String,
    client_id: String,
    /// The edges to dial, tried in turn from `next`.
    addrs: Vec<String>,
    /// Index into `addrs` of the edge the next dial tries first: the one that last answered,
    /// or the one after it once its session died. Shared by clones, so a reconnecting
    /// session's choice is remembered across attempts.
    next: Arc<AtomicUsize>,
    server_name: Option<String>,
    roots: Roots,
    transport: Option<Arc<dyn Transport>>,
    proxy: Option<EdgeProxy>,
    heartbeat_interval: Duration,
    heartbeat_tolerance: Duration,
    connect_timeout: Duration,
    bind_timeout: Duration,
    mux: MuxConfig,
    stream_timeouts: StreamTimeouts,
    on_trace: Option<TraceSink>,
}

impl std::fmt::Debug for SessionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionBuilder")
            .field("addrs", &self.addrs)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl SessionBuilder {
    /// A builder for `authtoken`, with a fresh random client id and 10 s / 15 s heartbeats.
    pub fn new(authtoken: impl Into<String>) -> Self {
        Self {
            authtoken: authtoken.into(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            client_id: format!("{:032x}", rand::random::<u128>()),
            addrs: vec!["localhost:4443".to_owned()],
            next: Arc::default(),
            server_name: None,
            roots: Roots::System,
            transport: None,
            proxy: None,
            heartbeat_interval: Duration::from_secs(10),
            heartbeat_tolerance: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            bind_timeout: Duration::from_secs(30),
            mux: MuxConfig::default(),
            stream_timeouts: StreamTimeouts::default(),
            on_trace: None,
        }
    }

    /// The edge's tunnel address, `host:port`.
    pub fn connect_addr(mut self, addr: impl Into<String>) -> Self {
        self.addrs = vec![addr.into()];
        self
    }

    /// Several edges of one cluster (`host:port` each): a dial tries them in turn, starting
    /// with the one that answered last, and a session that dies sends the next dial to the
    /// following edge first. An empty list keeps the current address.
    pub fn connect_addrs<I, S>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let addrs: Vec<String> = addrs.into_iter().map(Into::into).collect();
        if !addrs.is_empty() {
            self.addrs = addrs;
        }
        self
    }

    /// The name every edge's certificate must carry (default: the host of the address dialed).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Trust these PEM CA certificates instead of the system roots.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots = Roots::CaPem(pem.into());
        self
    }

    /// Dial through a custom transport instead of TLS over TCP.
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Dial the edge through this HTTP CONNECT or SOCKS5 proxy (see [`EdgeProxy::parse`] and
    /// [`EdgeProxy::from_env`]); ignored with a custom [`transport`](Self::transport).
    pub fn proxy(mut self, proxy: EdgeProxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Heartbeat period, and how long either side waits before declaring the session dead.
    pub fn heartbeat(mut self, interval: Duration, tolerance: Duration) -> Self {
        self.heartbeat_interval = interval;
        self.heartbeat_tolerance = tolerance;
        self
    }

    /// Resume as this client id (the edge lets the newest session of an id take over its names).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// The agent version reported to the edge.
    pub fn agent_version(mut self, version: impl Into<String>) -> Self {
        self.agent_version = version.into();
        self
    }

    /// Time allowed for dialing and authenticating, and for each bind answer.
    pub fn timeouts(mut self, connect: Duration, bind: Duration) -> Self {
        self.connect_timeout = connect;
        self.bind_timeout = bind;
        self
    }

    /// Time allowed for dialing and authenticating (ngrok's `connect_timeout`; default 10 s).
    pub fn connect_timeout(mut self, connect: Duration) -> Self {
        self.connect_timeout = connect;
        self
    }

    /// Multiplexer settings.
    pub fn mux_config(mut self, mux: MuxConfig) -> Self {
        self.mux = mux;
        self
    }

    /// What to do with the policy traces the edge reports for endpoints bound with `inspect`
    /// (see [`crate::trace`]); without one they are dropped.
    pub fn on_trace(mut self, sink: TraceSink) -> Self {
        self.on_trace = Some(sink);
        self
    }

    /// Reaping of idle and half-open proxy streams on the agent side.
    pub fn stream_timeouts(mut self, timeouts: StreamTimeouts) -> Self {
        self.stream_timeouts = timeouts;
        self
    }

    /// Removes the trace sink, for a caller that wraps it.
    pub(crate) fn take_trace_sink(&mut self) -> Option<TraceSink> {
        self.on_trace.take()
    }

    /// The client id sent on every (re)connect.
    pub fn get_client_id(&self) -> &str {
        &self.client_id
    }

    fn tls_transport(&self, addr: &str) -> Result<TlsTransport> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => crate::auth::host_port(addr)
                .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']').to_owned())
                .ok_or_else(|| TunnelError::Tls(format!("bad connect address {addr}")))?,
        };
        let config = client_tls_config(&self.roots)?;
        let tls = TlsTransport::new(addr.to_owned(), &name, config, self.connect_timeout)?;
        Ok(match &self.proxy {
            Some(p) => tls.with_proxy(p.clone()),
            None => tls,
        })
    }

    /// Dials an edge and authenticates: with several addresses, each in turn from the
    /// preferred one until one accepts; a refusal that retrying cannot fix (a bad authtoken)
    /// ends the round at once, since every edge of a cluster shares its authtokens.
    pub async fn connect(&self) -> Result<ClientSession> {
        if let Some(t) = &self.transport {
            let io = t.connect().await?;
            return self.connect_io(io).await;
        }
        let count = self.addrs.len();
        let first = self.next.load(Ordering::Relaxed) % count;
        let mut last = None;
        for i in (0..count).map(|k| (first + k) % count) {
            let addr = &self.addrs[i];
            let attempt = async {
                self.connect_io(self.tls_transport(addr)?.connect().await?)
                    .await
            };
            match attempt.await {
                Ok(session) => {
                    self.next.store(i, Ordering::Relaxed);
                    return Ok(session);
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    if count > 1 {
                        tracing::debug!(edge = %addr, error = %e, "edge did not answer; trying the next");
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(TunnelError::Timeout("dialing the edge")))
    }

    /// The session on the edge dialed last ended: the next dial starts with the following
    /// edge of the list (the one that just failed is likely still down).
    pub(crate) fn move_on(&self) {
        let count = self.addrs.len();
        if count > 1 {
            let at = self.next.load(Ordering::Relaxed);
            self.next.store((at + 1) % count, Ordering::Relaxed);
        }
    }

    /// Authenticates over an already-established connection.
    pub async fn connect_io(&self, io: BoxedIo) -> Result<ClientSession> {
        let (mux, inbound) = Mux::start(io, Role::Client, &self.mux);
        let asked = std::time::Instant::now();
        let result = tokio::time::timeout(self.connect_timeout, self.handshake(&mux)).await;
        // The authentication's round trip is the first latency measured; heartbeats follow.
        let auth_rtt = asked.elapsed();
        let (control_tx, reader, ok) = match result {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                mux.close();
                return Err(e);
            }
            Err(_) => {
                mux.close();
                return Err(TunnelError::Timeout("authenticating to the edge"));
            }
        };
        Ok(ClientSession::start(StartParams {
            session_id: ok.session_id,
            account: ok.account,
            latency: auth_rtt,
            client_id: self.client_id.clone(),
            mux,
            inbound,
            control_tx,
            reader,
            heartbeat: (self.heartbeat_interval, self.heartbeat_tolerance),
            bind_timeout: self.bind_timeout,
            stream_timeouts: self.stream_timeouts,
            on_trace: self.on_trace.clone(),
        }))
    }

    async fn handshake(&self, mux: &Mux) -> Result<(ControlTx, ControlReader, AuthOk)> {
        let mut stream = mux.open().await?;
        write_stream_type(&mut stream, StreamType::Control).await?;
        let (tx, mut reader) = control::split(stream);
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let auth = ControlMessage::Auth(Auth {
            version: PROTOCOL_VERSION,
            authtoken: self.authtoken.clone(),
            agent_version: self.agent_version.clone(),
            client_id: self.client_id.clone(),
            heartbeat_interval_ms: millis(self.heartbeat_interval),
            heartbeat_tolerance_ms: millis(self.heartbeat_tolerance),
        });
        if !tx.send(auth).await {
            return Err(TunnelError::Closed(CloseReason::PeerClosed));
        }
        match reader.next().await? {
            Some(ControlMessage::AuthOk(ok)) if ok.version == PROTOCOL_VERSION => {
                Ok((tx, reader, ok))
            }
            Some(ControlMessage::AuthOk(ok)) => Err(TunnelError::UnsupportedVersion(ok.version)),
            Some(ControlMessage::AuthError(e)) => Err(TunnelError::AuthRejected(e)),
            None => Err(TunnelError::Closed(CloseReason::PeerClosed)),
            Some(other) => Err(TunnelError::Protocol(format!(
                "expected AuthOk, got {other:?}"
            ))),
        }
    }
}
