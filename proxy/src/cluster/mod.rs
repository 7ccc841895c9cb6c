//! Several edges as one (`cluster:` in the edge config; design in `docs/cluster.md`): name
//! ownership, placements and the member list live in etcd; requests for a name an agent
//! bound on another edge are forwarded there over mutual TLS after this edge ran the
//! endpoint's policy.
//!
//! - [`etcd`]: the etcd client (JSON gateway). [`tls`]: the cluster CA and certificates.
//! - [`peer`]: the inter-edge channel (listener and Pingora connector).
//! - [`sync`]: the loop that publishes this edge's binds and mirrors the others'.
//!
//! Its face to the rest of the edge: [`Cluster::start`], [`Cluster::claim`] and
//! [`Cluster::bound`] (from the bind handler), [`Cluster::lookup`] (from routing) and
//! [`Cluster::changed`].

pub mod down;
pub mod etcd;
pub mod peer;
mod sync;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use sluice_policy::Registry;
use sluice_tunnel::BindRejection;

use crate::config::{ClusterConfig, Endpoint, Scheme};
use crate::state::Shared;
use etcd::{Cmp, Etcd, Op};

/// How long a claimed owner key is kept by the sync before the name is served here: longer
/// than any bind takes between its claim and its registration (a bind that fails after its
/// claim leaves the key to the account this long).
const CLAIM_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Where every key of the cluster lives in etcd.
const PREFIX: &str = "/sluice/";

/// Another edge that holds an agent, as an upstream.
#[derive(Debug)]
pub struct PeerRoute {
    /// The holding edge's id.
    pub edge: String,
    /// Its inter-edge address.
    pub addr: SocketAddr,
    /// This edge's client TLS settings.
    pub tls: Arc<rustls::ClientConfig>,
    /// The endpoint's name there.
    pub host: String,
    /// Where a failed dial is recorded, so routing passes over this edge for a while.
    pub down: Arc<down::DownMarks>,
    /// The client id of the agent placed there (empty from an older edge).
    pub client_id: String,
    /// This edge's connections to its peers, shared by every route.
    pub channels: Arc<peer::PeerChannels>,
}

/// The owner key's last part for TCP port `port` (no name has a `:`).
fn port_key(port: u16) -> String {
    format!("tcp:{port}")
}

/// Who owns a name across the cluster (`/sluice/owner/<name>`).
#[derive(Debug, Serialize, Deserialize)]
struct Owner {
    account: String,
    edge: String,
}

/// A name bound here, as published (`/sluice/placement/<scheme>/<name>/<edge>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Placement {
    edge: String,
    addr: SocketAddr,
    url: String,
    account: String,
    policy: Option<String>,
    /// The client id of the agent that bound it last (empty from an older edge).
    #[serde(default)]
    client_id: String,
    /// Whether it was bound with pooling enabled.
    #[serde(default)]
    pooled: bool,
}

/// A bind of this edge that the cluster should know of.
#[derive(Debug, Clone)]
pub struct LocalBind {
    /// The binding session's account.
    pub account: String,
    /// The URL it got.
    pub url: String,
    /// Its traffic policy, as sent.
    pub policy: Option<String>,
    /// The binding agent's client id.
    pub client_id: String,
    /// Whether it was bound with pooling enabled.
    pub pooled: bool,
}

/// Names held by other edges: the endpoints this edge serves them as.
type Remote = HashMap<(Scheme, String), Vec<Arc<Endpoint>>>;

/// This edge's membership of the cluster.
pub struct Cluster {
    config: ClusterConfig,
    etcd: Etcd,
    tls: tls::ClusterTls,
    registry: Registry,
    shared: std::sync::Weak<Shared>,
    /// This edge's lease (0: none yet, or lost).
    lease: AtomicI64,
    /// Whether etcd answered the last call.
    healthy: AtomicBool,
    /// Whether a watch of the placements is open (other edges' binds arrive at once).
    watching: AtomicBool,
    local: Mutex<HashMap<(Scheme, String), (LocalBind, i64)>>,
    /// TCP ports bound here, with their account.
    ports: Mutex<HashMap<u16, String>>,
    remote: ArcSwap<Remote>,
    /// Owner keys claimed lately, by key: the sync does not let go of them while the bind
    /// that claimed one may still be on its way to being served here.
    claims: Mutex<HashMap<String, std::time::Instant>>,
    /// Edges that just failed for a name (see [`down`]).
    down: Arc<down::DownMarks>,
    /// Multiplexed connections to the other edges.
    channels: Arc<peer::PeerChannels>,
    turn: AtomicUsize,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("edge_id", &self.config.edge_id)
            .finish_non_exhaustive()
    }
}

/// Whether another edge's inter-edge listener accepts a connection (a second at most).
async fn edge_answers(addr: SocketAddr) -> bool {
    let dial = tokio::net::TcpStream::connect(addr);
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(1), dial).await,
        Ok(Ok(_))
    )
}

