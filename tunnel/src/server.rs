//! [`TunnelServer`]: the edge's tunnel listener — TLS, mux, authentication, then one
//! [`AgentSession`] per agent connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::auth::{AuthRequest, Authenticator};
use crate::codec::read_stream_type;
use crate::control::{self, ControlTx};
use crate::error::{CloseReason, Result, TunnelError};
use crate::handler::BindHandler;
use crate::mux::{Mux, MuxConfig, Role};
use crate::proto::{AuthError, AuthOk, ControlMessage, PROTOCOL_VERSION, StreamType};
use crate::session::{AgentSession, SessionInfo};
use crate::stream::StreamTimeouts;
use crate::transport::AsyncIo;

/// Tuning of a [`TunnelServer`].
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Multiplexer settings per agent connection.
    pub mux: MuxConfig,
    /// Reaping of idle and half-open proxy streams.
    pub stream_timeouts: StreamTimeouts,
    /// Time allowed for TLS, the control stream and `Auth`.
    pub handshake_timeout: Duration,
    /// Smallest heartbeat tolerance an agent may ask for.
    pub min_heartbeat_tolerance: Duration,
    /// Largest heartbeat tolerance an agent may ask for.
    pub max_heartbeat_tolerance: Duration,
    /// Authenticated sessions waiting for [`TunnelServer::accept`].
    pub session_backlog: usize,
    /// Binds of one session handled at the same time; more are refused with a retryable code.
    pub max_concurrent_binds: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            mux: MuxConfig::default(),
            stream_timeouts: StreamTimeouts::default(),
            handshake_timeout: Duration::from_secs(10),
            min_heartbeat_tolerance: Duration::from_millis(50),
            max_heartbeat_tolerance: Duration::from_secs(300),
            session_backlog: 64,
            max_concurrent_binds: 8,
        }
    }
}

struct Shared {
    auth: Arc<dyn Authenticator>,
    handler: Arc<dyn BindHandler>,
    settings: ServerSettings,
    sessions_tx: mpsc::Sender<AgentSession>,
    cancel: CancellationToken,
}

/// The edge side of the tunnel protocol.
pub struct TunnelServer {
    shared: Arc<Shared>,
    sessions_rx: Mutex<mpsc::Receiver<AgentSession>>,
    local_addr: Option<SocketAddr>,
}

impl TunnelServer {
    /// A server with no listener yet (see [`listen`](Self::listen) and
    /// [`serve_connection`](Self::serve_connection)).
    pub fn new(
        auth: Arc<dyn Authenticator>,
        handler: Arc<dyn BindHandler>,
        settings: ServerSettings,
    ) -> Self {
        let (sessions_tx, sessions_rx) = mpsc::channel(settings.session_backlog.max(1));
        Self {
            shared: Arc::new(Shared {
                auth,
                handler,
                settings,
                sessions_tx,
                cancel: CancellationToken::new(),
            }),
            sessions_rx: Mutex::new(sessions_rx),
            local_addr: None,
        }
    }

    /// Listens on `addr` with TLS and default settings.
    pub async fn bind(
        addr: impl tokio::net::ToSocketAddrs,
        tls: Arc<ServerConfig>,
        auth: Arc<dyn Authenticator>,
        handler: Arc<dyn BindHandler>,
    ) -> Result<Self> {
        Self::bind_with(addr, tls, auth, handler, ServerSettings::default()).await
    }

    /// Listens on `addr` with TLS and the given settings.
    pub async fn bind_with(
        addr: impl tokio::net::ToSocketAddrs,
        tls: Arc<ServerConfig>,
        auth: Arc<dyn Authenticator>,
        handler: Arc<dyn BindHandler>,
        settings: ServerSettings,
    ) -> Result<Self> {
        let mut server = Self::new(auth, handler, settings);
        server.local_addr = Some(server.listen(addr, tls).await?);
        Ok(server)
    }

