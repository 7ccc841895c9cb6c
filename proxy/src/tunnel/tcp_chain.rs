//! `forward-internal` on TCP and TLS endpoints: the connection's `on_tcp_connect` runs on the
//! endpoint it reached, then on each internal endpoint (`tcp://db.internal:5432`,
//! `tls://app.internal`) a policy hands it to, in-process; the bytes then go to the last
//! endpoint's agent. Loops, the hop limit and protocol mismatches are refused by the action
//! (its codes in `actions.ngrok.forward_internal`); a target whose agent left between the
//! action's look and the hop closes the connection.

use std::sync::Arc;

use sluice_policy::{Clock, InternalRouting, TlsHandshake};

use crate::config::{Endpoint, Target};
use crate::conn::{ConnRecord, TcpDecision};
use crate::service::internal::{owner, resolve, routing};
use crate::state::Shared;

/// Where a connection goes once every `on_tcp_connect` of its chain has run.
pub(super) enum ChainEnd {
    /// A policy closed it (or the chain could not be followed).
    Closed,
    /// It goes to `endpoint` (the first one, or the last internal endpoint it was handed to),
    /// with the `terminate-tls` options the last endpoint that asked for them gave.
    Open {
        /// The endpoint whose agent gets the bytes; `None`: the one the client reached.
        endpoint: Option<Arc<Endpoint>>,
        /// `terminate-tls` options, if any endpoint of the chain asked.
        terminate_tls: Option<Arc<sluice_policy::TlsTermination>>,
    },
}

/// Runs `on_tcp_connect` of `first` and then of each internal endpoint it hands the connection
/// to; each may handshake through `handshake` (the first `terminate-tls` does).
pub(super) async fn follow(
    shared: &Arc<Shared>,
    record: &ConnRecord,
    first: &Endpoint,
    clock: Arc<dyn Clock>,
    handshake: Option<Arc<dyn TlsHandshake>>,
) -> ChainEnd {
    let mut visited = vec![first.info.url.clone()];
    let mut current: Option<Arc<Endpoint>> = None;
    let mut terminate = None;
    loop {
        let ep: &Endpoint = current.as_deref().unwrap_or(first);
        let internal = internal_routing(shared, ep, &visited);
        match record
            .tcp_connect(ep, clock.clone(), internal, handshake.clone())
            .await
        {
            TcpDecision::Closed => {
                shared.metrics.policy_closed(&ep.info.id, "on_tcp_connect");
                return ChainEnd::Closed;
            }
            TcpDecision::Open {
                terminate_tls,
                forward_to,
            } => {
                terminate = terminate_tls.or(terminate);
                let Some(url) = forward_to else {
                    return ChainEnd::Open {
                        endpoint: current,
                        terminate_tls: terminate,
                    };
                };
                let Some(target) = resolve(shared, owner(ep).as_deref(), &url) else {
                    tracing::debug!(
                        "{}: {url} went offline before the hop; closed",
                        record.client
                    );
                    let _ = record
                        .close_reason
                        .set(format!("ERR_SLUICE_3200: the endpoint {url} is offline"));
                    return ChainEnd::Closed;
                };
                shared.metrics.forwarded_internal(&target.info.id);
                visited.push(url);
                current = Some(target);
            }
        }
    }
}

/// What `ep`'s policy may forward to: only a tunnel endpoint with `on_tcp_connect` rules has
/// anywhere to go.
fn internal_routing(
    shared: &Arc<Shared>,
    ep: &Endpoint,
    visited: &[String],
) -> Option<InternalRouting> {
    let has_rules = !ep.policy.rules(sluice_policy::Phase::TcpConnect).is_empty();
    (has_rules && matches!(ep.upstream.target, Target::Tunnel(_)))
        .then(|| routing(shared, ep, visited.to_vec()))
}
