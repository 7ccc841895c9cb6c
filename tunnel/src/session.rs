//! [`AgentSession`]: the edge's view of one authenticated agent connection, and its control loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::auth::Grant;
use crate::codec::encode_typed_frame;
use crate::control::{ControlReader, ControlTx};
use crate::error::{CloseReason, Result, TunnelError};
use crate::handler::BindHandler;
use crate::idle::{IDLE_LIMIT, IdleStreams};
use crate::mux::Mux;
use crate::proto::{BindError, BindOk, BindRequest, ControlMessage, StreamHeader, StreamType};
use crate::stream::{StreamTimeouts, TunnelStream};

/// One endpoint bound by a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The public URL.
    pub url: String,
    /// What the agent asked for.
    pub request: BindRequest,
}

/// Identity of a session, fixed at authentication.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    pub id: String,
    pub client_id: String,
    pub agent_version: String,
    pub remote_addr: SocketAddr,
    pub grant: Grant,
}

struct Inner {
    info: SessionInfo,
    mux: Mux,
    timeouts: StreamTimeouts,
    control_tx: ControlTx,
    binds: watch::Sender<Vec<Binding>>,
    closed: watch::Sender<Option<CloseReason>>,
    cancel: CancellationToken,
    /// Streams kept between two requests of the same public connection, under their header
    /// and the edge's id of that connection.
    idle: IdleStreams<(StreamHeader, u64), TunnelStream>,
}

/// An authenticated agent connected to the edge. Cheap to clone.
#[derive(Clone)]
pub struct AgentSession {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AgentSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSession")
            .field("id", &self.inner.info.id)
            .field("client_id", &self.inner.info.client_id)
            .field("account", &self.inner.info.grant.account)
            .finish_non_exhaustive()
    }
}

