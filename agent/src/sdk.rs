//! A thin convenience API over the tunnel: connect an [`Agent`] (one session to an edge that
//! reconnects by itself and rebinds the same URLs), bind [`Endpoint`]s on it, and either accept
//! each endpoint's public connections as tokio streams ([`Endpoint::accept`]) or forward them to
//! a local URL ([`Endpoint::forward_to`]).
//!
//! Behind a corporate proxy, give the builder one, as ngrok's SDK takes a proxy URL:
//! `SessionBuilder::proxy(EdgeProxy::parse("http://user:pass@proxy:3128")?)` (HTTP CONNECT;
//! `socks5://` and `socks5h://` for SOCKS5), or `EdgeProxy::from_env(edge_host)?` for the one
//! `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY` name, as the `sluice` agent reads them. A proxy that
//! refuses the credentials or the destination fails [`Agent::connect`] at once, saying so.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sluice_tunnel::{
    Backoff, BindRequest, ConnectionState, ReconnectingSession, SessionBuilder, StreamHeader,
    TunnelError, TunnelStream,
};
use tokio::sync::{mpsc, watch};

use crate::forward::{AgentTls, ForwardError, Forwarder, HttpOptions};
use crate::upstream::{EndpointKind, Upstream, UpstreamError};

/// One public connection of an endpoint: who it came from and the byte stream.
pub type Connection = (StreamHeader, TunnelStream);

/// What can go wrong in the convenience API.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The tunnel failed (connect, auth, bind refused, session closed…).
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
    /// The upstream address given to [`Endpoint::forward_to`] is invalid.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The forwarder cannot serve that upstream.
    #[error(transparent)]
    Forward(#[from] ForwardError),
}

/// How long a stream for a URL not (yet) registered waits for its endpoint: a bind's answer
/// and the first connection can race.
const ROUTE_GRACE: Duration = Duration::from_secs(2);
/// Connections queued per endpoint before the tunnel is back-pressured.
const QUEUE: usize = 128;

type Routes = Arc<Mutex<HashMap<String, mpsc::Sender<Connection>>>>;

fn lock(routes: &Routes) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<Connection>>> {
    routes.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An agent: one session to an edge, kept alive across failures (capped, jittered backoff,
/// same client id, same URLs rebound). Closed when dropped.
pub struct Agent {
    session: Arc<ReconnectingSession>,
    routes: Routes,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").finish_non_exhaustive()
    }
}

impl Agent {
    /// Connects with the default backoff and waits for the first session.
    pub async fn connect(builder: SessionBuilder) -> Result<Agent, SdkError> {
        Self::connect_with(builder, Backoff::default()).await
    }

    /// Connects with `backoff` between attempts and waits for the first session; fails when
    /// the edge refuses for good (e.g. a bad authtoken).
    pub async fn connect_with(
        builder: SessionBuilder,
        backoff: Backoff,
    ) -> Result<Agent, SdkError> {
        let agent = Self::start(builder, backoff);
        agent.session.wait_connected().await?;
        Ok(agent)
    }

    /// Starts connecting in the background without waiting; follow [`state`](Self::state).
    pub fn start(builder: SessionBuilder, backoff: Backoff) -> Agent {
        let session = Arc::new(ReconnectingSession::start(builder, backoff));
        let routes: Routes = Arc::default();
        tokio::spawn(dispatch(session.clone(), routes.clone()));
        Agent { session, routes }
    }

    /// Waits until a session is up, returning its id; fails if the agent gave up or closed.
    pub async fn wait_connected(&self) -> Result<String, SdkError> {
        Ok(self.session.wait_connected().await?)
    }

    /// The session's state (connecting, connected, waiting to retry…), to watch for changes.
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.session.state()
    }

    /// A probe of the current session: the edge's round-trip latency and the authtoken's
    /// account, or `None` while not connected. It outlives borrows of the agent, for tasks
    /// that report the session's health.
    pub fn probe(&self) -> SessionProbe {
        SessionProbe {
            session: self.session.clone(),
        }
    }

    /// Binds an endpoint (waiting for a session if there is none right now); the edge's answer
    /// is its public URL. The bind is restored on every reconnect.
    pub async fn bind(&self, request: BindRequest) -> Result<Endpoint, SdkError> {
        let kind = EndpointKind::from(request.protocol);
        let ok = self.session.bind(request).await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        lock(&self.routes).insert(ok.url.clone(), tx);
        Ok(Endpoint {
            url: ok.url,
            kind,
            rx,
        })
    }

    /// Unbinds `url` on the edge and stops restoring it.
    pub async fn unbind(&self, url: &str) -> Result<(), SdkError> {
        lock(&self.routes).remove(url);
        self.session.unbind(url).await?;
        Ok(())
    }

    /// Stops reconnecting and closes the session; every endpoint's `accept` then ends.
    pub fn close(&self) {
        self.session.close();
        lock(&self.routes).clear();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.close();
    }
}