/// The refusal of a bind while etcd does not answer.
fn unavailable(host: &str, e: impl std::fmt::Display) -> BindRejection {
    BindRejection::new(
        "ERR_SLUICE_CLUSTER_UNAVAILABLE",
        format!(
            "cannot bind {host}: the cluster store (etcd) is unreachable ({e}), so this edge \
             cannot make sure no other edge gives the name to another account; new binds are \
             refused until it is back, endpoints already bound keep serving"
        ),
    )
}

impl Cluster {
    /// Joins the cluster: loads the cluster CA, listens for other edges and starts the loops
    /// that keep this edge's lease and placements. etcd need not answer yet (binds are refused
    /// until it does).
    pub async fn start(
        config: &ClusterConfig,
        shared: &Arc<Shared>,
        registry: Registry,
    ) -> anyhow::Result<Arc<Cluster>> {
        let tls = tls::load(&config.ca_dir, &config.edge_id)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {} (cluster): {e}", config.listen))?;
        eprintln!(
            "sluice edge: cluster member {} on {}; etcd {}",
            config.edge_id,
            listener.local_addr()?,
            config.etcd.join(",")
        );
        tokio::spawn(peer::serve(listener, tls.server.clone(), shared.clone()));
        let cluster = Arc::new(Cluster {
            config: config.clone(),
            etcd: Etcd::new(config.etcd.clone()),
            tls,
            registry,
            shared: Arc::downgrade(shared),
            lease: AtomicI64::new(0),
            healthy: AtomicBool::new(false),
            watching: AtomicBool::new(false),
            local: Mutex::new(HashMap::new()),
            ports: Mutex::new(HashMap::new()),
            remote: ArcSwap::from_pointee(HashMap::new()),
            claims: Mutex::default(),
            down: Arc::default(),
            channels: Arc::default(),
            turn: AtomicUsize::new(0),
            wake: tokio::sync::Notify::new(),
        });
        sync::spawn(cluster.clone());
        Ok(cluster)
    }

    /// Whether a watch on etcd brings other edges' binds at once (false: the 500 ms poll does).
    pub fn watching(&self) -> bool {
        self.watching.load(Ordering::Relaxed)
    }

    /// Whether etcd answered the last call (false: degraded, serving known placements only).
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    fn claim_done(&self, key: &str) {
        if let Ok(mut claims) = self.claims.lock() {
            claims.remove(key);
        }
    }

    /// Whether this edge serves owner key `key` now (a name under either scheme, or a port).
    fn holds(&self, key: &str) -> bool {
        let name = self
            .local
            .lock()
            .map_or(true, |l| l.keys().any(|(_, h)| h == key));
        name || self
            .ports
            .lock()
            .map_or(true, |p| p.keys().any(|port| port_key(*port) == key))
    }

    /// Whether `key` was claimed within the last [`CLAIM_GRACE`] (forgetting older claims)
    /// by a bind not yet held here.
    fn claimed_lately(&self, key: &str) -> bool {
        let Ok(mut claims) = self.claims.lock() else {
            return true;
        };
        claims.retain(|_, at| at.elapsed() < CLAIM_GRACE);
        claims.contains_key(key)
    }

    /// Asks the sync loop to run now (after an unbind or a closed session).
    pub fn changed(&self) {
        self.wake.notify_one();
    }

    /// Claims `host` for `account` across the cluster, in one etcd transaction: the name is
    /// this account's if no account owns it yet or this one does.
    pub async fn claim(&self, host: &str, account: &str) -> Result<(), BindRejection> {
        self.claim_key(host, host, account).await
    }