    /// The address [`bind`](Self::bind) listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Accepts TLS connections on `addr` until [`shutdown`](Self::shutdown).
    pub async fn listen(
        &self,
        addr: impl tokio::net::ToSocketAddrs,
        tls: Arc<ServerConfig>,
    ) -> Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, remote) = tokio::select! {
                    _ = shared.cancel.cancelled() => return,
                    r = listener.accept() => match r {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::warn!(error = %e, "tunnel accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let (shared, acceptor) = (shared.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let timeout = shared.settings.handshake_timeout;
                    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => serve(shared, tls, remote).await,
                        Ok(Err(e)) => tracing::debug!(%remote, error = %e, "tunnel TLS failed"),
                        Err(_) => tracing::debug!(%remote, "tunnel TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(local)
    }

    /// Runs the protocol over an already-established connection (TLS done, or an in-process
    /// pipe for an embedded edge).
    pub fn serve_connection(&self, io: impl AsyncIo, remote_addr: SocketAddr) {
        tokio::spawn(serve(self.shared.clone(), io, remote_addr));
    }

    /// The next authenticated session; `None` after shutdown.
    pub async fn accept(&self) -> Option<AgentSession> {
        let mut rx = self.sessions_rx.lock().await;
        tokio::select! {
            s = rx.recv() => s,
            _ = self.shared.cancel.cancelled() => None,
        }
    }

    /// Stops listening and closes every session (agents get `GoAway`).
    pub fn shutdown(&self) {
        self.shared.cancel.cancel();
    }
}

impl Drop for TunnelServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Sends `AuthError`, lets the writer flush and half-close, then closes the connection.
async fn refuse(mux: Mux, control_tx: ControlTx, code: &str, message: String) {
    let msg = ControlMessage::AuthError(AuthError {
        code: code.to_owned(),
        message,
    });
    control_tx.send(msg).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), control_tx.flush()).await;
    mux.close();
}

async fn serve(shared: Arc<Shared>, io: impl AsyncIo, remote_addr: SocketAddr) {
    let settings = &shared.settings;
    let (mux, mut inbound) = Mux::start(io, Role::Server, &settings.mux);
    let handshake = async {
        let mut stream = inbound
            .recv()
            .await
            .ok_or(TunnelError::Closed(CloseReason::PeerClosed))?;
        if read_stream_type(&mut stream).await? != StreamType::Control {
            return Err(TunnelError::Protocol(
                "first stream must be the control stream".into(),
            ));
        }
        let (tx, mut reader) = control::split(stream);
        match reader.next().await? {
            Some(ControlMessage::Auth(auth)) => Ok((tx, reader, auth)),
            other => Err(TunnelError::Protocol(format!(
                "expected Auth, got {other:?}"
            ))),
        }
    };
    let (control_tx, reader, auth) =
        match tokio::time::timeout(settings.handshake_timeout, handshake).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::debug!(%remote_addr, error = %e, "tunnel handshake failed");
                return mux.close();
            }
            Err(_) => {
                tracing::debug!(%remote_addr, "tunnel handshake timed out");
                return mux.close();
            }
        };
    if auth.version != PROTOCOL_VERSION {
        let msg = format!(
            "protocol version {} unsupported (want {PROTOCOL_VERSION})",
            auth.version
        );
        return refuse(mux, control_tx, "ERR_SLUICE_UNSUPPORTED_VERSION", msg).await;
    }
    let request = AuthRequest {
        authtoken: auth.authtoken.clone(),
        agent_version: auth.agent_version.clone(),
        client_id: auth.client_id.clone(),
        remote_addr,
    };
    let grant = match shared.auth.authenticate(&request).await {
        Ok(g) => g,
        Err(rej) => {
            return refuse(mux, control_tx, &rej.code, rej.message).await;
        }
    };
    let tolerance = Duration::from_millis(auth.heartbeat_tolerance_ms).clamp(
        settings.min_heartbeat_tolerance,
        settings.max_heartbeat_tolerance,
    );
    let info = SessionInfo {
        id: random_id(),
        client_id: auth.client_id,
        agent_version: auth.agent_version,
        remote_addr,
        grant,
    };
    let ok = ControlMessage::AuthOk(AuthOk {
        version: PROTOCOL_VERSION,
        session_id: info.id.clone(),
        client_id: info.client_id.clone(),
        heartbeat_tolerance_ms: u64::try_from(tolerance.as_millis()).unwrap_or(u64::MAX),
        account: info.grant.account.clone(),
    });
    if !control_tx.send(ok).await {
        return mux.close();
    }
    let session = AgentSession::new(
        info,
        mux.clone(),
        settings.stream_timeouts,
        control_tx,
        shared.cancel.child_token(),
    );
    // Agents open no streams after the control stream; drop (reset) any they try.
    tokio::spawn(async move { while inbound.recv().await.is_some() {} });
    let run = session.clone().run(
        reader,
        shared.handler.clone(),
        tolerance,
        settings.max_concurrent_binds,
        shared.cancel.clone(),
    );
    let handle = tokio::spawn(run);
    tokio::select! {
        r = shared.sessions_tx.send(session.clone()) => if r.is_err() { session.close("ERR_SLUICE_SERVER_SHUTDOWN", "edge stopped") },
        _ = session.closed() => {}
    }
    let _ = handle.await;
}
