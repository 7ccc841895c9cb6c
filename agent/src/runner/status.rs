//! Following the session's state: waiting for the first session, reporting status changes once
//! online, and noticing when the session is gone for good.

use std::time::Duration;

use sluice_tunnel::ConnectionState;

use super::{Reporter, RunEvent, SessionStatus, is_final};
use crate::inspect::InspectApi;
use crate::sdk::Agent;

/// On Ctrl-C the embedded edge may drop the session a moment before the agent closes it; a
/// drop followed this quickly by the agent's own close is not reported.
const CLOSE_GRACE: Duration = Duration::from_millis(300);

/// Waits for the first session, reporting each new reason it is not up yet.
pub(super) async fn first_session(agent: &Agent, report: &Reporter) -> Result<(), String> {
    let mut state = agent.state();
    let mut said = String::new();
    loop {
        let current = state.borrow_and_update().clone();
        match current {
            ConnectionState::Connected { .. } => return Ok(()),
            ConnectionState::Failed(e) => return Err(e),
            ConnectionState::Closed => return Err("closed".into()),
            ConnectionState::Waiting { error, .. } if error != said => {
                report(RunEvent::Waiting {
                    error: error.clone(),
                });
                said = error;
            }
            _ => {}
        }
        if state.changed().await.is_err() {
            return Err("closed".into());
        }
    }
}

/// Reports every status change after the first `online`, and keeps the local API's status
/// current, until the session closes.
pub(super) fn watch(agent: &Agent, api: InspectApi, report: Reporter) {
    let mut state = agent.state();
    tokio::spawn(async move {
        let mut last = SessionStatus::Online;
        while state.changed().await.is_ok() {
            let current = state.borrow_and_update().clone();
            let status = match current {
                ConnectionState::Connected { rebind_errors, .. } => {
                    for (url, error) in rebind_errors {
                        report(RunEvent::RebindFailed { url, error });
                    }
                    SessionStatus::Online
                }
                ConnectionState::Waiting { error, .. } => {
                    tokio::time::sleep(CLOSE_GRACE).await;
                    if matches!(*state.borrow(), ConnectionState::Closed) {
                        return;
                    }
                    SessionStatus::Reconnecting(error)
                }
                ConnectionState::Connecting { .. } => continue,
                ConnectionState::Failed(e) => SessionStatus::Offline(e),
                ConnectionState::Closed => return,
            };
            if status != last {
                api.set_status(match status {
                    SessionStatus::Online => "online",
                    _ => "reconnecting",
                });
                tracing::info!(status = %status, "session status");
                report(RunEvent::Status(status.clone()));
                last = status;
            }
        }
    });
}

/// How often the session's latency and account are copied to the local API.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// Keeps the local API's view of the session's health (round-trip latency, account) current
/// until the session is gone for good.
pub(super) fn health(agent: &Agent, api: InspectApi) {
    let probe = agent.probe();
    let state = agent.state();
    tokio::spawn(async move {
        while !is_final(&state.borrow()) {
            match probe.read().await {
                Some((latency, account)) => api.set_session_health(Some(latency), Some(account)),
                None => api.set_session_health(None, None),
            }
            tokio::time::sleep(HEALTH_EVERY).await;
        }
    });
}

/// Resolves with the reason once the session has failed or closed for good.
pub(super) async fn ended(agent: &Agent) -> String {
    let mut state = agent.state();
    match state.wait_for(is_final).await {
        Ok(s) => match &*s {
            ConnectionState::Failed(e) => e.clone(),
            _ => "closed".into(),
        },
        Err(_) => "closed".into(),
    }
}
