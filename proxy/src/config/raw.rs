//! The config file as written: the serde shapes, which also give its JSON Schema.

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::model::UpstreamProtocol;

/// The raw file, as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EdgeConfig")]
pub(super) struct RawConfig {
    /// Config format version; must be 1.
    pub(super) version: u32,
    /// Addresses the edge listens on.
    pub(super) listeners: RawListeners,
    /// Where request events go (default: stdout).
    #[serde(default)]
    pub(super) events: Option<RawEvents>,
    /// Folder for the edge's state (its development CA), relative to this file;
    /// default `.sluice-edge`.
    #[serde(default)]
    pub(super) state_dir: Option<String>,
    /// TLS certificates for the https listener (PEM files).
    #[serde(default)]
    pub(super) certificates: Vec<RawCertificate>,
    /// Client-side timeouts.
    #[serde(default)]
    pub(super) timeouts: Option<RawTimeouts>,
    /// Static endpoints with plain-address upstreams.
    #[serde(default)]
    pub(super) endpoints: Vec<RawEndpoint>,
    /// Authtokens agents may present on the tunnel listener, each with what it may bind.
    #[serde(default)]
    pub(super) authtokens: Vec<RawAuthtoken>,
    /// Named IP policies (allowed and denied CIDRs) that `restrict-ips` names with
    /// `ip_policies: [name]`, in this file's endpoints and in agents' policies.
    #[serde(default)]
    pub(super) ip_policies: Vec<RawIpPolicy>,
    /// Domains random endpoint names are made under (`<6 hex>.<base>`); default `[localhost]`.
    #[serde(default)]
    pub(super) base_domains: Vec<String>,
    /// The tunnel listener's TLS: the name its certificate is for and an optional PEM pair.
    #[serde(default)]
    pub(super) tunnel: Option<RawTunnel>,
    /// TCP endpoints bound by agents: where their ports listen and how their URLs read.
    #[serde(default)]
    pub(super) tcp: Option<RawTcp>,
    /// Settings of the SSH gateway (`listeners.ssh`).
    #[serde(default)]
    pub(super) ssh: Option<RawSsh>,
    /// Also send ngrok's `ngrok-error-code: ERR_NGROK_NNNN` beside `sluice-error-code` on
    /// every error the edge or an agent answers, for apps and monitors that read ngrok's
    /// header; default false.
    #[serde(default)]
    pub(super) ngrok_error_code_header: bool,
    /// Certificates the edge obtains and renews itself from an ACME CA (Let's Encrypt,
    /// pebble, …), for its own domains and for names agents bind under given domains.
    #[serde(default)]
    pub(super) acme: Option<RawAcme>,
    /// Several edges as one, sharing placements and name ownership in etcd (see
    /// `docs/cluster.md`); absent: a single edge.
    #[serde(default)]
    pub(super) cluster: Option<RawCluster>,
    /// Where `rate-limit` keeps its counts; absent: in each edge's memory.
    #[serde(default)]
    pub(super) rate_limit: Option<RawRateLimit>,
}

/// `rate_limit:` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RateLimit")]
pub(super) struct RawRateLimit {
    /// A Redis server (`redis://[user:password@]host[:port][/db]`) where every edge naming it
    /// counts the same `rate-limit` buckets in one sliding window (see `docs/cluster.md`).
    pub(super) redis: String,
}

/// `cluster:` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cluster")]
pub(super) struct RawCluster {
    /// etcd members' client URLs (`http://host:2379`), tried in order.
    pub(super) etcd: Vec<String>,
    /// This edge's name in the cluster: letters, digits, `-`, `_`, `.`; unique per edge.
    pub(super) edge_id: String,
    /// Address of the inter-edge listener (mutual TLS), which other edges dial.
    pub(super) listen: String,
    /// Address other edges dial to reach the inter-edge listener; default `listen`.
    #[serde(default)]
    pub(super) advertise: Option<String>,
    /// Lifetime of this edge's lease: its placements vanish this long after it dies;
    /// default 10s (2s to 10m, whole seconds).
    #[serde(default)]
    pub(super) lease_ttl: Option<String>,
    /// Folder of the cluster CA (`cluster-ca.pem`, `cluster-ca-key.pem`; made when
    /// missing), relative to this file; default `<state_dir>/cluster`. Every edge needs the
    /// same CA.
    #[serde(default)]
    pub(super) ca_dir: Option<String>,
}

