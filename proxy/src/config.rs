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
//! events:
//!   output: stdout          # or a file path; one JSON line per finished request
//! endpoints:
//!   - url: http://app.localhost:8080
//!     upstream:
//!       url: http://127.0.0.1:3000
//!       protocol: http1       # or http2 (h2c for http://, ALPN h2 for https://)
//!     traffic_policy:         # inline, or `traffic_policy_file: policy.yml`
//!       on_http_request: [...]
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::IgnoredAny;
use sluice_policy::source::{Loc, Node, NodeDeserializer, PathSeg, parse};
use sluice_policy::{
    Code, Diagnostic, EndpointInfo, LoadOptions, Policy, PolicyError, Protocol, Registry,
    load_node, load_policy,
};

/// The raw file, as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EdgeConfig")]
struct RawConfig {
    /// Config format version; must be 1.
    version: u32,
    /// Addresses the edge listens on.
    listeners: RawListeners,
    /// Where request events go (default: stdout).
    #[serde(default)]
    events: Option<RawEvents>,
    /// Folder for the edge's state (its development CA), relative to this file;
    /// default `.sluice-edge`.
    #[serde(default)]
    state_dir: Option<String>,
    /// TLS certificates for the https listener (PEM files).
    #[serde(default)]
    certificates: Vec<RawCertificate>,
    /// Client-side timeouts.
    #[serde(default)]
    timeouts: Option<RawTimeouts>,
    /// Static endpoints with plain-address upstreams.
    #[serde(default)]
    endpoints: Vec<RawEndpoint>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Listeners")]
struct RawListeners {
    /// Plain HTTP listener, `host:port`.
    #[serde(default)]
    http: Option<String>,
    /// HTTPS listener, `host:port` (HTTP/1.1 and HTTP/2 by ALPN).
    #[serde(default)]
    https: Option<String>,
    /// Admin listener, `host:port`: `/healthz` and Prometheus `/metrics`.
    #[serde(default)]
    admin: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Certificate")]
struct RawCertificate {
    /// Names this certificate serves: exact (`app.example.com`) or wildcard (`*.example.com`).
    names: Vec<String>,
    /// PEM certificate chain, leaf first (relative to this file).
    cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1; relative to this file).
    key_file: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Timeouts")]
struct RawTimeouts {
    /// Close a client connection idle this long (`300ms`, `10s`, `5m`, `1h`); default `5m`.
    #[serde(default)]
    idle: Option<String>,
    /// A request header (HTTP/1) must be complete this long after its first byte; default `10s`.
    #[serde(default)]
    header_read: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Events")]
struct RawEvents {
    /// `stdout`, or a file path (relative to the config file) to append JSON lines to.
    output: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Endpoint")]
struct RawEndpoint {
    /// Public URL: `http://name[:port]` or `https://name[:port]`; the name may be a wildcard
    /// `*.example.com`.
    url: String,
    /// Where traffic goes.
    upstream: RawUpstream,
    /// Inline Traffic Policy.
    #[serde(default)]
    #[schemars(schema_with = "policy_ref")]
    traffic_policy: Option<IgnoredAny>,
    /// Traffic Policy file (relative to the config file).
    #[serde(default)]
    traffic_policy_file: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Upstream")]
struct RawUpstream {
    /// `http://host:port` or `https://host:port` (port 443 means https).
    url: String,
    /// `http1` (default) or `http2`.
    #[serde(default)]
    protocol: UpstreamProtocol,
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
    /// Where events go.
    pub events: EventsOutput,
    /// The endpoints, in file order.
    pub endpoints: Vec<Arc<Endpoint>>,
}

/// A certificate from PEM files and the names it serves.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// Exact or wildcard names (lower case).
    pub names: Vec<String>,
    /// Chain and signing key, ready for rustls.
    pub key: Arc<rustls::sign::CertifiedKey>,
}

/// The scheme an endpoint is served on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (the http listener).
    Http,
    /// HTTPS (the https listener).
    Https,
}

/// One endpoint with a plain-address upstream.
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
}

/// A plain-address upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
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

/// Reads and validates an edge config file, compiling every endpoint's policy with `registry`.
pub fn load_file(path: &Path, registry: &Registry) -> Result<EdgeConfig, ConfigError> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        diagnostics: vec![Diagnostic::error(
            Code::Syntax,
            &file,
            Loc::default(),
            &[],
            format!("cannot read the edge config: {e}"),
        )],
    })?;
    load_str(
        &file,
        &text,
        path.parent().unwrap_or(Path::new(".")),
        registry,
    )
}

