//! Graceful stop: close the listeners, let requests in flight finish within the grace period,
//! then say goodbye to the agents.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pingora::apps::HttpServerApp;

use super::front::Front;
use crate::state::Shared;

/// What a graceful stop needs: the listeners' accept loops, their HTTP apps, and the agent
/// sessions to say goodbye to.
#[derive(Default)]
pub(super) struct Drain {
    pub(super) accepting: Vec<tokio::task::JoinHandle<()>>,
    pub(super) fronts: Vec<Arc<Front>>,
    pub(super) sessions: Arc<std::sync::Mutex<Vec<sluice_tunnel::AgentSession>>>,
}

impl Drain {
    /// Stops accepting (the listening sockets close, TCP endpoints' ports too, so new
    /// connections are refused), tells
    /// open connections to finish (HTTP/1 connections close after their current request,
    /// idle ones at once; HTTP/2 ones get GOAWAY), waits up to `grace` for them to go, then
    /// closes the tunnel listener and its agent sessions (agents get `GoAway`).
    pub(super) async fn run(
        self,
        shutdown_tx: &tokio::sync::watch::Sender<bool>,
        shared: &Shared,
        tunnel: Option<Arc<sluice_tunnel::TunnelServer>>,
        grace: Duration,
    ) {
        for task in &self.accepting {
            task.abort();
        }
        for task in self.accepting {
            // Awaiting the aborted task means its listener has been dropped.
            let _ = task.await;
        }
        shared.tunnels.stop_tcp_listeners();
        shutdown_tx.send_replace(true);
        for front in &self.fronts {
            front.proxy.http_cleanup().await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        let open = || shared.metrics.open_connections.load(Ordering::Relaxed);
        while open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if open() > 0 {
            tracing::warn!(
                open = open(),
                ?grace,
                "connections still open after the shutdown grace; closing them"
            );
        }
        if let Some(server) = tunnel {
            server.shutdown();
            let sessions = self.sessions.lock().map(|s| s.clone()).unwrap_or_default();
            let closed = wait_all(sessions.iter().map(|s| s.closed()));
            let _ = tokio::time::timeout(Duration::from_secs(2), closed).await;
            // Each session flushes its `GoAway` right after it reports closed.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Awaits every future in turn (they run on their own; this only waits for all of them).
async fn wait_all<F: std::future::Future>(futures: impl Iterator<Item = F>) {
    for f in futures {
        f.await;
    }
}
