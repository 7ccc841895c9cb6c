//! The agent's run loop, for the CLI and for programs embedding an agent: one session to an edge
//! that reconnects by itself, every endpoint bound on it and forwarded to its own upstream, the
//! inspector's web interface, and a clean unbind when asked to stop.
//!
//! The runner prints nothing: it reports what happens as [`RunEvent`]s to the callback given to
//! [`Runner::on_event`] (the CLI turns them into ngrok's console lines), and ends with the
//! [`RunError`] that stopped it, if any.
//!
//! ```no_run
//! # async fn demo(endpoints: Vec<sluice_agent::config::ResolvedEndpoint>) -> Result<(), sluice_agent::runner::RunError> {
//! use sluice_agent::runner::{RunEvent, Runner};
//! use sluice_tunnel::SessionBuilder;
//!
//! let session = SessionBuilder::new("my-authtoken").connect_addr("edge.example.com:4443");
//! Runner::new(session, endpoints)
//!     .on_event(|event| {
//!         if let RunEvent::Online { forwarding, .. } = event {
//!             for f in forwarding {
//!                 println!("{} -> {}", f.url, f.upstream);
//!             }
//!         }
//!     })
//!     .run(async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await
//! # }
//! ```

mod bind;
mod live;
mod status;
mod traces;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sluice_tunnel::{Backoff, ConnectionState, SessionBuilder};

use crate::config::ResolvedEndpoint;
use crate::forward::ForwardError;
use crate::inspect::{ApiOptions, InspectApi, InspectLimits, Inspector};
use crate::sdk::{Agent, SdkError};
use live::{Bound, LiveEndpoints};
use traces::TraceRoutes;

/// Something the user of a running agent may want to see. The CLI prints these as console
/// lines; an embedding program may log them or ignore them.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// The first session is not up yet; the runner keeps trying.
    Waiting {
        /// Why the last attempt failed.
        error: String,
    },
    /// Connected, every endpoint bound and served.
    Online {
        /// Each endpoint's public URL and upstream, in the order given.
        forwarding: Vec<Forwarding>,
        /// Where the web interface listens, if it does.
        web: Option<SocketAddr>,
    },
    /// The web interface could not listen; the agent runs without it.
    WebUnavailable {
        /// The address asked for.
        addr: SocketAddr,
        /// Why it failed.
        error: String,
    },
    /// The session's status changed after it was first online.
    Status(SessionStatus),
    /// After a reconnect, an endpoint could not be bound again.
    RebindFailed {
        /// The endpoint's URL.
        url: String,
        /// The edge's answer.
        error: String,
    },
}

/// One bound endpoint, as the console's `Forwarding` line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    /// The endpoint's name.
    pub name: String,
    /// The URL the edge assigned.
    pub url: String,
    /// Where its connections go.
    pub upstream: String,
}

/// The session's status, as ngrok's `Session Status` line says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStatus {
    /// Connected.
    Online,
    /// The session dropped; reconnecting after this error.
    Reconnecting(String),
    /// The session failed for good.
    Offline(String),
}

impl std::fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionStatus::Online => f.write_str("online"),
            SessionStatus::Reconnecting(e) => write!(f, "reconnecting ({e})"),
            SessionStatus::Offline(e) => write!(f, "offline ({e})"),
        }
    }
}

/// Why a run ended other than by being asked to stop.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The first session never came up (the authtoken was refused, the edge is unreachable and
    /// the session gave up…).
    #[error("cannot connect to the edge: {0}")]
    Connect(String),
    /// An endpoint's upstream cannot be served.
    #[error("endpoint `{endpoint}`: {source}")]
    Forwarder {
        /// The endpoint's name.
        endpoint: String,
        /// Why.
        source: ForwardError,
    },
    /// The edge refused to bind an endpoint.
    #[error("failed to start endpoint `{endpoint}` ({code}):\n{message}")]
    BindRefused {
        /// The endpoint's name.
        endpoint: String,
        /// The edge's error code (`ERR_…`).
        code: String,
        /// The edge's explanation.
        message: String,
    },
    /// Binding an endpoint failed for another reason (the session dropped meanwhile…).
    #[error("binding endpoint `{endpoint}`: {source}")]
    Bind {
        /// The endpoint's name.
        endpoint: String,
        /// Why.
        source: SdkError,
    },
    /// The session ended for good after the endpoints were up.
    #[error("the tunnel session ended: {0}")]
    SessionEnded(String),
}

type Reporter = Arc<dyn Fn(RunEvent) + Send + Sync>;

/// Reconnect backoff: 100 ms growing by half each attempt to 15 s, 30 % jitter. A restarted
/// edge is usually back within a second, so the retries come every 0.1–0.35 s in that first
/// second (a refused connect costs the edge nothing); after a minute of outage an agent tries
/// about every 15 s.
pub fn default_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(15),
        multiplier: 1.5,
        jitter: 0.3,
    }
}

/// How long each endpoint's unbind may take when stopping.
const UNBIND_TIMEOUT: Duration = Duration::from_secs(2);

/// An agent run: a session, the endpoints to bind on it and the local web interface.
pub struct Runner {
    session: SessionBuilder,
    backoff: Backoff,
    plan: Plan,
}

/// What to do once connected.
struct Plan {
    endpoints: Vec<ResolvedEndpoint>,
    web_addr: Option<SocketAddr>,
    inspect_limits: Option<InspectLimits>,
    api_options: ApiOptions,
    /// The API to serve, when the caller made it (to read its status as the run goes).
    api: Option<InspectApi>,
    report: Reporter,
}