    /// Applies the pooling rule across edges, as [`crate::state::pool::Pool::admit`] does on
    /// one: an agent of the same account with another client id holding `host` on another
    /// edge shares it only when both enabled pooling. The same client id passes (an agent
    /// that moved here while its old edge's placement waits for its lease), and so does a
    /// placement whose edge does not answer on its inter-edge listener: that edge is gone
    /// and its agents with it, as a session that ended on one edge frees its names at once.
    /// (Across accounts the owner key decides, and it waits for the lease.)
    pub async fn admit(
        &self,
        scheme: Scheme,
        host: &str,
        client_id: &str,
        pooling: bool,
    ) -> Result<(), BindRejection> {
        let prefix = sync::placement_prefix(scheme, host);
        let placements = self.etcd.range_prefix(&prefix).await.map_err(|e| {
            self.healthy.store(false, Ordering::Relaxed);
            unavailable(host, e)
        })?;
        for kv in placements {
            let Ok(p) = serde_json::from_slice::<Placement>(&kv.value) else {
                continue;
            };
            if p.edge == self.config.edge_id || p.client_id.is_empty() || p.client_id == client_id {
                continue;
            }
            if !(pooling && p.pooled) && edge_answers(p.addr).await {
                return Err(BindRejection::new(
                    "ERR_SLUICE_334",
                    format!(
                        "{host} is already bound by another session on edge {} of the cluster \
                         (bind it with pooling enabled on every agent to share it)",
                        p.edge
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Claims TCP port `port` for `account` across the cluster, as [`Cluster::claim`] does
    /// names: no two edges give one port number to two accounts.
    pub async fn claim_port(&self, port: u16, account: &str) -> Result<(), BindRejection> {
        self.claim_key(&port_key(port), &format!("TCP port {port}"), account)
            .await
    }

    async fn claim_key(&self, key: &str, what: &str, account: &str) -> Result<(), BindRejection> {
        let lease = self.lease.load(Ordering::Relaxed);
        if lease == 0 {
            return Err(unavailable(what, "no lease"));
        }
        if let Ok(mut claims) = self.claims.lock() {
            claims.insert(key.to_string(), std::time::Instant::now());
        }
        match self.own(key, account, lease).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(BindRejection::new(
                "ERR_SLUICE_334",
                format!("{what} is already bound: another account holds it on the cluster"),
            )),
            Err(e) => {
                self.healthy.store(false, Ordering::Relaxed);
                Err(unavailable(what, e))
            }
        }
    }

    /// Records a TCP port bound here (its owner key is kept while it is).
    pub fn bound_port(&self, port: u16, account: &str) {
        if let Ok(mut ports) = self.ports.lock() {
            ports.insert(port, account.to_string());
        }
        self.claim_done(&port_key(port));
        self.changed();
    }

    /// Makes `account` the owner of `host` unless another account is; whether it is now.
    async fn own(&self, host: &str, account: &str, lease: i64) -> Result<bool, etcd::EtcdError> {
        let key = format!("{PREFIX}owner/{host}");
        let value = serde_json::to_vec(&Owner {
            account: account.to_string(),
            edge: self.config.edge_id.clone(),
        })
        .unwrap_or_default();
        // The owner may vanish between the two branches (its lease ended): try again.
        for _ in 0..3 {
            let (won, read) = self
                .etcd
                .txn(
                    &[Cmp::Absent(key.clone())],
                    &[Op::Put(key.clone(), value.clone(), lease)],
                    &[Op::Get(key.clone())],
                )
                .await?;
            if won {
                return Ok(true);
            }
            if let Some(kv) = read.first() {
                let owner: Option<Owner> = serde_json::from_slice(&kv.value).ok();
                return Ok(owner.is_some_and(|o| o.account == account));
            }
        }
        Ok(false)
    }

    /// Records a bind that succeeded here and publishes its placement.
    pub fn bound(&self, scheme: Scheme, host: &str, bind: LocalBind) {
        if let Ok(mut local) = self.local.lock() {
            local.insert((scheme, host.to_string()), (bind, 0));
        }
        // Held now (the sync reads the claims before the binds held): the claim is done.
        self.claim_done(host);
        self.changed();
    }

    /// The endpoint serving `host` on another edge, if one holds it (pooled across edges: the
    /// next one on each call), passing over edges that just failed for it while another
    /// holds it too (an agent that moved leaves its old placement until that lease ends).
    pub fn lookup(&self, scheme: Scheme, host: &str) -> Option<Arc<Endpoint>> {
        let name = crate::routes::normalize(host);
        let remote = self.remote.load();
        crate::routes::candidates(&name).find_map(|c| {
            let eps = remote.get(&(scheme, c))?;
            let i = self.turn.fetch_add(1, Ordering::Relaxed);
            let n = eps.len();
            if n == 0 {
                return None;
            }
            let up = (0..n)
                .map(|k| &eps[(i + k) % n])
                .find(|ep| !self.passed_over(ep));
            Some(up.unwrap_or(&eps[i % n]).clone())
        })
    }

    /// After dialing `failed` did not work: the other edge the same agent (client id) holds
    /// the name on now, unless that one failed lately too. Only the same agent: its policy,
    /// which already ran here, is the one placed there.
    pub fn moved_to(&self, scheme: Scheme, failed: &PeerRoute) -> Option<Arc<PeerRoute>> {
        if failed.client_id.is_empty() {
            return None;
        }
        let remote = self.remote.load();
        let eps = remote.get(&(scheme, failed.host.clone()))?;
        eps.iter().find_map(|ep| match &ep.upstream.target {
            crate::config::Target::Peer(r)
                if r.edge != failed.edge
                    && r.client_id == failed.client_id
                    && !self.down.is_down(&r.edge, &r.host) =>
            {
                Some(r.clone())
            }
            _ => None,
        })
    }

    fn passed_over(&self, ep: &Endpoint) -> bool {
        match &ep.upstream.target {
            crate::config::Target::Peer(route) => self.down.is_down(&route.edge, &route.host),
            _ => false,
        }
    }
}
