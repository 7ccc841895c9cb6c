//! The cluster's background loops: the lease keep-alive, and the sync that publishes this
//! edge's binds (owner, placement, member keys under its lease), withdraws the ones gone,
//! and mirrors the other edges' placements as endpoints this edge routes to them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sluice_policy::{EndpointInfo, IpPolicyNames, LoadOptions, Policy, load_policy};

use super::etcd::{EtcdError, Kv, Op};
use super::{Cluster, LocalBind, PREFIX, PeerRoute, Placement, Remote};
use crate::config::{Endpoint, Scheme, Target, Upstream};

/// How often the sync runs when nothing wakes it.
const SYNC_EVERY: Duration = Duration::from_millis(500);
/// Pause before watching again after a watch ended.
const WATCH_RETRY: Duration = Duration::from_secs(1);

/// Starts the keep-alive and sync loops of `cluster`.
pub(super) fn spawn(cluster: Arc<Cluster>) {
    let c = cluster.clone();
    tokio::spawn(async move {
        let every = c.config.lease_ttl / 3;
        loop {
            tokio::time::sleep(every).await;
            let lease = c.lease.load(Ordering::Relaxed);
            if lease == 0 {
                continue;
            }
            match c.etcd.keep_alive(lease).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(lease, "the cluster lease expired; taking a new one");
                    let _ =
                        c.lease
                            .compare_exchange(lease, 0, Ordering::Relaxed, Ordering::Relaxed);
                    c.changed();
                }
                Err(e) => {
                    c.healthy.store(false, Ordering::Relaxed);
                    tracing::warn!("cluster lease keep-alive: {e}");
                }
            }
        }
    });
    // Other edges' binds reach this one as soon as etcd has them (the poll below remains, for
    // a watch that stalls).
    let c = cluster.clone();
    tokio::spawn(async move {
        let prefix = format!("{PREFIX}placement/");
        loop {
            let ended = c.etcd.watch_prefix(&prefix, || {
                c.watching.store(true, Ordering::Relaxed);
                c.wake.notify_one();
            });
            if let Err(e) = ended.await {
                tracing::debug!("cluster watch: {e}");
            }
            c.watching.store(false, Ordering::Relaxed);
            tokio::time::sleep(WATCH_RETRY).await;
        }
    });
    tokio::spawn(async move {
        let mut cache = HashMap::new();
        loop {
            match sync_once(&cluster, &mut cache).await {
                Ok(()) => {
                    if !cluster.healthy.swap(true, Ordering::Relaxed) {
                        tracing::info!("cluster: etcd answers; in sync");
                    }
                }
                Err(e) => {
                    if cluster.healthy.swap(false, Ordering::Relaxed) {
                        tracing::warn!("cluster degraded, serving known placements: {e}");
                    }
                }
            }
            let _ = tokio::time::timeout(SYNC_EVERY, cluster.wake.notified()).await;
        }
    });
}

/// Remote endpoints by placement key, with the revision they were built from.
type Cache = HashMap<String, (i64, Arc<Endpoint>)>;