impl Runner {
    /// A run binding `endpoints` over sessions made by `session`, with the default backoff, no
    /// web interface, inspection off and events logged through `tracing`.
    pub fn new(session: SessionBuilder, endpoints: Vec<ResolvedEndpoint>) -> Runner {
        Runner {
            session,
            backoff: default_backoff(),
            plan: Plan {
                endpoints,
                web_addr: None,
                inspect_limits: None,
                api_options: ApiOptions {
                    agent_version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..ApiOptions::default()
                },
                api: None,
                report: Arc::new(|event| tracing::info!(?event, "agent")),
            },
        }
    }

    /// The reconnect backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Runner {
        self.backoff = backoff;
        self
    }

    /// Serves the inspector's web interface and local API on `addr` (ngrok's `web_addr`).
    pub fn web_addr(mut self, addr: Option<SocketAddr>) -> Runner {
        self.plan.web_addr = addr;
        self
    }

    /// Records HTTP exchanges within `limits`; `None` turns inspection off.
    pub fn inspect(mut self, limits: Option<InspectLimits>) -> Runner {
        self.plan.inspect_limits = limits;
        self
    }

    /// The local API's settings (allowed hosts, reported version).
    pub fn api_options(mut self, options: ApiOptions) -> Runner {
        self.plan.api_options = options;
        self
    }

    /// Serves `api` (its inspector, options and state) instead of making one: the caller keeps
    /// a clone to read the endpoints, metrics and session health as the run goes (the
    /// terminal console does). [`inspect`](Self::inspect) still decides whether endpoints
    /// record into its inspector; [`api_options`](Self::api_options) is then unused.
    pub fn api(mut self, api: InspectApi) -> Runner {
        self.plan.api = Some(api);
        self
    }

    /// Where [`RunEvent`]s go. Called from the runner's tasks, so it must be quick.
    pub fn on_event(mut self, report: impl Fn(RunEvent) + Send + Sync + 'static) -> Runner {
        self.plan.report = Arc::new(report);
        self
    }

    /// Connects, binds every endpoint and serves until `stop` resolves (then unbinds every
    /// endpoint and returns `Ok`) or the run fails.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<(), RunError> {
        let api = self.plan.api.clone().unwrap_or_else(|| {
            InspectApi::new(
                Inspector::new(self.plan.inspect_limits.unwrap_or_default()),
                self.plan.api_options.clone(),
            )
        });
        let routes = TraceRoutes::default();
        let session = match self.plan.inspect_limits {
            Some(_) => self.session.on_trace(routes.sink(api.inspector().clone())),
            None => self.session,
        };
        let agent = Arc::new(Agent::start(session, self.backoff));
        tokio::pin!(stop);
        let started = tokio::select! {
            r = self.plan.start(&agent, api, &routes) => r.map(Some),
            () = &mut stop => Ok(None),
        };
        let bound = match started {
            Ok(Some(bound)) => bound,
            Ok(None) => {
                agent.close();
                return Ok(());
            }
            Err(e) => {
                agent.close();
                return Err(e);
            }
        };
        let result = tokio::select! {
            () = &mut stop => Ok(()),
            why = status::ended(&agent) => Err(RunError::SessionEnded(why)),
        };
        for url in &bound.urls() {
            let _ = tokio::time::timeout(UNBIND_TIMEOUT, agent.unbind(url)).await;
            tracing::info!(%url, "unbound endpoint");
        }
        agent.close();
        result
    }
}

impl Plan {
    /// Waits for the first session, binds every endpoint, starts the web interface and
    /// reports [`RunEvent::Online`]. Returns what is bound (the API may add and remove
    /// endpoints later).
    async fn start(
        &self,
        agent: &Arc<Agent>,
        api: InspectApi,
        routes: &TraceRoutes,
    ) -> Result<Bound, RunError> {
        status::first_session(agent, &self.report)
            .await
            .map_err(RunError::Connect)?;
        let inspecting = self
            .inspect_limits
            .is_some()
            .then(|| api.inspector().clone());
        let bound = Bound::default();
        let mut forwarding = Vec::new();
        for ep in &self.endpoints {
            for started in bind::bind_and_serve(agent, ep, inspecting.as_ref(), routes).await? {
                bound.insert(&started.info.name, &started.info.url);
                forwarding.push(Forwarding {
                    name: started.info.name.clone(),
                    url: started.info.url.clone(),
                    upstream: ep.upstream.to_string(),
                });
                api.register(started);
            }
        }
        api.set_control(Arc::new(LiveEndpoints {
            agent: agent.clone(),
            inspector: inspecting,
            bound: bound.clone(),
            routes: routes.clone(),
        }));
        let web = match self.web_addr {
            Some(addr) => match crate::inspect::bind(addr, false).await {
                Ok(listener) => {
                    tokio::spawn(api.clone().serve(listener));
                    Some(addr)
                }
                Err(e) => {
                    let error = e.to_string();
                    (self.report)(RunEvent::WebUnavailable { addr, error });
                    None
                }
            },
            None => None,
        };
        api.set_status("online");
        (self.report)(RunEvent::Online { forwarding, web });
        status::health(agent, api.clone());
        status::watch(agent, api, self.report.clone());
        Ok(bound)
    }
}

/// Whether a state means the session is gone for good.
fn is_final(state: &ConnectionState) -> bool {
    matches!(state, ConnectionState::Failed(_) | ConnectionState::Closed)
}
