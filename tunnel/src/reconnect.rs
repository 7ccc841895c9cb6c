//! [`ReconnectingSession`]: keeps an agent connected across edge restarts and network loss —
//! capped, jittered backoff; re-auth with the same client id; re-bind of the same URLs.
//!
//! With several edges (a cluster), a rebind on another edge may come back with another URL
//! for the same name (that edge listens on another port). Callers keep the URL of the first
//! bind: streams and traces naming the new URL are rewritten to it here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::builder::SessionBuilder;
use crate::client::ClientSession;
use crate::error::{CloseReason, Result, TunnelError};
use crate::proto::{BindOk, BindRequest, StreamHeader};
use crate::stream::TunnelStream;
use crate::trace::TraceSink;

/// Where a [`ReconnectingSession`] stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Dialing (attempt counts failures since the last good session).
    Connecting {
        /// Failed attempts so far.
        attempt: u32,
    },
    /// Authenticated and every recorded bind re-established (or reported in `rebind_errors`).
    Connected {
        /// The edge's id for this connection.
        session_id: String,
        /// Binds that failed to come back, as `(url, error)`.
        rebind_errors: Vec<(String, String)>,
    },
    /// Waiting before the next attempt.
    Waiting {
        /// Failed attempts so far.
        attempt: u32,
        /// How long until the next attempt.
        delay: Duration,
        /// Why the last attempt or session ended.
        error: String,
    },
    /// Gave up: the error cannot be fixed by retrying (e.g. a refused authtoken).
    Failed(String),
    /// Closed by [`ReconnectingSession::close`].
    Closed,
}

type Accepted = (StreamHeader, TunnelStream);

/// A bind to restore after every reconnect.
struct Recorded {
    /// Carries the URL the edge assigned last.
    request: BindRequest,
    /// The URL of the first bind: the one the caller knows.
    first_url: String,
}

/// The URLs the current edge gave to binds whose first URL differs, mapped to that first URL.
type Aliases = Arc<std::sync::Mutex<HashMap<String, String>>>;

struct Shared {
    current: Mutex<Option<ClientSession>>,
    binds: Mutex<Vec<Recorded>>,
    aliases: Aliases,
    state: watch::Sender<ConnectionState>,
    cancel: CancellationToken,
}

/// An agent session that reconnects by itself. Streams from every underlying session come out
/// of one [`accept`](Self::accept).
pub struct ReconnectingSession {
    shared: Arc<Shared>,
    accept_rx: Mutex<mpsc::Receiver<Accepted>>,
}

impl ReconnectingSession {
    /// Starts connecting in the background; follow [`state`](Self::state) or call
    /// [`wait_connected`](Self::wait_connected).
    pub fn start(mut builder: SessionBuilder, backoff: Backoff) -> Self {
        let aliases = Aliases::default();
        if let Some(sink) = builder.take_trace_sink() {
            let aliases = aliases.clone();
            let sink: TraceSink = Arc::new(move |mut report| {
                if let Some(first) = first_url(&aliases, &report.endpoint_url) {
                    report.endpoint_url = first;
                }
                sink(report);
            });
            builder = builder.on_trace(sink);
        }
        let shared = Arc::new(Shared {
            current: Mutex::new(None),
            binds: Mutex::new(Vec::new()),
            aliases,
            state: watch::channel(ConnectionState::Connecting { attempt: 0 }).0,
            cancel: CancellationToken::new(),
        });
        let (accept_tx, accept_rx) = mpsc::channel(128);
        tokio::spawn(supervise(shared.clone(), builder, backoff, accept_tx));
        Self {
            shared,
            accept_rx: Mutex::new(accept_rx),
        }
    }