/// Validates an edge config given as text; relative paths resolve against `base`.
pub fn load_str(
    file: &Arc<str>,
    text: &str,
    base: &Path,
    registry: &Registry,
) -> Result<EdgeConfig, ConfigError> {
    let root = parse(text).map_err(|(loc, message)| ConfigError {
        diagnostics: vec![Diagnostic::error(
            Code::Syntax,
            file,
            loc,
            &[],
            format!("not valid YAML: {message}"),
        )],
    })?;
    let raw: RawConfig = NodeDeserializer::deserialize(&root).map_err(|e| ConfigError {
        diagnostics: vec![Diagnostic::error(
            Code::InvalidConfig,
            file,
            e.loc.unwrap_or(root.loc),
            &e.path,
            e.message,
        )],
    })?;
    let mut cx = Checker {
        file,
        root: &root,
        diagnostics: Vec::new(),
    };
    if raw.version != 1 {
        cx.error(
            &[key("version")],
            format!(
                "unsupported config version {} (this edge reads version 1)",
                raw.version
            ),
        );
    }
    let http = raw
        .listeners
        .http
        .as_ref()
        .and_then(|a| cx.socket_addr(a, &[key("listeners"), key("http")]));
    let https = raw
        .listeners
        .https
        .as_ref()
        .and_then(|a| cx.socket_addr(a, &[key("listeners"), key("https")]));
    let admin = raw
        .listeners
        .admin
        .as_ref()
        .and_then(|a| cx.socket_addr(a, &[key("listeners"), key("admin")]));
    if raw.listeners.http.is_none() && raw.listeners.https.is_none() {
        cx.error(
            &[key("listeners")],
            "give at least one of the http and https listeners",
        );
    }
    let events = match raw.events.as_ref().map(|e| e.output.as_str()) {
        None | Some("stdout") => EventsOutput::Stdout,
        Some(p) => EventsOutput::File(base.join(p)),
    };
    let state_dir = base.join(raw.state_dir.as_deref().unwrap_or(".sluice-edge"));
    let mut idle_timeout = Duration::from_secs(300);
    let mut header_read_timeout = Duration::from_secs(10);
    if let Some(t) = &raw.timeouts {
        for (value, slot, name) in [
            (&t.idle, &mut idle_timeout, "idle"),
            (&t.header_read, &mut header_read_timeout, "header_read"),
        ] {
            let Some(text) = value else { continue };
            match parse_duration(text) {
                Some(d) if !d.is_zero() => *slot = d,
                _ => cx.error(
                    &[key("timeouts"), key(name)],
                    format!("`{text}` is not a duration like 300ms, 10s, 5m or 1h"),
                ),
            }
        }
    }
    let mut certificates = Vec::new();
    for (i, c) in raw.certificates.iter().enumerate() {
        let at = |k: &str| vec![key("certificates"), PathSeg::Index(i), key(k)];
        let mut names = Vec::new();
        for n in &c.names {
            let n = n.trim().to_ascii_lowercase();
            if !valid_host_pattern(&n) {
                cx.error(
                    &at("names"),
                    format!("`{n}` is not a host name or a wildcard like *.example.com"),
                );
                continue;
            }
            names.push(n);
        }
        if c.names.is_empty() {
            cx.error(&at("names"), "a certificate needs at least one name");
        }
        match load_certified_key(&base.join(&c.cert_file), &base.join(&c.key_file)) {
            Ok(key) => certificates.push(Certificate {
                names,
                key: Arc::new(key),
            }),
            Err(e) => cx.error(&at("cert_file"), e),
        }
    }
    let mut endpoints: Vec<Arc<Endpoint>> = Vec::new();
    for (i, ep) in raw.endpoints.iter().enumerate() {
        let at = |k: &str| vec![key("endpoints"), PathSeg::Index(i), key(k)];
        let Some((scheme, host, port)) = split_url(&ep.url) else {
            cx.error(
                &at("url"),
                format!(
                    "`{}` is not an endpoint URL like http://app.example.com:8080",
                    ep.url
                ),
            );
            continue;
        };
        let ep_scheme = if scheme == "https" {
            if https.is_none() && raw.listeners.https.is_none() {
                cx.error(
                    &at("url"),
                    "an https:// endpoint needs the https listener (listeners.https)",
                );
                continue;
            }
            Scheme::Https
        } else {
            if raw.listeners.http.is_none() {
                cx.error(
                    &at("url"),
                    "an http:// endpoint needs the http listener (listeners.http)",
                );
                continue;
            }
            Scheme::Http
        };
        let ep_protocol = match ep_scheme {
            Scheme::Http => Protocol::Http,
            Scheme::Https => Protocol::Https,
        };
        let host = host.to_ascii_lowercase();
        if !valid_host_pattern(&host) {
            cx.error(
                &at("url"),
                "a wildcard must be the whole first label, as in *.example.com",
            );
            continue;
        }
        if let Some(prev) = endpoints
            .iter()
            .find(|e| e.host == host && e.scheme == ep_scheme)
        {
            cx.error(
                &at("url"),
                format!("host {host} is already served by {}", prev.info.url),
            );
            continue;
        }
        let upstream_path = vec![
            key("endpoints"),
            PathSeg::Index(i),
            key("upstream"),
            key("url"),
        ];
        let Some(upstream) = cx.upstream(&ep.upstream, &upstream_path) else {
            continue;
        };
        let policy = match (&ep.traffic_policy, &ep.traffic_policy_file) {
            (Some(_), Some(_)) => {
                cx.error(
                    &at("traffic_policy_file"),
                    "give traffic_policy or traffic_policy_file, not both",
                );
                continue;
            }
            (Some(_), None) => {
                let Some(node) = root.at(&at("traffic_policy")) else {
                    continue;
                };
                cx.policy(load_node(
                    file,
                    node,
                    registry,
                    LoadOptions {
                        protocol: Some(ep_protocol),
                    },
                ))
            }
            (None, Some(p)) => {
                let path = base.join(p);
                match std::fs::read_to_string(&path) {
                    Ok(text) => cx.policy(load_policy(
                        &path.display().to_string(),
                        &text,
                        registry,
                        LoadOptions {
                            protocol: Some(ep_protocol),
                        },
                    )),
                    Err(e) => {
                        cx.error(
                            &at("traffic_policy_file"),
                            format!("cannot read {}: {e}", path.display()),
                        );
                        None
                    }
                }
            }
            (None, None) => Some(Policy::empty()),
        };
        let Some(policy) = policy else { continue };
        let url = format!(
            "{scheme}://{}",
            ep.url
                .split_once("://")
                .map_or("", |(_, r)| r.trim_end_matches('/'))
        );
        endpoints.push(Arc::new(Endpoint {
            info: Arc::new(EndpointInfo {
                id: format!("ep_{i}"),
                url,
                protocol: ep_protocol,
                host: host.clone(),
                port,
            }),
            host,
            scheme: ep_scheme,
            upstream,
            policy: Arc::new(policy),
        }));
    }
    if cx.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(ConfigError {
            diagnostics: cx.diagnostics,
        });
    }
    Ok(EdgeConfig {
        http,
        https,
        admin,
        state_dir,
        certificates,
        idle_timeout,
        header_read_timeout,
        events,
        endpoints,
    })
}

