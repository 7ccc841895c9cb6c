//! The agent's run loop: one session to the edge (embedded or remote) that reconnects by itself,
//! every endpoint bound on it and forwarded to its own upstream, the web interface, console
//! lines on every state change, and a clean unbind on Ctrl-C or SIGTERM.

use std::time::Duration;

use anyhow::Context;
use sluice_agent::config::ResolvedEndpoint;
use sluice_agent::{Agent, ApiOptions, EndpointKind, Forwarder, InspectApi, Inspector, SdkError};
use sluice_policy::Registry;
use sluice_tunnel::{Backoff, BindRequest, ConnectionState, Protocol, SessionBuilder};

use super::args::Settings;
use super::embedded::{self, Embedded};
use super::print::console;

/// Reconnect backoff: 100 ms growing by half each attempt to 15 s, 30 % jitter. A restarted
/// edge is usually back within a second, so the retries come every 0.1–0.35 s in that first
/// second (a refused connect costs the edge nothing); after a minute of outage an agent tries
/// about every 15 s.
fn backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(15),
        multiplier: 1.5,
        jitter: 0.3,
    }
}

/// The bind request for an endpoint.
pub fn bind_request(ep: &ResolvedEndpoint) -> BindRequest {
    let scheme = ep
        .url
        .as_deref()
        .and_then(|u| u.split_once("://"))
        .map(|(s, rest)| (s.to_ascii_lowercase(), rest.is_empty()));
    let protocol = match (ep.kind, &scheme) {
        (EndpointKind::Tcp, _) => Protocol::Tcp,
        (EndpointKind::Tls, _) => Protocol::Tls,
        (EndpointKind::Http, Some((s, _))) if s == "https" => Protocol::Https,
        (EndpointKind::Http, _) => Protocol::Http,
    };
    let mut request = BindRequest::new(protocol);
    // A scheme alone (`https://`) asks for a random name.
    if let Some(url) = ep
        .url
        .as_deref()
        .filter(|_| !scheme.as_ref().is_some_and(|s| s.1))
    {
        request = request.with_url(url);
    }
    if let Some(p) = &ep.traffic_policy {
        request = request.with_traffic_policy(p.clone());
    }
    request.pooling_enabled = ep.pooling_enabled;
    request.metadata = ep.metadata.clone();
    request.bindings = ep.bindings.clone();
    request
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Dials the embedded edge or the remote one.
async fn session_builder(
    settings: &Settings,
    endpoints: &[ResolvedEndpoint],
    registry: &Registry,
) -> anyhow::Result<(SessionBuilder, Option<Embedded>)> {
    let client_id = format!(
        "sluice-agent-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    );
    let (interval, tolerance) = settings.heartbeat;
    match &settings.connect_url {
        Some(addr) => {
            let token = settings.authtoken.clone().context(
                "connecting to an edge needs an authtoken (--authtoken, SLUICE_AUTHTOKEN or the config's agent.authtoken)",
            )?;
            let mut builder = SessionBuilder::new(token).connect_addr(addr.clone());
            if let Some(ca) = &settings.connect_ca {
                let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
                builder = builder.ca_pem(pem);
            }
            Ok((
                builder.client_id(client_id).heartbeat(interval, tolerance),
                None,
            ))
        }
        None => {
            let mut options = settings.embedded.clone();
            options.tcp = endpoints.iter().any(|e| e.kind == EndpointKind::Tcp);
            options.https = endpoints.iter().any(|e| {
                e.kind == EndpointKind::Tls || bind_request(e).protocol == Protocol::Https
            });
            let edge = embedded::start(&options, registry).await?;
            let builder = SessionBuilder::new(edge.token.clone())
                .connect_addr(edge.tunnel.clone())
                .server_name("localhost")
                .ca_pem(edge.ca_pem.clone())
                .client_id(client_id)
                .heartbeat(interval, tolerance);
            Ok((builder, Some(edge)))
        }
    }
}

/// Prints a `Session Status` line on every change after the first `online`.
fn watch_status(agent: &Agent, api: InspectApi) {
    let mut state = agent.state();
    tokio::spawn(async move {
        let mut last = "online".to_owned();
        while state.changed().await.is_ok() {
            let current = state.borrow_and_update().clone();
            let line = match &current {
                ConnectionState::Connected { rebind_errors, .. } => {
                    for (url, err) in rebind_errors {
                        eprintln!("warning: {url} did not come back after reconnecting: {err}");
                    }
                    "online".to_owned()
                }
                ConnectionState::Waiting { error, .. } => {
                    // On Ctrl-C the embedded edge may drop the session a moment before this
                    // process closes it: say nothing when the agent closes right after.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if matches!(*state.borrow(), ConnectionState::Closed) {
                        return;
                    }
                    format!("reconnecting ({error})")
                }
                ConnectionState::Connecting { .. } => continue,
                ConnectionState::Failed(e) => format!("offline ({e})"),
                ConnectionState::Closed => return,
            };
            if line != last {
                api.set_status(if line == "online" {
                    "online"
                } else {
                    "reconnecting"
                });
                tracing::info!(status = %line, "session status");
                console("Session Status", &line);
                last = line;
            }
        }
    });
}

/// What the run ended with.
enum Outcome {
    Stop,
    Failed(String),
}

/// Waits for the first session, printing why it is not up yet.
async fn first_session(agent: &Agent) -> Result<(), String> {
    let mut state = agent.state();
    let mut said = String::new();
    loop {
        let current = state.borrow_and_update().clone();
        match current {
            ConnectionState::Connected { .. } => return Ok(()),
            ConnectionState::Failed(e) => return Err(e),
            ConnectionState::Closed => return Err("closed".into()),
            ConnectionState::Waiting { error, .. } if error != said => {
                console("Session Status", &format!("reconnecting ({error})"));
                said = error;
            }
            _ => {}
        }
        if state.changed().await.is_err() {
            return Err("closed".into());
        }
    }
}

/// Binds every endpoint and serves until stopped. Returns the exit code.
pub async fn run(
    settings: Settings,
    endpoints: Vec<ResolvedEndpoint>,
    registry: Registry,
) -> anyhow::Result<u8> {
    let (builder, embedded) = session_builder(&settings, &endpoints, &registry).await?;
    let agent = Agent::start(builder, backoff());
    let stop = shutdown_signal();
    tokio::pin!(stop);

    let started = tokio::select! {
        r = start(&agent, &settings, &endpoints) => r,
        () = &mut stop => Err(Outcome::Stop),
    };
    let bound = match started {
        Ok(bound) => bound,
        Err(Outcome::Stop) => {
            agent.close();
            drop(embedded);
            return Ok(0);
        }
        Err(Outcome::Failed(e)) => {
            eprintln!("error: {e}");
            agent.close();
            drop(embedded);
            return Ok(1);
        }
    };

    let mut state = agent.state();
    let failed = async {
        match state
            .wait_for(|s| matches!(s, ConnectionState::Failed(_) | ConnectionState::Closed))
            .await
        {
            Ok(s) => match &*s {
                ConnectionState::Failed(e) => e.clone(),
                _ => "closed".into(),
            },
            Err(_) => "closed".into(),
        }
    };
    let code = tokio::select! {
        () = &mut stop => 0,
        why = failed => {
            eprintln!("error: the tunnel session ended: {why}");
            console("Session Status", "offline");
            1
        }
    };
    for url in &bound {
        let _ = tokio::time::timeout(Duration::from_secs(2), agent.unbind(url)).await;
        tracing::info!(%url, "unbound endpoint");
    }
    agent.close();
    drop(embedded);
    Ok(code)
}

/// Connects, binds every endpoint, starts the web interface and prints the console lines.
/// Returns the bound URLs.
async fn start(
    agent: &Agent,
    settings: &Settings,
    endpoints: &[ResolvedEndpoint],
) -> Result<Vec<String>, Outcome> {
    first_session(agent)
        .await
        .map_err(|e| Outcome::Failed(format!("cannot connect to the edge: {e}")))?;
    let inspector = Inspector::new(settings.inspect_limits.unwrap_or_default());
    let api = InspectApi::new(
        inspector.clone(),
        ApiOptions {
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            ..ApiOptions::default()
        },
    );
    let inspecting = settings.inspect_limits.is_some().then_some(&inspector);
    let mut lines = Vec::new();
    let mut urls = Vec::new();
    for ep in endpoints {
        let forwarder = ep
            .forwarder(inspecting)
            .map_err(|e| Outcome::Failed(format!("endpoint `{}`: {e}", ep.name)))?;
        let endpoint = match agent.bind(bind_request(ep)).await {
            Ok(e) => e,
            Err(SdkError::Tunnel(e)) if e.as_bind_refusal().is_some() => {
                let r = e
                    .as_bind_refusal()
                    .map(|r| (r.code.clone(), r.message.clone()));
                let (code, message) = r.unwrap_or_default();
                return Err(Outcome::Failed(format!(
                    "failed to start endpoint `{}` ({code}):\n{message}",
                    ep.name
                )));
            }
            Err(e) => {
                return Err(Outcome::Failed(format!(
                    "binding endpoint `{}`: {e}",
                    ep.name
                )));
            }
        };
        let url = endpoint.url().to_owned();
        tracing::info!(
            name = %ep.name,
            %url,
            upstream = %ep.upstream,
            "started endpoint"
        );
        let replayer = match &forwarder {
            Forwarder::Http(h) => Some(h.clone()),
            Forwarder::Stream(_) => None,
        };
        api.add_endpoint(ep.info(&url), replayer);
        let name = ep.name.clone();
        tokio::spawn(endpoint.serve(forwarder, move |client, e| {
            tracing::warn!(endpoint = %name, %client, err = %e, "connection failed");
        }));
        lines.push(format!("{url} -> {}", ep.upstream));
        urls.push(url);
    }
    let web = match settings.web_addr {
        Some(addr) => match sluice_agent::inspect::bind(addr, false).await {
            Ok(listener) => {
                tokio::spawn(api.clone().serve(listener));
                Some(addr)
            }
            Err(e) => {
                eprintln!("warning: the web interface is off: cannot listen on {addr}: {e}");
                None
            }
        },
        None => None,
    };
    console("Session Status", "online");
    for line in &lines {
        console("Forwarding", line);
    }
    if let Some(addr) = web {
        console("Web Interface", &format!("http://{addr}"));
    }
    watch_status(agent, api);
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_agent::{HostHeader, Upstream};

    fn endpoint(kind: EndpointKind, url: Option<&str>) -> anyhow::Result<ResolvedEndpoint> {
        Ok(ResolvedEndpoint {
            name: "e".into(),
            kind,
            url: url.map(str::to_owned),
            description: None,
            metadata: Some("m".into()),
            pooling_enabled: true,
            bindings: Vec::new(),
            traffic_policy: None,
            upstream: Upstream::parse("9000", kind)?,
            inspect: true,
            host_header: HostHeader::Preserve,
            agent_tls: None,
        })
    }

    #[test]
    fn bind_requests_follow_the_url() -> anyhow::Result<()> {
        let r = bind_request(&endpoint(EndpointKind::Http, None)?);
        assert_eq!((r.protocol, r.url), (Protocol::Http, None));
        assert!(r.pooling_enabled);
        assert_eq!(r.metadata.as_deref(), Some("m"));
        let r = bind_request(&endpoint(EndpointKind::Http, Some("https://"))?);
        assert_eq!((r.protocol, r.url), (Protocol::Https, None));
        let r = bind_request(&endpoint(
            EndpointKind::Http,
            Some("https://a.example.com"),
        )?);
        assert_eq!(r.protocol, Protocol::Https);
        assert_eq!(r.url.as_deref(), Some("https://a.example.com"));
        let r = bind_request(&endpoint(EndpointKind::Tcp, Some("tcp://localhost:20001"))?);
        assert_eq!(r.protocol, Protocol::Tcp);
        let r = bind_request(&endpoint(EndpointKind::Tls, Some("tls://a.localhost"))?);
        assert_eq!(r.protocol, Protocol::Tls);
        Ok(())
    }
}
