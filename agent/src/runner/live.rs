//! Endpoints that come and go while the session runs: the [`EndpointControl`] the runner gives
//! the local API, so `POST /api/tunnels` binds a new endpoint on the live session and
//! `DELETE /api/tunnels/:name` unbinds one; and the list of what is bound, which the runner
//! unbinds when it stops.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;

use super::RunError;
use super::bind::bind_and_serve;
use super::traces::TraceRoutes;
use crate::config::ResolvedEndpoint;
use crate::inspect::Inspector;
use crate::inspect::tunnels::{ControlError, EndpointControl, StartedEndpoint};
use crate::sdk::Agent;

/// The URL of each bound endpoint by name; an empty URL reserves a name being bound.
#[derive(Clone, Default)]
pub(super) struct Bound(Arc<Mutex<BTreeMap<String, String>>>);

impl Bound {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `name` at `url`.
    pub(super) fn insert(&self, name: &str, url: &str) {
        self.lock().insert(name.to_owned(), url.to_owned());
    }

    /// Every bound URL.
    pub(super) fn urls(&self) -> Vec<String> {
        self.lock()
            .values()
            .filter(|u| !u.is_empty())
            .cloned()
            .collect()
    }
}

/// The runner's [`EndpointControl`].
pub(super) struct LiveEndpoints {
    pub(super) agent: Arc<Agent>,
    pub(super) inspector: Option<Inspector>,
    pub(super) bound: Bound,
    /// Names the new endpoint's trace reports.
    pub(super) routes: TraceRoutes,
}

impl EndpointControl for LiveEndpoints {
    fn start(
        &self,
        endpoint: ResolvedEndpoint,
    ) -> BoxFuture<'static, Result<Vec<StartedEndpoint>, ControlError>> {
        let agent = self.agent.clone();
        let inspector = self.inspector.clone();
        let bound = self.bound.clone();
        let routes = self.routes.clone();
        Box::pin(async move {
            let name = endpoint.name.clone();
            {
                let mut names = bound.lock();
                if names.contains_key(&name) {
                    return Err(ControlError::Duplicate(name));
                }
                names.insert(name.clone(), String::new());
            }
            match bind_and_serve(&agent, &endpoint, inspector.as_ref(), &routes).await {
                Ok(started) => {
                    let mut names = bound.lock();
                    names.remove(&name);
                    for s in &started {
                        names.insert(s.info.name.clone(), s.info.url.clone());
                    }
                    Ok(started)
                }
                Err(e) => {
                    bound.lock().remove(&name);
                    Err(ControlError::Refused(match e {
                        RunError::BindRefused { code, message, .. } => {
                            format!("{message} [{code}]")
                        }
                        other => other.to_string(),
                    }))
                }
            }
        })
    }

    fn stop(&self, name: String) -> BoxFuture<'static, Result<(), ControlError>> {
        let agent = self.agent.clone();
        let bound = self.bound.clone();
        Box::pin(async move {
            let url = match bound.lock().get(&name) {
                Some(url) if !url.is_empty() => url.clone(),
                _ => return Err(ControlError::NotFound(name)),
            };
            agent
                .unbind(&url)
                .await
                .map_err(|e| ControlError::Refused(e.to_string()))?;
            bound.lock().remove(&name);
            tracing::info!(%name, %url, "stopped endpoint");
            Ok(())
        })
    }
}