/// `app.example.com` or `*.example.com`.
fn valid_host_pattern(host: &str) -> bool {
    let rest = host.strip_prefix("*.").unwrap_or(host);
    !rest.is_empty() && !rest.contains('*') && !rest.contains('/') && !rest.contains(' ')
}

/// `300ms`, `10s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

/// Reads a PEM chain and key into a rustls signing key.
fn load_certified_key(cert: &Path, key: &Path) -> Result<rustls::sign::CertifiedKey, String> {
    let loaded = pingora::tls::load_certs_and_key_files(
        &cert.display().to_string(),
        &key.display().to_string(),
    )
    .map_err(|e| {
        format!(
            "cannot read the certificate {} or key {}: {e}",
            cert.display(),
            key.display()
        )
    })?;
    let Some((chain, key_der)) = loaded else {
        return Err(format!(
            "no certificate in {} or no private key in {}",
            cert.display(),
            key.display()
        ));
    };
    let signing = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .map_err(|e| format!("unusable private key {}: {e}", key.display()))?;
    Ok(rustls::sign::CertifiedKey::new(chain, signing))
}

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_string())
}

/// `scheme://host[:port][/]` → (scheme, host, port).
fn split_url(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let hostport = rest.strip_suffix('/').unwrap_or(rest);
    if hostport.is_empty() || hostport.contains('/') || hostport.contains('@') {
        return None;
    }
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (h, p.parse().ok()?),
        _ => (hostport, default_port),
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host.to_string(), port))
}

