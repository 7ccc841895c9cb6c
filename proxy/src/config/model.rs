//! The validated config: what the rest of the edge reads.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::{Diagnostic, EndpointInfo, Policy};

/// How the edge speaks to an upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1.
    #[default]
    Http1,
    /// HTTP/2 (h2c on `http://`).
    Http2,
}

/// Where request events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsOutput {
    /// One JSON line per event on standard output.
    Stdout,
    /// Appended to this file.
    File(PathBuf),
}

/// A validated edge config, policies compiled.
#[derive(Debug)]
pub struct EdgeConfig {
    /// Address of the plain HTTP listener.
    pub http: Option<SocketAddr>,
    /// Address of the HTTPS listener.
    pub https: Option<SocketAddr>,
    /// Address of the admin listener.
    pub admin: Option<SocketAddr>,
    /// The state folder (development CA).
    pub state_dir: PathBuf,
    /// Configured certificates, in file order.
    pub certificates: Vec<Certificate>,
    /// Idle timeout of client connections.
    pub idle_timeout: Duration,
    /// Time allowed for a request header to arrive, from its first byte.
    pub header_read_timeout: Duration,
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish.
    pub shutdown_grace: Duration,
    /// How fast request bodies must arrive.
    pub body_timeouts: crate::body_pace::BodyTimeouts,
    /// Where events go.
    pub events: EventsOutput,
    /// The endpoints, in file order.
    pub endpoints: Vec<Arc<Endpoint>>,
    /// Address of the tunnel listener (agents).
    pub tunnel: Option<SocketAddr>,
    /// Address of the SSH gateway (`ssh -R`).
    pub ssh: Option<SocketAddr>,
    /// How often the SSH gateway sends keepalives to a quiet client (3 unanswered: dropped).
    pub ssh_keepalive_interval: Duration,
    /// TLS of the tunnel listener.
    pub tunnel_tls: TunnelTls,
    /// Authtokens agents may present.
    pub authtokens: Vec<Authtoken>,
    /// Blocking of source addresses that present wrong authtokens.
    pub auth_limits: crate::auth_limit::AuthLimits,
    /// Domains random endpoint names are made under.
    pub base_domains: Vec<String>,
    /// TCP endpoints bound by agents.
    pub tcp: TcpConfig,
    /// Whether error responses also carry `ngrok-error-code` (see [`crate::errors`]).
    pub ngrok_error_code_header: bool,
    /// Named IP policies for `restrict-ips`' `ip_policies`.
    pub ip_policies: Arc<sluice_policy::IpPolicies>,
    /// Set by the agent's embedded edge, never by a file (a multi-tenant edge must not guess
    /// whose endpoint a request meant): a request whose `Host` is an IP address or `localhost`
    /// (`http://127.0.0.1:PORT`, what wget and Python send, as they do not resolve
    /// `*.localhost`) reaches the one agent endpoint bound on that listener, if there is
    /// exactly one.
    pub only_endpoint_at_ip: bool,
    /// Certificates obtained from an ACME CA (`acme:`), if configured.
    pub acme: Option<AcmeConfig>,
    /// Several edges as one (`cluster:`), if configured.
    pub cluster: Option<ClusterConfig>,
    /// The Redis store of `rate-limit` counts shared with other edges (`rate_limit.redis`),
    /// if configured; every policy this config loads counts in it.
    pub rate_limit_redis: Option<Arc<crate::rate_limit_redis::RedisWindows>>,
}

/// The validated `cluster:` section (see `docs/cluster.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// etcd members' client URLs (`http://host:port`), tried in order.
    pub etcd: Vec<String>,
    /// This edge's id, unique in the cluster.
    pub edge_id: String,
    /// Where the inter-edge listener listens.
    pub listen: SocketAddr,
    /// The address other edges dial to reach it.
    pub advertise: SocketAddr,
    /// Lifetime of this edge's lease (its placements outlive it by at most this).
    pub lease_ttl: Duration,
    /// Folder of the cluster CA.
    pub ca_dir: PathBuf,
}

/// An ACME challenge the edge answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    /// HTTP-01, on the http listener.
    Http01,
    /// TLS-ALPN-01, on the https listener.
    TlsAlpn01,
}

/// The validated `acme:` section: where certificates come from and which names they cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeConfig {
    /// The CA's directory URL.
    pub directory: String,
    /// Contact email for the account.
    pub email: Option<String>,
    /// Roots trusted for the directory's HTTPS (else the web PKI roots).
    pub ca_roots: Option<PathBuf>,
    /// Names certificates are held for from the start (lower case).
    pub domains: Vec<String>,
    /// Names bound under these get a certificate on first bind (lower case).
    pub base_domains: Vec<String>,
    /// Challenges offered to the CA, in order of preference.
    pub challenges: Vec<AcmeChallenge>,
    /// How long before expiry a certificate is renewed.
    pub renew_before: Duration,
}

