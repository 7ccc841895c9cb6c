//! The typed agent config file: ngrok's v3 (`version: 3`, `agent:`, `endpoints:`), the legacy
//! v2 `tunnels:` map, and v2's top-level agent keys. Unknown keys are errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use super::values::{GoDuration, LogTarget, Scalar, WebAddr};

/// One config file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `3` (or `2` for legacy files).
    pub version: Option<Scalar>,
    /// Agent settings (v3).
    pub agent: Option<AgentSection>,
    /// Endpoints (v3).
    #[serde(default)]
    pub endpoints: Vec<EndpointConfig>,
    /// Legacy tunnels (v2), by name.
    #[serde(default)]
    pub tunnels: BTreeMap<String, TunnelConfig>,
    /// v2: the authtoken at top level.
    pub authtoken: Option<String>,
    /// v2: the API key.
    pub api_key: Option<String>,
    /// v2: the edge address (v3 `connect_url`).
    pub server_addr: Option<String>,
    /// v2: CAs for the edge (v3 `connect_cas`).
    pub root_cas: Option<String>,
    /// v2: web interface address.
    pub web_addr: Option<WebAddr>,
    /// v2: log target.
    pub log: Option<LogTarget>,
    /// v2: log level.
    pub log_level: Option<String>,
    /// v2: log format.
    pub log_format: Option<String>,
    /// v2: metadata.
    pub metadata: Option<String>,
    /// v2: region (sluice has none: loads with a warning).
    pub region: Option<String>,
    /// v2: console UI.
    pub console_ui: Option<Value>,
    /// v2: update check.
    pub update_check: Option<bool>,
    /// v2: update channel.
    pub update_channel: Option<String>,
    /// v2: inspector size.
    pub inspect_db_size: Option<i64>,
    /// v2: heartbeat interval.
    pub heartbeat_interval: Option<GoDuration>,
    /// v2: heartbeat tolerance.
    pub heartbeat_tolerance: Option<GoDuration>,
    /// v2: proxy for the edge connection (`http://` CONNECT or `socks5://`).
    pub proxy_url: Option<String>,
    /// v2: HTTP proxy for the edge connection (CONNECT; `user:pass@` for basic credentials).
    pub http_proxy: Option<String>,
    /// v2: SOCKS5 proxy for the edge connection (`user:pass@` for its password method).
    pub socks5_proxy: Option<String>,
    /// v2: console colours (no effect: warned).
    pub console_ui_color: Option<String>,
    /// v2: self-update (`true` has no effect: warned).
    pub update: Option<bool>,
    /// What loading this file had to say about keys sluice cannot act on (set by the loader).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// The `agent:` section. Every key is optional; later files override earlier ones key by key.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// Authtoken.
    pub authtoken: Option<String>,
    /// API key (for API commands).
    pub api_key: Option<String>,
    /// Edge address `host:port`, or several edges of one cluster separated by commas.
    pub connect_url: Option<String>,
    /// `trusted`, `host` or a PEM path.
    pub connect_cas: Option<String>,
    /// Interface to dial from (Linux).
    pub connect_interface: Option<String>,
    /// Dial timeout.
    pub connect_timeout: Option<GoDuration>,
    /// `true`, `false` or `iftty`.
    pub console_ui: Option<Value>,
    /// `black` or `transparent`.
    pub console_ui_color: Option<String>,
    /// Skip CRL checks.
    pub crl_noverify: Option<bool>,
    /// CRL URL.
    pub crl_url: Option<String>,
    /// DNS resolvers.
    pub dns_resolver_ips: Option<Vec<String>>,
    /// Heartbeat interval (default 10s).
    pub heartbeat_interval: Option<GoDuration>,
    /// Heartbeat tolerance (default 15s).
    pub heartbeat_tolerance: Option<GoDuration>,
    /// Inspector size in bytes: 0 means 50 MB, -1 disables inspection.
    pub inspect_db_size: Option<i64>,
    /// `false`, `stdout`, `stderr` or a path.
    pub log: Option<LogTarget>,
    /// `debug`, `info`, `warn`, `error`, `crit`.
    pub log_level: Option<String>,
    /// `term`, `logfmt`, `json`.
    pub log_format: Option<String>,
    /// Session metadata (at most 4096 characters).
    pub metadata: Option<String>,
    /// Proxy for the edge connection: `http://[user:pass@]host:port` (CONNECT) or
    /// `socks5://[user:pass@]host:port` (`socks5h://`: the proxy resolves the edge's name).
    pub proxy_url: Option<String>,
    /// Remote management.
    pub remote_management: Option<bool>,
    /// Update channel.
    pub update_channel: Option<String>,
    /// Update check.
    pub update_check: Option<bool>,
    /// Web interface address (default `127.0.0.1:4040`) or `false`.
    pub web_addr: Option<WebAddr>,
    /// Extra `Host` values the web interface accepts.
    pub web_allow_hosts: Option<Vec<String>>,
}