async fn sync_once(c: &Cluster, cache: &mut Cache) -> Result<(), EtcdError> {
    let Some(shared) = c.shared.upgrade() else {
        return Ok(());
    };
    let mut lease = c.lease.load(Ordering::Relaxed);
    if lease == 0 {
        lease = c.etcd.grant(c.config.lease_ttl.as_secs()).await?;
        c.lease.store(lease, Ordering::Relaxed);
        let member = serde_json::json!({ "addr": c.config.advertise }).to_string();
        let key = format!("{PREFIX}member/{}", c.config.edge_id);
        c.etcd
            .txn(&[], &[Op::Put(key, member.into_bytes(), lease)], &[])
            .await?;
    }
    let edge = &c.config.edge_id;
    // Binds still held here, and the ones to publish (new, or under a lost lease).
    let (gone, todo) = {
        let Ok(mut local) = c.local.lock() else {
            return Ok(());
        };
        let mut gone = Vec::new();
        local.retain(|(scheme, host), (bind, _)| {
            let held = shared.tunnels.peek(*scheme, host).is_some_and(|ep| {
                ep.host == *host && tunnel_account(&ep) == Some(bind.account.as_str())
            });
            if !held {
                gone.push((*scheme, host.clone()));
            }
            held
        });
        let todo: Vec<_> = local
            .iter()
            .filter(|(_, (_, published))| *published != lease)
            .map(|(k, (b, _))| (k.clone(), b.clone()))
            .collect();
        (gone, todo)
    };
    for (scheme, host) in gone {
        let key = placement_key(scheme, &host, edge);
        c.etcd.delete_if_lease(&key, lease).await?;
    }
    for ((scheme, host), bind) in todo {
        publish(c, scheme, &host, &bind, lease).await?;
        if let Ok(mut local) = c.local.lock()
            && let Some(entry) = local.get_mut(&(scheme, host))
        {
            entry.1 = lease;
        }
    }
    // Names this edge owns but no longer serves under either scheme; names it serves whose
    // owner key went with another edge's lease (a pool across edges, an agent that moved).
    let mut held: Vec<(String, String)> = c
        .local
        .lock()
        .map(|l| {
            l.iter()
                .map(|((_, h), (b, _))| (h.clone(), b.account.clone()))
                .collect()
        })
        .unwrap_or_default();
    if let Ok(mut ports) = c.ports.lock() {
        ports.retain(|port, account| {
            shared.tunnels.tcp_account(*port).as_deref() == Some(account.as_str())
        });
        held.extend(ports.iter().map(|(p, a)| (super::port_key(*p), a.clone())));
    }
    let owners = c.etcd.range_prefix(&format!("{PREFIX}owner/")).await?;
    let owned = |host: &str| {
        owners
            .iter()
            .any(|kv| kv.key.strip_prefix(PREFIX) == Some(&format!("owner/{host}")))
    };
    for (host, account) in &held {
        if !owned(host) && !c.own(host, account, lease).await? {
            // Never route other edges' clients to two accounts: withdraw the placements.
            tracing::warn!(host, "another account took this name or port");
            for scheme in [Scheme::Http, Scheme::Https] {
                let key = placement_key(scheme, host, edge);
                c.etcd.delete_if_lease(&key, lease).await?;
            }
        }
    }
    for kv in owners {
        let host = kv
            .key
            .trim_start_matches(PREFIX)
            .trim_start_matches("owner/");
        // A bind between the snapshot of `held` and now: its claim is either still marked,
        // or it is held by now (marks go after the bind is recorded); check in that order.
        if kv.lease == lease
            && !held.iter().any(|(h, _)| h == host)
            && !c.claimed_lately(host)
            && !c.holds(host)
        {
            c.etcd.delete_if_lease(&kv.key, lease).await?;
        }
    }
    let placements = c.etcd.range_prefix(&format!("{PREFIX}placement/")).await?;
    c.remote
        .store(Arc::new(mirror(c, &shared, placements, cache).await));
    Ok(())
}

/// The account of an agent-bound endpoint.
fn tunnel_account(ep: &Endpoint) -> Option<&str> {
    match &ep.upstream.target {
        Target::Tunnel(s) => Some(s.account()),
        _ => None,
    }
}

/// The prefix of every edge's placement of `host` under `scheme`.
pub(super) fn placement_prefix(scheme: Scheme, host: &str) -> String {
    placement_key(scheme, host, "")
}

fn placement_key(scheme: Scheme, host: &str, edge: &str) -> String {
    let s = match scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    format!("{PREFIX}placement/{s}/{host}/{edge}")
}