impl AgentSession {
    pub(crate) fn new(
        info: SessionInfo,
        mux: Mux,
        timeouts: StreamTimeouts,
        control_tx: ControlTx,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                info,
                mux,
                timeouts,
                control_tx,
                binds: watch::channel(Vec::new()).0,
                closed: watch::channel(None).0,
                cancel,
                idle: IdleStreams::default(),
            }),
        }
    }

    /// Unique id of this connection.
    pub fn id(&self) -> &str {
        &self.inner.info.id
    }

    /// The agent's stable id across reconnects (for resume and takeover).
    pub fn client_id(&self) -> &str {
        &self.inner.info.client_id
    }

    /// The account the authtoken belongs to.
    pub fn account(&self) -> &str {
        &self.inner.info.grant.account
    }

    /// What this session may bind.
    pub fn grant(&self) -> &Grant {
        &self.inner.info.grant
    }

    /// The agent's software version.
    pub fn agent_version(&self) -> &str {
        &self.inner.info.agent_version
    }

    /// The agent's network address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.inner.info.remote_addr
    }

    /// The session's current binds; `changed().await` on it to follow binds and unbinds.
    pub fn binds(&self) -> watch::Receiver<Vec<Binding>> {
        self.inner.binds.subscribe()
    }

    /// Opens a proxy stream to the agent for one public connection; the header goes first.
    pub async fn open_stream(&self, header: &StreamHeader) -> Result<TunnelStream> {
        if let Some(reason) = self.close_reason() {
            return Err(TunnelError::Closed(reason));
        }
        let mut stream = self.inner.mux.open().await?;
        let frame = encode_typed_frame(StreamType::Proxy, header)?;
        stream.write_all(&frame).await?;
        Ok(TunnelStream::new(stream, self.inner.timeouts))
    }

    /// A proxy stream for a request with `header` on the edge's client connection `conn`:
    /// one kept by [`Self::keep_stream`] for the same header and connection if it is still
    /// open and quiet (`true`), else a new one (`false`).
    pub async fn stream_for(
        &self,
        header: &StreamHeader,
        conn: u64,
    ) -> Result<(TunnelStream, bool)> {
        if let Some(stream) = self.inner.idle.take(&(header.clone(), conn)) {
            return Ok((stream, true));
        }
        Ok((self.open_stream(header).await?, false))
    }

    /// Keeps `stream`, opened with `header` and now between two exchanges (its request sent
    /// whole, its response read whole, neither side closing), for the next request with the
    /// same header on client connection `conn`. Dropped instead when the session has ended
    /// or keeps enough already.
    pub fn keep_stream(&self, header: StreamHeader, conn: u64, stream: TunnelStream) {
        if self.close_reason().is_none() {
            self.inner.idle.keep((header, conn), stream);
        }
    }

    /// Closes the streams kept for `header` on client connection `conn` (it ended).
    pub fn discard_kept(&self, header: &StreamHeader, conn: u64) {
        self.inner.idle.discard(&(header.clone(), conn));
    }

    /// How many streams are kept for a next request now.
    pub fn idle_streams(&self) -> usize {
        self.inner.idle.len()
    }

    /// Why the session ended, if it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.closed.borrow().clone()
    }

    /// Resolves when the session ends, with the reason.
    pub async fn closed(&self) -> CloseReason {
        let mut rx = self.inner.closed.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or(CloseReason::Local),
            Err(_) => CloseReason::Local,
        }
    }

    /// Tells the agent why (`GoAway`) and closes the session, e.g. when a newer session of the
    /// same account takes over its names.
    pub fn close(&self, code: &str, message: &str) {
        let _ = self.inner.control_tx.try_send(ControlMessage::GoAway {
            code: code.to_owned(),
            message: message.to_owned(),
        });
        self.inner.cancel.cancel();
    }

    /// Hands the agent a request's policy trace (see [`crate::trace`]): best effort, dropped
    /// when the control queue is nearly full (the places left are kept for replies such as
    /// heartbeat acks) or the session has ended.
    pub fn send_trace(&self, report: crate::trace::TraceReport) {
        if !self
            .inner
            .control_tx
            .try_send_best_effort(ControlMessage::Trace(Box::new(report)))
        {
            tracing::debug!(session = %self.id(), "control queue full or closed; trace dropped");
        }
    }

    fn send(&self, msg: ControlMessage) {
        if !self.inner.control_tx.try_send(msg) {
            tracing::warn!(session = %self.id(), "control queue full or closed; dropping reply");
        }
    }

    async fn handle_bind(&self, handler: &dyn BindHandler, request_id: u64, req: BindRequest) {
        let refuse = |code: &str, message: String| {
            ControlMessage::BindError(BindError {
                request_id,
                code: code.to_owned(),
                message,
            })
        };
        let grant = self.grant();
        let host = req
            .url
            .as_deref()
            .and_then(crate::auth::host_port)
            .map(|(h, _)| h);
        let binding = match crate::binding::resolve(&req.bindings, host.as_deref()) {
            Ok(b) => b,
            Err(e) => return self.send(refuse(e.code, e.message)),
        };
        // Internal names live in the account's own namespace and are never public, so the
        // token's allow list (which governs public names and ports) does not apply to them.
        let public = binding == crate::binding::EndpointBinding::Public;
        if public
            && let Some(url) = &req.url
            && !grant.permits(req.protocol, url)
        {
            let msg = format!("this authtoken may not bind {url}");
            return self.send(refuse("ERR_SLUICE_BIND_FORBIDDEN", msg));
        }
        let reply = match handler.bind(self, &req).await {
            Err(rej) => refuse(&rej.code, rej.message),
            Ok(url) if public && !grant.permits(req.protocol, &url) => {
                handler.unbind(self, &url).await;
                refuse(
                    "ERR_SLUICE_BIND_FORBIDDEN",
                    format!("this authtoken may not bind {url}"),
                )
            }
            Ok(url) => {
                self.inner.binds.send_modify(|b| {
                    b.retain(|x| x.url != url);
                    b.push(Binding {
                        url: url.clone(),
                        request: req,
                    });
                });
                ControlMessage::BindOk(BindOk { request_id, url })
            }
        };
        self.send(reply);
    }

    async fn handle_unbind(&self, handler: &dyn BindHandler, url: String) {
        let mut found = false;
        self.inner.binds.send_if_modified(|b| {
            let before = b.len();
            b.retain(|x| x.url != url);
            found = b.len() != before;
            found
        });
        if found {
            handler.unbind(self, &url).await;
        }
    }

    /// Runs the control loop until the session ends; then closes the mux and notifies.
    pub(crate) async fn run(
        self,
        mut reader: ControlReader,
        handler: Arc<dyn BindHandler>,
        tolerance: Duration,
        max_concurrent_binds: usize,
        server_cancel: CancellationToken,
    ) {
        let binds_in_flight = Arc::new(Semaphore::new(max_concurrent_binds.max(1)));
        let mut deadline = Instant::now() + tolerance;
        let mut sweep = tokio::time::interval(IDLE_LIMIT / 2);
        let reason = loop {
            tokio::select! {
                _ = self.inner.cancel.cancelled() => break CloseReason::Local,
                _ = sweep.tick() => self.inner.idle.sweep(),
                _ = server_cancel.cancelled() => break CloseReason::ServerShutdown,
                _ = tokio::time::sleep_until(deadline) => break CloseReason::HeartbeatTimeout,
                _ = self.inner.mux.closed() => break CloseReason::PeerClosed,
                msg = reader.next() => {
                    let msg = match msg {
                        Ok(Some(m)) => m,
                        Ok(None) => break CloseReason::PeerClosed,
                        Err(e) => break CloseReason::Error(e.to_string()),
                    };
                    deadline = Instant::now() + tolerance;
                    match msg {
                        ControlMessage::Heartbeat => self.send(ControlMessage::HeartbeatAck),
                        ControlMessage::Bind(b) => {
                            let Ok(permit) = binds_in_flight.clone().try_acquire_owned() else {
                                self.send(ControlMessage::BindError(BindError {
                                    request_id: b.request_id,
                                    code: "ERR_SLUICE_BIND_BUSY".into(),
                                    message: "too many binds in flight; retry".into(),
                                }));
                                continue;
                            };
                            let (session, handler) = (self.clone(), handler.clone());
                            tokio::spawn(async move {
                                session.handle_bind(handler.as_ref(), b.request_id, b.request).await;
                                drop(permit);
                            });
                        }
                        ControlMessage::Unbind { url } => {
                            self.handle_unbind(handler.as_ref(), url).await;
                        }
                        ControlMessage::GoAway { code, message } => {
                            break CloseReason::GoAway { code, message };
                        }
                        other => {
                            let what = format!("unexpected control message from agent: {other:?}");
                            break CloseReason::Error(what);
                        }
                    }
                }
            }
        };
        tracing::debug!(session = %self.id(), %reason, "agent session closed");
        if reason == CloseReason::ServerShutdown {
            self.send(ControlMessage::GoAway {
                code: "ERR_SLUICE_SERVER_SHUTDOWN".into(),
                message: "the edge is shutting down".into(),
            });
        }
        self.inner.closed.send_replace(Some(reason));
        // Let a final GoAway reach the mux before the connection goes.
        let flush = self.inner.control_tx.flush();
        let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
        self.inner.mux.close();
        self.inner.idle.clear();
        handler.session_closed(&self).await;
    }
}