macro_rules! overlay {
    ($base:ident, $top:ident; $($f:ident),* $(,)?) => {
        $( if $top.$f.is_some() { $base.$f = $top.$f.clone(); } )*
    };
}

macro_rules! keys_set {
    ($section:ident; $($f:ident),* $(,)?) => {{
        let mut keys = Vec::new();
        $( if $section.$f.is_some() { keys.push(stringify!($f)); } )*
        keys
    }};
}

impl AgentSection {
    /// The keys this section sets, by their config names (to tell where a setting came from).
    pub fn keys_set(&self) -> Vec<&'static str> {
        keys_set!(self; authtoken, api_key, connect_url, connect_cas, connect_interface,
            connect_timeout, console_ui, console_ui_color, crl_noverify, crl_url,
            dns_resolver_ips, heartbeat_interval, heartbeat_tolerance, inspect_db_size, log,
            log_level, log_format, metadata, proxy_url, remote_management, update_channel,
            update_check, web_addr, web_allow_hosts)
    }

    /// Overlays `later` on `self`: every key `later` sets wins.
    pub fn merge(&mut self, later: &AgentSection) {
        overlay!(self, later; authtoken, api_key, connect_url, connect_cas, connect_interface,
            connect_timeout, console_ui, console_ui_color, crl_noverify, crl_url,
            dns_resolver_ips, heartbeat_interval, heartbeat_tolerance, inspect_db_size, log,
            log_level, log_format, metadata, proxy_url, remote_management, update_channel,
            update_check, web_addr, web_allow_hosts);
    }
}

impl ConfigFile {
    /// v2's proxy: `proxy_url`, else `http_proxy`, else `socks5_proxy` (a scheme added when
    /// the value has none, so `socks5_proxy: host:1080` means SOCKS5).
    pub fn v2_proxy_url(&self) -> Option<String> {
        let with = |scheme: &str, v: &String| match v.contains("://") {
            true => v.clone(),
            false => format!("{scheme}://{v}"),
        };
        self.proxy_url
            .clone()
            .or_else(|| self.http_proxy.as_ref().map(|v| with("http", v)))
            .or_else(|| self.socks5_proxy.as_ref().map(|v| with("socks5", v)))
    }

    /// The agent settings, with v2's top-level keys folded in (the `agent:` section wins).
    pub fn agent_settings(&self) -> AgentSection {
        let mut a = AgentSection {
            authtoken: self.authtoken.clone(),
            api_key: self.api_key.clone(),
            connect_url: self.server_addr.clone(),
            connect_cas: self.root_cas.clone(),
            web_addr: self.web_addr.clone(),
            log: self.log.clone(),
            log_level: self.log_level.clone(),
            log_format: self.log_format.clone(),
            metadata: self.metadata.clone(),
            console_ui: self.console_ui.clone(),
            update_check: self.update_check,
            update_channel: self.update_channel.clone(),
            inspect_db_size: self.inspect_db_size,
            heartbeat_interval: self.heartbeat_interval,
            heartbeat_tolerance: self.heartbeat_tolerance,
            proxy_url: self.v2_proxy_url(),
            ..AgentSection::default()
        };
        if let Some(agent) = &self.agent {
            a.merge(agent);
        }
        a
    }
}

/// One v3 endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// Unique name, used by `sluice start NAME`.
    pub name: String,
    /// Domain, origin, scheme only (`https://`), or empty for a random https URL.
    pub url: Option<String>,
    /// `public`, `internal` or `kubernetes` (at most one).
    pub bindings: Option<Vec<String>>,
    /// Free text.
    pub description: Option<String>,
    /// Free text.
    pub metadata: Option<String>,
    /// Share the URL with other agents.
    pub pooling_enabled: Option<bool>,
    /// Inline policy.
    pub traffic_policy: Option<Value>,
    /// Policy file, relative to the config file's folder.
    pub traffic_policy_file: Option<String>,
    /// Agent-side TLS termination (`tls://` URLs).
    pub agent_tls_termination: Option<AgentTlsTermination>,
    /// Where traffic goes.
    pub upstream: UpstreamConfig,
    /// The file that defined it (set by the loader).
    #[serde(skip)]
    pub source: PathBuf,
}