/// Writes the owner (if no account owns the name: it may have lapsed while etcd was away)
/// and the placement of one bind.
async fn publish(
    c: &Cluster,
    scheme: Scheme,
    host: &str,
    bind: &LocalBind,
    lease: i64,
) -> Result<(), EtcdError> {
    if !c.own(host, &bind.account, lease).await? {
        tracing::warn!(
            host,
            "another account took this name while etcd was away; not published"
        );
        return Ok(());
    }
    let placement = Placement {
        edge: c.config.edge_id.clone(),
        addr: c.config.advertise,
        url: bind.url.clone(),
        account: bind.account.clone(),
        policy: bind.policy.clone(),
        client_id: bind.client_id.clone(),
        pooled: bind.pooled,
    };
    let value = serde_json::to_vec(&placement).unwrap_or_default();
    let key = placement_key(scheme, host, &c.config.edge_id);
    c.etcd.txn(&[], &[Op::Put(key, value, lease)], &[]).await?;
    Ok(())
}

/// The other edges' placements as endpoints (built once per placement revision).
async fn mirror(
    c: &Cluster,
    shared: &crate::state::Shared,
    placements: Vec<Kv>,
    cache: &mut Cache,
) -> Remote {
    let mut remote = Remote::new();
    let mut fresh = Cache::new();
    for kv in placements {
        let rest = kv
            .key
            .trim_start_matches(PREFIX)
            .trim_start_matches("placement/");
        let mut parts = rest.splitn(3, '/');
        let (Some(s), Some(host), Some(edge)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if edge == c.config.edge_id {
            continue;
        }
        let scheme = if s == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let ep = match cache.remove(&kv.key) {
            Some((rev, ep)) if rev == kv.mod_revision => ep,
            _ => match build(c, shared, scheme, host, &kv.value).await {
                Some(ep) => ep,
                None => continue,
            },
        };
        remote
            .entry((scheme, host.to_string()))
            .or_default()
            .push(ep.clone());
        fresh.insert(kv.key, (kv.mod_revision, ep));
    }
    *cache = fresh;
    remote
}

/// The endpoint this edge serves a placement of another edge as: its policy runs here, its
/// upstream is the holding edge.
async fn build(
    c: &Cluster,
    shared: &crate::state::Shared,
    scheme: Scheme,
    host: &str,
    value: &[u8],
) -> Option<Arc<Endpoint>> {
    let p: Placement = serde_json::from_slice(value).ok()?;
    let protocol: sluice_policy::Protocol = scheme.into();
    let policy = match &p.policy {
        None => Policy::empty(),
        Some(text) => {
            let state = shared.state.load();
            // The same scope as the holding edge's (the account): one count for both.
            let options = LoadOptions {
                protocol: Some(protocol),
                local_secrets: false,
                ip_policies: IpPolicyNames::Known(state.ip_policies.clone()),
                shared_counters: crate::rate_limit_redis::shared_counters(
                    &state.rate_limit_redis,
                    &format!("account:{}", p.account),
                ),
            };
            drop(state);
            let loaded = match load_policy("traffic-policy", text, &c.registry, options) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(
                        host,
                        edge = p.edge,
                        "placement's policy does not load here: {e}"
                    );
                    return None;
                }
            };
            if let Err(e) = loaded.prepare().await {
                tracing::warn!(host, edge = p.edge, "placement's policy: {e}");
                return None;
            }
            loaded
        }
    };
    let port = sluice_tunnel::auth::host_port(&p.url)
        .and_then(|(_, port)| port)
        .unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
    Some(Arc::new(Endpoint {
        info: Arc::new(EndpointInfo {
            id: format!("ep_{}_{host}", p.edge),
            url: p.url.clone(),
            protocol,
            host: host.to_string(),
            port,
        }),
        host: host.to_string(),
        scheme,
        upstream: Upstream {
            url: format!("edge {} at {}", p.edge, p.addr),
            target: Target::Peer(Arc::new(PeerRoute {
                edge: p.edge.clone(),
                addr: p.addr,
                tls: c.tls.client.clone(),
                host: host.to_string(),
                down: c.down.clone(),
                client_id: p.client_id.clone(),
                channels: c.channels.clone(),
            })),
        },
        policy: Arc::new(policy),
        binding: sluice_tunnel::EndpointBinding::Public,
        account: Some(p.account),
        // The policy trace goes to the agent over its session, which is on the other edge.
        inspect: false,
    }))
}
