//! Registering a bind: the endpoint record and pool member it becomes, its URL, and its place
//! in the tables under the ownership rules of [`Pool::admit`] (takeover, pooling, refusal).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use sluice_policy::{EndpointInfo, Policy};
use sluice_tunnel::{AgentSession, BindRejection, BindRequest, Protocol};

use crate::config::{Endpoint, Scheme, Target, Upstream};
use crate::state::agent_routes::{Tables, TcpPort};
use crate::state::pool::{Admission, Member, Pool};

/// Six random hex digits, for names.
pub(super) fn random_label() -> String {
    format!("{:06x}", rand::random::<u32>() & 0x00ff_ffff)
}

/// The refusal of a bind whose listener the edge lacks.
pub(super) fn no_listener(scheme: &str) -> BindRejection {
    BindRejection::new(
        "ERR_SLUICE_BIND_UNSUPPORTED",
        format!("this edge has no {scheme} listener"),
    )
}

/// The refusal of a bind whose name is in use (`ERR_SLUICE_334`).
pub(super) fn taken(host: &str, why: &str) -> BindRejection {
    BindRejection::new("ERR_SLUICE_334", format!("{host} is already bound: {why}"))
}

/// The port a URL of `scheme` leaves out.
pub(super) fn default_port(scheme: Scheme) -> u16 {
    match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    }
}

/// `scheme://host[:port]`, the port left out when it is the scheme's default.
pub(super) fn url_with_port(protocol: Protocol, host: &str, port: u16, default: u16) -> String {
    if port == default {
        format!("{}://{host}", protocol.as_str())
    } else {
        format!("{}://{host}:{port}", protocol.as_str())
    }
}

/// The endpoint record of `session`'s bind (its id is the session's own).
pub(super) fn endpoint(
    session: &AgentSession,
    url: &str,
    host: &str,
    port: u16,
    protocol: sluice_policy::Protocol,
    scheme: Scheme,
) -> Endpoint {
    let sid = &session.id()[..8.min(session.id().len())];
    let name = if protocol == sluice_policy::Protocol::Tcp {
        format!("tcp_{port}")
    } else {
        host.to_string()
    };
    Endpoint {
        info: Arc::new(EndpointInfo {
            id: format!("ep_{sid}_{name}"),
            url: url.to_string(),
            protocol,
            host: host.to_string(),
            port,
        }),
        host: host.to_string(),
        scheme,
        upstream: Upstream {
            url: format!("agent session {}", session.id()),
            target: Target::Tunnel(session.clone()),
        },
        policy: Arc::new(Policy::empty()),
        binding: sluice_tunnel::EndpointBinding::Public,
        account: None,
        inspect: false,
    }
}

/// The pool member for `session`'s bind of `ep` with `policy`.
pub(super) fn member(
    session: &AgentSession,
    request: &BindRequest,
    mut ep: Endpoint,
    policy: Arc<Policy>,
) -> Member {
    ep.policy = policy;
    // Only HTTP endpoints have requests to trace.
    ep.inspect = request.inspect
        && matches!(
            ep.info.protocol,
            sluice_policy::Protocol::Http | sluice_policy::Protocol::Https
        );
    Member {
        endpoint: Arc::new(ep),
        session: session.clone(),
        pooling: request.pooling_enabled,
    }
}

/// Adds `member` to the pool at `key` of one table, under the rules of [`Pool::admit`].
pub(super) fn claim<K: Eq + Hash>(
    tables: &mut Tables,
    map: fn(&mut Tables) -> &mut HashMap<K, Pool>,
    key: K,
    member: Member,
    what: &str,
) -> Result<(), BindRejection> {
    let admission = match map(tables).get(&key) {
        Some(pool) => pool.admit(&member.session, member.pooling, what)?,
        None => Admission::Join,
    };
    map(tables).entry(key).or_default().insert(member);
    if let Admission::TakeOver(old) = admission {
        take_over(tables, old);
    }
    Ok(())
}

/// Ends older sessions of an agent whose newest session took over their names (the new
/// member is in place first, so a taken-over TCP port keeps its listener).
pub(super) fn take_over(tables: &mut Tables, old: Vec<AgentSession>) {
    for s in old {
        tables.remove_session(s.id());
        s.close(
            "ERR_SLUICE_SESSION_REPLACED",
            "a newer session of this agent took over its endpoints",
        );
    }
}

/// Removes the session's member of the pool at `key`, and the pool when it is left empty.
pub(super) fn remove_member<K: Eq + Hash>(map: &mut HashMap<K, Pool>, key: K, id: &str) {
    if let Some(pool) = map.get_mut(&key)
        && pool.remove_session(id)
        && pool.is_empty()
    {
        map.remove(&key);
    }
}

/// Removes the TCP port (closing its listener) when no session serves it.
pub(super) fn drop_if_empty(map: &mut HashMap<u16, TcpPort>, port: u16) {
    if map.get(&port).is_some_and(|t| t.pool.is_empty()) {
        map.remove(&port);
    }
}