/// `agent_tls_termination`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentTlsTermination {
    /// Certificate path or PEM.
    pub server_certificate: Option<String>,
    /// Key path or PEM.
    pub server_private_key: Option<String>,
    /// Client CAs.
    pub mutual_tls_certificate_authorities: Option<Vec<String>>,
}

/// `upstream:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Port, host, host:port, scheme:// or URL.
    pub url: Scalar,
    /// `http1` or `http2`.
    pub protocol: Option<String>,
    /// `1` or `2`.
    pub proxy_protocol: Option<Scalar>,
    /// Verify the upstream's certificate (sluice extension; ngrok's `--upstream-tls-verify`).
    pub tls_verify: Option<bool>,
}

/// `ip_restriction` (v2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpRestriction {
    /// Allowed CIDRs.
    #[serde(default)]
    pub allow_cidrs: Vec<String>,
    /// Denied CIDRs.
    #[serde(default)]
    pub deny_cidrs: Vec<String>,
}

/// `request_header` / `response_header` (v2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderOps {
    /// `Name: value` entries to add.
    #[serde(default)]
    pub add: Vec<String>,
    /// Names to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// `user_agent_filter` (v2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UaFilter {
    /// RE2 patterns allowed.
    #[serde(default)]
    pub allow: Vec<String>,
    /// RE2 patterns denied.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// `verify_webhook` (v2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyWebhook {
    /// Provider name.
    pub provider: String,
    /// Signing secret.
    pub secret: String,
}

/// One legacy v2 tunnel.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelConfig {
    /// `http`, `tcp` or `tls`.
    pub proto: String,
    /// Upstream address.
    pub addr: Option<Scalar>,
    /// `user:pass` credentials.
    pub basic_auth: Option<Vec<String>>,
    /// Older single `user:pass` form.
    pub auth: Option<String>,
    /// 5xx ratio that opens the circuit breaker.
    pub circuit_breaker: Option<f64>,
    /// gzip responses.
    pub compression: Option<bool>,
    /// `rewrite`, `preserve` or a host.
    pub host_header: Option<String>,
    /// Domain to bind.
    pub domain: Option<String>,
    /// Older name of `domain`.
    pub hostname: Option<String>,
    /// Subdomain of the edge's base domain.
    pub subdomain: Option<String>,
    /// Record traffic in the inspector (default true).
    pub inspect: Option<bool>,
    /// CIDR allow/deny lists.
    pub ip_restriction: Option<IpRestriction>,
    /// Mutual TLS CAs.
    pub mutual_tls_cas: Option<String>,
    /// OAuth login (`provider`, `client_id`, `client_secret`, `scopes`, `allow_emails`,
    /// `allow_domains`): becomes an `oauth` action.
    pub oauth: Option<super::LegacyLogin>,
    /// OIDC login (`issuer`, `client_id`, `client_secret`, `scopes`, `allow_emails`,
    /// `allow_domains`): becomes an `openid-connect` action.
    pub oidc: Option<super::LegacyLogin>,
    /// PROXY protocol version to the upstream.
    pub proxy_proto: Option<Scalar>,
    /// Request header edits.
    pub request_header: Option<HeaderOps>,
    /// Response header edits.
    pub response_header: Option<HeaderOps>,
    /// `http` and/or `https`.
    pub schemes: Option<Vec<String>>,
    /// Older form of `schemes`: `true`, `false` or `both`.
    pub bind_tls: Option<Value>,
    /// User-agent filter.
    pub user_agent_filter: Option<UaFilter>,
    /// Webhook verification.
    pub verify_webhook: Option<VerifyWebhook>,
    /// Not supported.
    pub websocket_tcp_converter: Option<bool>,
    /// Inline policy.
    pub traffic_policy: Option<Value>,
    /// Older policy form (`inbound` / `outbound`).
    pub policy: Option<Value>,
    /// TCP: remote address to bind.
    pub remote_addr: Option<String>,
    /// TLS: certificate for agent-side termination.
    pub crt: Option<String>,
    /// TLS: key for agent-side termination.
    pub key: Option<String>,
    /// TLS: `edge`, `agent` or `upstream`.
    pub terminate_at: Option<String>,
    /// Metadata.
    pub metadata: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Pooling.
    pub pooling_enabled: Option<bool>,
    /// Upstream HTTP version.
    pub upstream_protocol: Option<String>,
}