/// `acme:` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Acme")]
pub(super) struct RawAcme {
    /// The CA's ACME directory URL (`https://…/directory`).
    pub(super) directory: String,
    /// Contact email given to the CA when the account is made.
    #[serde(default)]
    pub(super) email: Option<String>,
    /// PEM file of the roots that sign the directory's own HTTPS certificate (relative to this
    /// file), for a private or test CA such as pebble; default: the web PKI roots.
    #[serde(default)]
    pub(super) ca_roots: Option<String>,
    /// Names to hold a certificate for from the start (no wildcards: those need DNS-01).
    #[serde(default)]
    pub(super) domains: Vec<String>,
    /// A name an agent binds under one of these domains (`app.example.com` under
    /// `example.com`) gets its own certificate, ordered when it is first bound.
    #[serde(default)]
    pub(super) base_domains: Vec<String>,
    /// Challenges the edge answers: `http-01` (on the http listener) and/or `tls-alpn-01`
    /// (on the https listener); default: each one whose listener is configured.
    #[serde(default)]
    pub(super) challenges: Vec<RawChallenge>,
    /// Renew a certificate this long before it expires; default `720h` (30 days).
    #[serde(default)]
    pub(super) renew_before: Option<String>,
}

/// An ACME challenge type as written.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
pub(super) enum RawChallenge {
    /// A token served at `http://NAME/.well-known/acme-challenge/TOKEN`.
    #[serde(rename = "http-01")]
    Http01,
    /// A self-signed certificate offered to clients asking for ALPN `acme-tls/1`.
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

/// A named IP policy as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "IpPolicy")]
pub(super) struct RawIpPolicy {
    /// The name `restrict-ips` gives in `ip_policies` (e.g. `office` or an ngrok-style
    /// `ipp_…` id, so policies written for ngrok load unchanged).
    pub(super) name: String,
    /// CIDRs or addresses allowed; when not empty, a client must be in one of them.
    #[serde(default)]
    pub(super) allow: Vec<String>,
    /// CIDRs or addresses denied.
    #[serde(default)]
    pub(super) deny: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Tcp")]
pub(super) struct RawTcp {
    /// IP address TCP endpoints listen on; default `0.0.0.0`.
    #[serde(default)]
    pub(super) bind: Option<String>,
    /// Host written in `tcp://` URLs; default: the first of `base_domains`, else the bind IP
    /// (`localhost` when that is unspecified).
    #[serde(default)]
    pub(super) host: Option<String>,
    /// Ports for binds that name none: `FIRST-LAST` or one port; default `10000-19999`.
    #[serde(default)]
    #[schemars(schema_with = "ports_schema")]
    pub(super) ports: Option<RawPorts>,
}

/// A port range as written: `20000-20999`, or a single port (YAML may read it as a number).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawPorts {
    /// One port.
    Port(u32),
    /// `FIRST-LAST` (or one port as text).
    Text(String),
}

/// `tcp.ports` in the JSON Schema: `FIRST-LAST` or one port.
fn ports_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Ports for binds that name none: `FIRST-LAST` or one port; default `10000-19999`.",
        "anyOf": [
            { "type": "string", "pattern": "^\\s*[0-9]+\\s*(-\\s*[0-9]+\\s*)?$" },
            { "type": "integer", "minimum": 1, "maximum": 65535 }
        ]
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Authtoken")]
pub(super) struct RawAuthtoken {
    /// The secret agents present.
    pub(super) token: String,
    /// What it may bind: `app.example.com`, `*.example.com`, `tcp:PORT` or `*`.
    pub(super) allow: Vec<String>,
    /// Account name (sessions of one account take over each other's names); default: the
    /// token's position.
    #[serde(default)]
    pub(super) account: Option<String>,
    /// Public keys (OpenSSH `authorized_keys` lines) that log in on the ssh listener as this
    /// token: same account, same grants.
    #[serde(default)]
    pub(super) authorized_keys: Vec<String>,
    /// An OpenSSH `authorized_keys` file (relative to this file) with more such keys.
    #[serde(default)]
    pub(super) authorized_keys_file: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Tunnel")]
pub(super) struct RawTunnel {
    /// Name the tunnel listener's certificate is for; default `localhost`.
    #[serde(default)]
    pub(super) server_name: Option<String>,
    /// PEM certificate chain (relative to this file); default: issued by the development CA.
    #[serde(default)]
    pub(super) cert_file: Option<String>,
    /// PEM private key (relative to this file).
    #[serde(default)]
    pub(super) key_file: Option<String>,
    /// Blocking of source addresses that present wrong authtokens.
    #[serde(default)]
    pub(super) auth_limits: Option<RawAuthLimits>,
}

/// `ssh:` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Ssh")]
pub(super) struct RawSsh {
    /// How often the edge asks a quiet SSH client whether it is still there (as OpenSSH's
    /// `ClientAliveInterval`); a client that leaves 3 in a row unanswered, or reads nothing for
    /// 5 intervals while the edge has data for it, is dropped and its endpoint unbound.
    /// Between `1s` and `1h`; default `15s`.
    #[serde(default)]
    pub(super) keepalive_interval: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "AuthLimits")]
pub(super) struct RawAuthLimits {
    /// Wrong authtokens a source address (an IPv6 /64) may present per window before it is
    /// blocked; default 5.
    #[serde(default)]
    pub(super) free_failures: Option<u32>,
    /// How long failures are counted, from the first; default 1m.
    #[serde(default)]
    pub(super) window: Option<String>,
    /// The first block; it doubles with each further failure; default 1s.
    #[serde(default)]
    pub(super) base_delay: Option<String>,
    /// The longest block; default 5m.
    #[serde(default)]
    pub(super) max_delay: Option<String>,
    /// Source addresses remembered at most (the least recently seen are forgotten first);
    /// default 10000.
    #[serde(default)]
    pub(super) max_tracked: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Listeners")]
pub(super) struct RawListeners {
    /// Plain HTTP listener, `host:port`.
    #[serde(default)]
    pub(super) http: Option<String>,
    /// HTTPS listener, `host:port` (HTTP/1.1 and HTTP/2 by ALPN).
    #[serde(default)]
    pub(super) https: Option<String>,
    /// Admin listener, `host:port`: `/healthz` and Prometheus `/metrics`.
    #[serde(default)]
    pub(super) admin: Option<String>,
    /// Tunnel listener for agents, `host:port` (TLS).
    #[serde(default)]
    pub(super) tunnel: Option<String>,
    /// SSH gateway, `host:port`: `ssh -R` publishes a local port with the keys listed under
    /// each authtoken's `authorized_keys` (host key kept in the state folder).
    #[serde(default)]
    pub(super) ssh: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Certificate")]
pub(super) struct RawCertificate {
    /// Names this certificate serves: exact (`app.example.com`) or wildcard (`*.example.com`).
    pub(super) names: Vec<String>,
    /// PEM certificate chain, leaf first (relative to this file).
    pub(super) cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1; relative to this file).
    pub(super) key_file: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Timeouts")]
pub(super) struct RawTimeouts {
    /// Close a client connection idle this long (`300ms`, `10s`, `5m`, `1h`); default `5m`.
    #[serde(default)]
    pub(super) idle: Option<String>,
    /// A request header (HTTP/1) must be complete this long after its first byte; default `10s`.
    #[serde(default)]
    pub(super) header_read: Option<String>,
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish before the edge
    /// exits anyway; default `10s`.
    #[serde(default)]
    pub(super) shutdown_grace: Option<String>,
    /// Longest wait for the next chunk of a request body (HTTP/1 and HTTP/2); default `60s`.
    /// On expiry the client gets `408` with `ERR_SLUICE_3909`.
    #[serde(default)]
    pub(super) body_read: Option<String>,
    /// Least average request body rate in bytes a second, once `body_min_rate_grace` has
    /// passed (a body may take the grace period plus one second per this many bytes);
    /// default `500`, `0` turns it off.
    #[serde(default)]
    pub(super) body_min_rate: Option<u64>,
    /// Time a request body gets before `body_min_rate` applies; default `10s`.
    #[serde(default)]
    pub(super) body_min_rate_grace: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Events")]
pub(super) struct RawEvents {
    /// `stdout`, or a file path (relative to the config file) to append JSON lines to.
    pub(super) output: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Endpoint")]
pub(super) struct RawEndpoint {
    /// Public URL: `http://name[:port]` or `https://name[:port]`; the name may be a wildcard
    /// `*.example.com`.
    pub(super) url: String,
    /// Where traffic goes. Leave it out for an endpoint whose policy answers every request
    /// itself: its last `on_http_request` rule has no expressions and ends in a terminating
    /// action (`forward-internal`, `custom-response`, `deny`, `redirect`, `close-connection`).
    #[serde(default)]
    pub(super) upstream: Option<RawUpstream>,
    /// The account whose agent-bound internal endpoints its `forward-internal` reaches (by
    /// default, the internal endpoints of this config).
    #[serde(default)]
    pub(super) account: Option<String>,
    /// Inline Traffic Policy.
    #[serde(default)]
    #[schemars(schema_with = "policy_ref")]
    pub(super) traffic_policy: Option<IgnoredAny>,
    /// Traffic Policy file (relative to the config file).
    #[serde(default)]
    pub(super) traffic_policy_file: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Upstream")]
pub(super) struct RawUpstream {
    /// `http://host[:port]`, `https://host[:port]`, `host:port` or a bare port (as ngrok:
    /// without a scheme, port 443 means https; an explicit `http://` stays plain).
    pub(super) url: String,
    /// `http1` (default) or `http2`.
    #[serde(default)]
    pub(super) protocol: UpstreamProtocol,
    /// Verify an https upstream's certificate against the system's roots (default `false`:
    /// as ngrok, upstream certificates are not verified).
    #[serde(default)]
    pub(super) tls_verify: bool,
}

/// `traffic_policy` in the JSON Schema: a policy document.
fn policy_ref(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "$ref": "https://sluice.dev/schemas/policy.schema.json" })
}

/// The JSON Schema (draft-07) of the edge config file.
pub fn edge_config_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut value = generator.into_root_schema_for::<RawConfig>().to_value();
    value["$id"] = serde_json::json!("https://sluice.dev/schemas/edge-config.schema.json");
    value["title"] = serde_json::json!("sluice edge config");
    value
}
