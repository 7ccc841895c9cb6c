//! Binding one endpoint for the runner: its bind (and, for an endpoint serving both schemes,
//! the plain-HTTP twin on the same name), the checks on what the edge answered, its entries on
//! the local API and its forwarding task.

use super::RunError;
use super::traces::TraceRoutes;
use crate::config::ResolvedEndpoint;
use crate::forward::Forwarder;
use crate::inspect::Inspector;
use crate::inspect::tunnels::StartedEndpoint;
use crate::sdk::{Agent, Endpoint, SdkError};

/// Binds one endpoint (and its plain-HTTP twin when it serves both schemes) and spawns its
/// forwarding. Returns what the local API registers, one entry per URL the edge assigned.
pub(super) async fn bind_and_serve(
    agent: &Agent,
    ep: &ResolvedEndpoint,
    inspector: Option<&Inspector>,
    routes: &TraceRoutes,
) -> Result<Vec<StartedEndpoint>, RunError> {
    let forwarder = ep
        .forwarder(inspector)
        .map_err(|source| RunError::Forwarder {
            endpoint: ep.name.clone(),
            source,
        })?;
    // The edge traces the policy of endpoints whose traffic this agent records.
    let inspect = inspector.is_some() && ep.inspect;
    let mut request = ep.bind_request();
    request.inspect = inspect;
    let endpoint = bind_one(agent, ep, request).await?;
    let url = endpoint.url().to_owned();
    if let Some(sub) = &ep.subdomain
        && !host_is_below(&url, sub)
    {
        // An edge that predates subdomain binds ignores the field and picks a random name.
        let _ = agent.unbind(&url).await;
        return Err(RunError::BindRefused {
            endpoint: ep.name.clone(),
            code: "ERR_SLUICE_BIND_UNSUPPORTED".into(),
            message: format!(
                "the edge does not bind subdomains (it answered {url}); give the full name with --url"
            ),
        });
    }
    let mut started = vec![serve(ep, &ep.name, endpoint, &forwarder, routes)];
    if let Some(mut twin) = ep.http_twin(&url) {
        twin.inspect = inspect;
        let endpoint = bind_one(agent, ep, twin).await?;
        started.push(serve(
            ep,
            &ep.http_twin_name(),
            endpoint,
            &forwarder,
            routes,
        ));
    }
    Ok(started)
}

/// Whether `url`'s host is `subdomain.` followed by a domain.
fn host_is_below(url: &str, subdomain: &str) -> bool {
    sluice_tunnel::auth::host_port(url).is_some_and(|(host, _)| {
        host.to_ascii_lowercase()
            .strip_prefix(&subdomain.to_ascii_lowercase())
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('.'))
    })
}

/// Sends one bind of endpoint `ep`, turning the edge's refusal into [`RunError::BindRefused`].
async fn bind_one(
    agent: &Agent,
    ep: &ResolvedEndpoint,
    request: sluice_tunnel::BindRequest,
) -> Result<Endpoint, RunError> {
    match agent.bind(request).await {
        Ok(e) => Ok(e),
        Err(SdkError::Tunnel(e)) if e.as_bind_refusal().is_some() => {
            let (code, message) = e
                .as_bind_refusal()
                .map(|r| (r.code.clone(), r.message.clone()))
                .unwrap_or_default();
            Err(RunError::BindRefused {
                endpoint: ep.name.clone(),
                code,
                message,
            })
        }
        Err(source) => Err(RunError::Bind {
            endpoint: ep.name.clone(),
            source,
        }),
    }
}

/// Spawns the forwarding of bound `endpoint`, known on the local API as `name`.
fn serve(
    ep: &ResolvedEndpoint,
    name: &str,
    endpoint: Endpoint,
    forwarder: &Forwarder,
    routes: &TraceRoutes,
) -> StartedEndpoint {
    let url = endpoint.url().to_owned();
    routes.add(&url, name);
    tracing::info!(%name, %url, upstream = %ep.upstream, "started endpoint");
    let replayer = match forwarder {
        Forwarder::Http(h) => Some(h.clone()),
        Forwarder::Stream(_) => None,
    };
    let mut info = ep.info(&url);
    info.name = name.to_owned();
    let log_name = name.to_owned();
    tokio::spawn(endpoint.serve(forwarder.clone(), move |client, e| {
        tracing::warn!(endpoint = %log_name, %client, err = %e, "connection failed");
    }));
    StartedEndpoint {
        info,
        replayer,
        metrics: forwarder.metrics().clone(),
    }
}
