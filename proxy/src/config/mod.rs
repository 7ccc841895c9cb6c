//! The edge config file: versioned YAML (`version: 1`), strict (unknown keys are errors), loaded
//! through the policy crate's located tree so every error names its file, line and column.
//!
//! ```yaml
//! version: 1
//! listeners:
//!   http: 127.0.0.1:8080
//!   https: 127.0.0.1:8443   # TLS; HTTP/2 by ALPN
//!   admin: 127.0.0.1:9090   # /healthz and Prometheus /metrics
//! state_dir: .sluice-edge   # the development CA lives here (relative to this file)
//! certificates:             # PEM files; names without one get a dev-CA certificate
//!   - names: [app.example.com, "*.example.com"]
//!     cert_file: example.pem
//!     key_file: example-key.pem
//! timeouts:
//!   idle: 5m                # an idle client connection is closed after this
//!   header_read: 10s        # a request header must arrive within this
//!   shutdown_grace: 10s     # on SIGTERM/SIGINT, requests in flight may finish within this
//! events:
//!   output: stdout          # or a file path; one JSON line per finished request
//! endpoints:
//!   - url: http://app.localhost:8080
//!     upstream:
//!       url: http://127.0.0.1:3000  # or https://…, host:port, or a port (443: https)
//!       protocol: http1       # or http2 (h2c for http://, ALPN h2 for https://)
//!       tls_verify: false     # verify an https upstream's certificate (default: no, as ngrok)
//!     traffic_policy:         # inline, or `traffic_policy_file: policy.yml`
//!       on_http_request: [...]
//! ip_policies:              # named CIDR lists for restrict-ips' `ip_policies: [office]`
//!   - name: office
//!     allow: [203.0.113.0/24]
//!     deny: [203.0.113.7]
//! tcp:                      # TCP endpoints bound by agents (`sluice tcp`)
//!   bind: 127.0.0.1         # IP that TCP endpoints listen on (default 0.0.0.0)
//!   host: localhost         # host written in tcp:// URLs (default: the first base domain,
//!                           # else the bind IP)
//!   ports: 20000-20999      # range for binds that name no port (default 10000-19999)
//! acme:                     # certificates from an ACME CA (see docs/acme.md)
//!   directory: https://acme.example/directory
//!   email: ops@example.com
//!   domains: [app.example.com]      # held from the start
//!   base_domains: [example.com]     # names agents bind under it, on first bind
//!   challenges: [http-01, tls-alpn-01]
//!   renew_before: 720h
//! cluster:                  # several edges as one, on etcd (see docs/cluster.md)
//!   etcd: [http://127.0.0.1:2379]
//!   edge_id: edge-a         # unique per edge
//!   listen: 10.0.0.1:7443   # inter-edge listener (mutual TLS with the cluster CA)
//!   lease_ttl: 10s          # placements outlive a dead edge by at most this
//!   ca_dir: cluster-ca      # default <state_dir>/cluster; the same CA on every edge
//! rate_limit:
//!   redis: redis://127.0.0.1:6379   # rate-limit counts shared by every edge naming it
//! tunnel:
//!   auth_limits:            # per source address (IPv6: per /64), wrong authtokens only
//!     free_failures: 5      # failures per window before the address is blocked
//!     window: 1m
//!     base_delay: 1s        # first block; doubles with each further failure
//!     max_delay: 5m
//!     max_tracked: 10000    # addresses remembered at most
//! ```

mod acme;
mod auth_limits;
mod check;
mod cluster;
mod ip_policies;
mod load;
mod model;
mod policy_only;
mod prepare;
mod rate_limit;
mod raw;
mod ssh_keys;
mod ssh_section;
mod tcp;
#[cfg(test)]
mod tests;
mod timeouts;

pub use check::parse_duration;
pub use load::{load_file, load_file_reusing, load_str};
pub use model::{
    AcmeChallenge, AcmeConfig, Address, Allow, Authtoken, Certificate, ClusterConfig, ConfigError,
    EdgeConfig, Endpoint, EventsOutput, Scheme, Target, TcpConfig, TunnelTls, Upstream,
    UpstreamProtocol,
};
pub use prepare::prepare_policies;
pub use raw::edge_config_schema;