struct Checker<'a> {
    file: &'a Arc<str>,
    root: &'a Node,
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, path: &[PathSeg], message: impl Into<String>) {
        let loc = self.root.at(path).map_or(self.root.loc, |n| n.loc);
        self.diagnostics.push(Diagnostic::error(
            Code::InvalidValue,
            self.file,
            loc,
            path,
            message,
        ));
    }

    fn socket_addr(&mut self, text: &str, path: &[PathSeg]) -> Option<SocketAddr> {
        match text.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => Some(a),
            _ => {
                self.error(path, format!("`{text}` is not a host:port address"));
                None
            }
        }
    }

    fn upstream(&mut self, raw: &RawUpstream, path: &[PathSeg]) -> Option<Upstream> {
        let Some((scheme, host, port)) = split_url(&raw.url) else {
            self.error(
                path,
                format!(
                    "`{}` is not an upstream URL like http://127.0.0.1:3000",
                    raw.url
                ),
            );
            return None;
        };
        let tls = scheme == "https" || port == 443;
        let host_port = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let addr = match host_port.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => a,
            _ => {
                self.error(path, format!("cannot resolve the upstream host {host}"));
                return None;
            }
        };
        Some(Upstream {
            url: raw.url.clone(),
            addr,
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            protocol: raw.protocol,
        })
    }

    fn policy(&mut self, result: Result<Policy, PolicyError>) -> Option<Policy> {
        match result {
            Ok(p) => Some(p),
            Err(e) => {
                self.diagnostics.extend(e.diagnostics);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<EdgeConfig, ConfigError> {
        load_str(
            &Arc::from("edge.yml"),
            text,
            Path::new("."),
            &sluice_modules::builtin_registry(),
        )
    }

    #[test]
    fn minimal_config_loads() {
        let c = load(
            "version: 1\nlisteners:\n  http: 127.0.0.1:8080\nendpoints:\n  - url: http://app.localhost:8080\n    upstream:\n      url: http://127.0.0.1:3000\n",
        )
        .unwrap();
        assert_eq!(c.endpoints.len(), 1);
        assert_eq!(c.endpoints[0].host, "app.localhost");
        assert_eq!(c.endpoints[0].upstream.addr.port(), 3000);
        assert!(!c.endpoints[0].upstream.tls);
    }

    #[test]
    fn unknown_key_has_line_and_column() {
        let e = load("version: 1\nlisteners:\n  http: 127.0.0.1:8080\n  htp: x\n").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("edge.yml:4:"), "{s}");
        assert!(s.contains("htp"), "{s}");
    }

    #[test]
    fn inline_policy_errors_are_located_in_the_config() {
        let e = load(
            "version: 1\nlisteners:\n  http: 127.0.0.1:8080\nendpoints:\n  - url: http://a.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n    traffic_policy:\n      on_http_request:\n        - actions:\n            - type: no-such-action\n",
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("edge.yml:11:"), "{s}");
    }

    #[test]
    fn bad_version_and_bad_timeout_are_errors() {
        let e = load(
            "version: 2\nlisteners:\n  http: 127.0.0.1:8080\n  https: 127.0.0.1:8443\ntimeouts:\n  idle: soon\n",
        )
        .unwrap_err();
        assert_eq!(e.diagnostics.len(), 2);
        assert!(e.to_string().contains("edge.yml:6:"), "{e}");
    }

    #[test]
    fn https_endpoint_needs_the_https_listener() {
        let e = load(
            "version: 1\nlisteners:\n  http: 127.0.0.1:8080\nendpoints:\n  - url: https://a.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("edge.yml:5:"), "{e}");
        let c = load(
            "version: 1\nlisteners:\n  https: 127.0.0.1:8443\nendpoints:\n  - url: https://a.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n",
        )
        .unwrap();
        assert_eq!(c.endpoints[0].scheme, Scheme::Https);
        assert_eq!(c.endpoints[0].info.url, "https://a.localhost");
        assert_eq!(c.idle_timeout, Duration::from_secs(300));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("5 parsecs"), None);
    }

    #[test]
    fn url_split() {
        assert_eq!(
            split_url("http://a.b:81"),
            Some(("http".into(), "a.b".into(), 81))
        );
        assert_eq!(
            split_url("https://a.b/"),
            Some(("https".into(), "a.b".into(), 443))
        );
        assert_eq!(
            split_url("http://*.a.b"),
            Some(("http".into(), "*.a.b".into(), 80))
        );
        assert_eq!(split_url("http://a.b/path"), None);
        assert_eq!(split_url("ftp://a.b"), None);
    }
}