/// Reads the health of an [`Agent`]'s current session (see [`Agent::probe`]). Cheap to clone.
#[derive(Clone)]
pub struct SessionProbe {
    session: Arc<ReconnectingSession>,
}

impl std::fmt::Debug for SessionProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionProbe").finish_non_exhaustive()
    }
}

impl SessionProbe {
    /// The last round trip to the edge and the account, or `None` while not connected.
    pub async fn read(&self) -> Option<(Duration, String)> {
        let current = self.session.current().await?;
        Some((current.latency(), current.account().to_owned()))
    }
}

/// Hands each accepted stream to its endpoint's queue, by the URL in the stream header.
async fn dispatch(session: Arc<ReconnectingSession>, routes: Routes) {
    while let Some((header, stream)) = session.accept().await {
        let tx = lock(&routes).get(&header.endpoint_url).cloned();
        match tx {
            Some(tx) => {
                let _ = tx.send((header, stream)).await;
            }
            None => {
                let routes = routes.clone();
                tokio::spawn(async move {
                    let start = Instant::now();
                    while start.elapsed() < ROUTE_GRACE {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let tx = lock(&routes).get(&header.endpoint_url).cloned();
                        if let Some(tx) = tx {
                            let _ = tx.send((header, stream)).await;
                            return;
                        }
                    }
                    tracing::debug!(url = %header.endpoint_url, "stream for an unknown endpoint dropped");
                });
            }
        }
    }
}

/// A bound endpoint: its public URL and its queue of public connections.
#[derive(Debug)]
pub struct Endpoint {
    url: String,
    kind: EndpointKind,
    rx: mpsc::Receiver<Connection>,
}

impl Endpoint {
    /// The public URL the edge assigned.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// HTTP, TCP or TLS.
    pub fn kind(&self) -> EndpointKind {
        self.kind
    }

    /// The next public connection; `None` once the endpoint is unbound or the agent closed.
    pub async fn accept(&mut self) -> Option<Connection> {
        self.rx.recv().await
    }

    /// Forwards every connection to `upstream` (a port, `host:port` or URL, read as the
    /// `sluice http|tcp|tls` arguments are) until the endpoint ends.
    pub async fn forward_to(self, upstream: &str) -> Result<(), SdkError> {
        let up = Upstream::parse(upstream, self.kind)?;
        let forwarder = Forwarder::new(&self.url, self.kind, up, HttpOptions::default(), None)?;
        self.serve(forwarder, |_, _| {}).await;
        Ok(())
    }

    /// [`forward_to`](Self::forward_to) for a `tls://` endpoint whose public clients' TLS ends
    /// at this agent with `tls` (ngrok's SDK calls it TLS termination); the edge only ever
    /// sees the encrypted bytes.
    pub async fn forward_to_terminating(
        self,
        upstream: &str,
        tls: AgentTls,
    ) -> Result<(), SdkError> {
        let up = Upstream::parse(upstream, self.kind)?;
        let forwarder = Forwarder::new(&self.url, self.kind, up, HttpOptions::default(), None)?
            .with_agent_tls(tls)?;
        self.serve(forwarder, |_, _| {}).await;
        Ok(())
    }

    /// Serves every connection with `forwarder` until the endpoint ends; `on_error` hears of
    /// connections that failed (client address, cause).
    pub async fn serve<F>(mut self, forwarder: Forwarder, on_error: F)
    where
        F: Fn(SocketAddr, ForwardError) + Clone + Send + 'static,
    {
        while let Some((header, stream)) = self.accept().await {
            let forwarder = forwarder.clone();
            let on_error = on_error.clone();
            tokio::spawn(async move {
                let served = forwarder
                    .serve_tunnelled(stream, header.client_addr, header.tls_terminated)
                    .await;
                if let Err(e) = served {
                    on_error(header.client_addr, e);
                }
            });
        }
    }
}