/// Where agent-bound TCP endpoints listen and how their URLs read (`tcp:` in the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// IP address their ports listen on.
    pub bind: std::net::IpAddr,
    /// Host written in `tcp://host:port` URLs (an IPv6 address is in brackets).
    pub host: String,
    /// Ports given to binds that name none.
    pub ports: std::ops::RangeInclusive<u16>,
}

/// The tunnel listener's certificate.
#[derive(Debug, Clone)]
pub struct TunnelTls {
    /// Name the development CA issues the certificate for.
    pub server_name: String,
    /// A configured certificate instead.
    pub key: Option<Arc<rustls::sign::CertifiedKey>>,
}

/// One thing an authtoken may bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// Exactly this host name.
    Domain(String),
    /// `*.example.com`.
    Wildcard(String),
    /// This TCP port.
    TcpPort(u16),
    /// Anything.
    Any,
}

/// An authtoken and its grants.
#[derive(Clone)]
pub struct Authtoken {
    /// The secret.
    pub token: String,
    /// The account it belongs to.
    pub account: String,
    /// What it may bind.
    pub allow: Vec<Allow>,
    /// SSH public keys that log in on the ssh listener as this token.
    pub authorized_keys: Vec<russh::keys::PublicKey>,
}

impl std::fmt::Debug for Authtoken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authtoken")
            .field("account", &self.account)
            .field("allow", &self.allow)
            .field("authorized_keys", &self.authorized_keys.len())
            .finish_non_exhaustive()
    }
}

/// A certificate from PEM files and the names it serves.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// Exact or wildcard names (lower case).
    pub names: Vec<String>,
    /// The PEM files it was read from (chain, then key), watched for changes.
    pub files: [PathBuf; 2],
    /// Chain and signing key, ready for rustls.
    pub key: Arc<rustls::sign::CertifiedKey>,
}

/// The listener an HTTP endpoint is served on. Not a [`sluice_policy::Protocol`]: TLS
/// endpoints are served on the https listener too, and TCP endpoints on none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP (the http listener).
    Http,
    /// HTTPS (the https listener).
    Https,
}

impl From<Scheme> for sluice_policy::Protocol {
    /// The protocol of the HTTP endpoints a listener serves.
    fn from(scheme: Scheme) -> Self {
        match scheme {
            Scheme::Http => sluice_policy::Protocol::Http,
            Scheme::Https => sluice_policy::Protocol::Https,
        }
    }
}

/// An endpoint's upstream: what it is called and where its traffic goes.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The upstream URL as written, or the agent-backed endpoint's description.
    pub url: String,
    /// Where connections go.
    pub target: Target,
}

/// Where an endpoint's traffic goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A plain address from the config.
    Address(Address),
    /// An agent session: each upstream connection is a stream opened on it.
    Tunnel(sluice_tunnel::AgentSession),
    /// Another edge of the cluster, which holds the agent: each upstream connection is an
    /// inter-edge connection to it.
    Peer(Arc<crate::cluster::PeerRoute>),
    /// None: the endpoint's policy answers every request (checked at load); a request it
    /// still lets through (a `forward-internal` with `on_error: continue` that failed) is
    /// answered as offline.
    PolicyOnly,
}

/// One endpoint: a host pattern, a policy and an upstream.
#[derive(Debug)]
pub struct Endpoint {
    /// Facts the policy sees as `endpoint.*`.
    pub info: Arc<EndpointInfo>,
    /// Host pattern: `app.example.com` or `*.example.com` (lower case).
    pub host: String,
    /// The listener it is served on.
    pub scheme: Scheme,
    /// The upstream.
    pub upstream: Upstream,
    /// Its compiled policy (empty when none is given).
    pub policy: Arc<Policy>,
    /// Public, or internal (a `.internal` name): never routed from a public listener.
    pub binding: sluice_tunnel::EndpointBinding,
    /// For an endpoint of the config: the account whose agent-bound internal endpoints its
    /// `forward-internal` reaches (`None`: the config's own). Agent endpoints use their
    /// session's account.
    pub account: Option<String>,
    /// The agent that bound it records its HTTP traffic: each request's policy trace is
    /// recorded and reported to it (see `sluice_tunnel::trace`). Never set for endpoints of
    /// the config.
    pub inspect: bool,
}

/// A plain-address upstream.
#[derive(Debug, Clone)]
pub struct Address {
    /// The URL as written.
    pub url: String,
    /// Resolved address (resolved once at start-up).
    pub addr: SocketAddr,
    /// Whether to speak TLS to it.
    pub tls: bool,
    /// Host name, used for SNI.
    pub host: String,
    /// HTTP version.
    pub protocol: UpstreamProtocol,
    /// Verify the upstream's certificate (https only).
    pub tls_verify: bool,
}

/// A config that failed to load: every problem found.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The problems, each with file, line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, d) in self.diagnostics.iter().filter(|d| d.is_error()).enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