    /// The state, to watch for changes.
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.subscribe()
    }

    /// Waits until connected, returning the session id; fails if the supervisor gave up.
    pub async fn wait_connected(&self) -> Result<String> {
        let mut rx = self.state();
        let state = rx
            .wait_for(|s| {
                matches!(
                    s,
                    ConnectionState::Connected { .. }
                        | ConnectionState::Failed(_)
                        | ConnectionState::Closed
                )
            })
            .await
            .map_err(|_| TunnelError::Closed(CloseReason::Local))?
            .clone();
        match state {
            ConnectionState::Connected { session_id, .. } => Ok(session_id),
            ConnectionState::Failed(e) => Err(TunnelError::Closed(CloseReason::Error(e))),
            _ => Err(TunnelError::Closed(CloseReason::Local)),
        }
    }

    /// Binds on the current session (waiting for one) and records the bind, with its assigned
    /// URL, to restore after every reconnect.
    pub async fn bind(&self, request: BindRequest) -> Result<BindOk> {
        loop {
            self.wait_connected().await?;
            // Holding the list keeps the supervisor from re-binding concurrently.
            let mut binds = self.shared.binds.lock().await;
            let Some(session) = self.shared.current.lock().await.clone() else {
                drop(binds);
                continue;
            };
            let ok = match session.bind(request.clone()).await {
                // The session died under us: bind again on the next one.
                Err(TunnelError::Closed(_)) => {
                    drop(binds);
                    tokio::task::yield_now().await;
                    continue;
                }
                r => r?,
            };
            let mut recorded = request;
            // Rebinds name the URL the edge gave (a subdomain became a full name).
            recorded.url = Some(ok.url.clone());
            recorded.subdomain = None;
            binds.push(Recorded {
                request: recorded,
                first_url: ok.url.clone(),
            });
            return Ok(ok);
        }
    }

    /// Unbinds `url` (the URL its first bind got) now and stops restoring it.
    pub async fn unbind(&self, url: &str) -> Result<()> {
        let mut now = url.to_owned();
        self.shared.binds.lock().await.retain(|b| {
            let this = b.first_url == url;
            if this {
                now = b.request.url.clone().unwrap_or_default();
            }
            !this
        });
        lock(&self.shared.aliases).remove(&now);
        match self.shared.current.lock().await.clone() {
            Some(session) => session.unbind(&now).await,
            None => Ok(()),
        }
    }

    /// The session in use right now, if connected (for its latency and account).
    pub async fn current(&self) -> Option<ClientSession> {
        self.shared.current.lock().await.clone()
    }

    /// The next proxy stream from the edge; `None` once closed or failed.
    pub async fn accept(&self) -> Option<Accepted> {
        self.accept_rx.lock().await.recv().await
    }

    /// Stops reconnecting and closes the current session.
    pub fn close(&self) {
        self.shared.cancel.cancel();
    }
}

impl Drop for ReconnectingSession {
    fn drop(&mut self) {
        self.close();
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The first URL of the bind the current edge calls `url`, when it differs.
fn first_url(aliases: &Aliases, url: &str) -> Option<String> {
    let aliases = lock(aliases);
    if aliases.is_empty() {
        return None;
    }
    aliases.get(url).cloned()
}

async fn rebind(shared: &Shared, session: &ClientSession) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut binds = shared.binds.lock().await;
    let mut aliases = HashMap::new();
    for b in binds.iter_mut() {
        match session.bind(b.request.clone()).await {
            Ok(ok) => {
                if ok.url != b.first_url {
                    tracing::info!(first = %b.first_url, now = %ok.url,
                        "this edge serves the endpoint under another URL; both reach it");
                    aliases.insert(ok.url.clone(), b.first_url.clone());
                }
                b.request.url = Some(ok.url);
            }
            Err(e) => errors.push((b.first_url.clone(), e.to_string())),
        }
    }
    *lock(&shared.aliases) = aliases;
    errors
}

async fn supervise(
    shared: Arc<Shared>,
    builder: SessionBuilder,
    backoff: Backoff,
    accept_tx: mpsc::Sender<Accepted>,
) {
    let mut attempt = 0u32;
    loop {
        shared
            .state
            .send_replace(ConnectionState::Connecting { attempt });
        let connected = tokio::select! {
            _ = shared.cancel.cancelled() => break,
            r = builder.connect() => r,
        };
        let error = match connected {
            Err(e) if e.is_fatal() => {
                shared
                    .state
                    .send_replace(ConnectionState::Failed(e.to_string()));
                return;
            }
            Err(e) => e.to_string(),
            Ok(session) => {
                let rebind_errors = rebind(&shared, &session).await;
                *shared.current.lock().await = Some(session.clone());
                attempt = 0;
                shared.state.send_replace(ConnectionState::Connected {
                    session_id: session.session_id().to_owned(),
                    rebind_errors,
                });
                let reason = pump(&shared, &session, &accept_tx).await;
                builder.move_on();
                let error = match reason {
                    None => {
                        session.close();
                        break;
                    }
                    Some(r) => format!("session ended: {r}"),
                };
                // Leave `Connected` before dropping the session so `bind` waits, not spins.
                shared
                    .state
                    .send_replace(ConnectionState::Connecting { attempt });
                *shared.current.lock().await = None;
                error
            }
        };
        let delay = backoff.delay(attempt);
        attempt = attempt.saturating_add(1);
        shared.state.send_replace(ConnectionState::Waiting {
            attempt,
            delay,
            error,
        });
        tokio::select! {
            _ = shared.cancel.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    shared.state.send_replace(ConnectionState::Closed);
}

/// Forwards accepted streams until the session ends (`Some(reason)`) or we are cancelled (`None`).
async fn pump(
    shared: &Shared,
    session: &ClientSession,
    accept_tx: &mpsc::Sender<Accepted>,
) -> Option<CloseReason> {
    loop {
        let accepted = tokio::select! {
            _ = shared.cancel.cancelled() => return None,
            a = session.accept() => a,
        };
        let Some(mut item) = accepted else {
            return Some(session.closed().await);
        };
        if let Some(first) = first_url(&shared.aliases, &item.0.endpoint_url) {
            item.0.endpoint_url = first;
        }
        tokio::select! {
            _ = shared.cancel.cancelled() => return None,
            r = accept_tx.send(item) => if r.is_err() { return None },
        }
    }
}
