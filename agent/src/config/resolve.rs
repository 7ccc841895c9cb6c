//! From config entries to endpoints ready to bind.

use std::path::Path;

use serde_json::Value;

use super::legacy::{LegacyOptions, legacy_url, merge_policies};
use super::tls_termination::{self, TerminateAt};
use super::types::{EndpointConfig, TunnelConfig};
use super::{Config, ConfigError};
use crate::forward::{AgentTlsPem, HostHeader};
use crate::upstream::{AppProtocol, EndpointKind, ProxyProtocol, Upstream};

/// An endpoint to bind: what the tunnel's bind request and the local forwarder need.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedEndpoint {
    /// Name.
    pub name: String,
    /// HTTP, TCP or TLS.
    pub kind: EndpointKind,
    /// Requested URL (`None`: the edge picks one).
    pub url: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Metadata.
    pub metadata: Option<String>,
    /// Pooling.
    pub pooling_enabled: bool,
    /// Bindings (`public`, `internal`…).
    pub bindings: Vec<String>,
    /// The policy document (JSON, which is also YAML) to send at bind.
    pub traffic_policy: Option<String>,
    /// The upstream.
    pub upstream: Upstream,
    /// Record HTTP traffic.
    pub inspect: bool,
    /// Host header handling in the local forwarder.
    pub host_header: HostHeader,
    /// Agent-side TLS termination (`tls://` endpoints).
    pub agent_tls: Option<AgentTlsPem>,
    /// Serve the name under plain HTTP too, as ngrok does for `--scheme http,https`,
    /// `--bind-tls both` and v2's `schemes: [http, https]` / `bind_tls: both`: the endpoint binds
    /// HTTPS, then a second bind takes the same name under `http://` (see
    /// [`ResolvedEndpoint::http_twin`]).
    pub also_http: bool,
    /// ngrok's `--subdomain` / v2 `subdomain`: the edge names the endpoint `NAME.<its base
    /// domain>` (the URL, if any, is a scheme alone).
    pub subdomain: Option<String>,
}

/// The endpoint kind a URL implies.
pub fn kind_of_url(url: Option<&str>) -> EndpointKind {
    match url
        .and_then(|u| u.split_once("://"))
        .map(|(s, _)| s.to_ascii_lowercase())
    {
        Some(s) if s == "tcp" => EndpointKind::Tcp,
        Some(s) if s == "tls" => EndpointKind::Tls,
        _ => EndpointKind::Http,
    }
}

fn read_policy_file(file: &str, source: &Path) -> Result<String, ConfigError> {
    let path = match source.parent() {
        Some(dir) if Path::new(file).is_relative() => dir.join(file),
        _ => Path::new(file).to_path_buf(),
    };
    std::fs::read_to_string(&path).map_err(|source| ConfigError::Io { path, source })
}

fn policy_text(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Checks `bindings` against the endpoint's URL with the edge's rules (at most one of
/// `public` and `internal`; `.internal` names are internal, internal needs a `.internal` name).
pub fn check_bindings(bindings: &[String], url: Option<&str>) -> Result<(), String> {
    let host = url
        .and_then(sluice_tunnel::auth::host_port)
        .map(|(h, _)| h)
        .filter(|h| !h.is_empty());
    sluice_tunnel::binding::resolve(bindings, host.as_deref())
        .map(|_| ())
        .map_err(|e| format!("bindings: {e} [{}]", e.code))
}

/// Resolves one v3 endpoint.
pub fn resolve_endpoint(e: &EndpointConfig) -> Result<ResolvedEndpoint, ConfigError> {
    let err = |m: String| ConfigError::Invalid(format!("endpoint `{}`: {m}", e.name));
    let kind = kind_of_url(e.url.as_deref());
    let mut upstream = Upstream::parse(&e.upstream.url.0, kind).map_err(|x| err(x.to_string()))?;
    if let Some(p) = &e.upstream.protocol {
        upstream.protocol = AppProtocol::parse(p).map_err(|x| err(x.to_string()))?;
    }
    if let Some(p) = &e.upstream.proxy_protocol {
        let n = p.0.parse::<i64>().unwrap_or(0);
        upstream.proxy_protocol =
            Some(ProxyProtocol::from_number(n).map_err(|x| err(x.to_string()))?);
    }
    upstream.tls_verify = e.upstream.tls_verify.unwrap_or(false);
    let traffic_policy = match (&e.traffic_policy, &e.traffic_policy_file) {
        (Some(_), Some(_)) => {
            return Err(err(
                "set traffic_policy or traffic_policy_file, not both".into()
            ));
        }
        (Some(v), None) => Some(policy_text(v)),
        (None, Some(f)) => Some(read_policy_file(f, &e.source)?),
        (None, None) => None,
    };
    let bindings = e.bindings.clone().unwrap_or_default();
    check_bindings(&bindings, e.url.as_deref()).map_err(err)?;
    let agent_tls = match &e.agent_tls_termination {
        None => None,
        Some(t) => {
            tls_termination::from_v3(t, kind, &e.source)
                .map_err(err)?
                .agent
        }
    };
    Ok(ResolvedEndpoint {
        name: e.name.clone(),
        kind,
        url: e.url.clone().filter(|u| !u.is_empty()),
        description: e.description.clone(),
        metadata: e.metadata.clone(),
        pooling_enabled: e.pooling_enabled.unwrap_or(false),
        bindings,
        traffic_policy,
        upstream,
        inspect: true,
        host_header: HostHeader::Preserve,
        agent_tls,
        also_http: false,
        subdomain: None,
    })
}

/// The legacy options of a v2 tunnel.
pub fn tunnel_options(t: &TunnelConfig) -> LegacyOptions {
    let ip = t.ip_restriction.clone().unwrap_or_default();
    let req = t.request_header.clone().unwrap_or_default();
    let resp = t.response_header.clone().unwrap_or_default();
    let ua = t.user_agent_filter.clone().unwrap_or_default();
    let mut basic_auth = t.basic_auth.clone().unwrap_or_default();
    basic_auth.extend(t.auth.clone());
    LegacyOptions {
        basic_auth,
        cidr_allow: ip.allow_cidrs,
        cidr_deny: ip.deny_cidrs,
        request_header_add: req.add,
        request_header_remove: req.remove,
        response_header_add: resp.add,
        response_header_remove: resp.remove,
        circuit_breaker: t.circuit_breaker,
        compression: t.compression.unwrap_or(false),
        ua_allow: ua.allow,
        ua_deny: ua.deny,
        verify_webhook: t
            .verify_webhook
            .as_ref()
            .map(|v| (v.provider.clone(), v.secret.clone())),
        login: t.oauth.clone().or_else(|| t.oidc.clone()),
    }
}

/// Resolves one v2 tunnel: an endpoint plus the policy its legacy keys amount to.
pub fn resolve_tunnel(name: &str, t: &TunnelConfig) -> Result<ResolvedEndpoint, ConfigError> {
    let err = |m: String| ConfigError::Invalid(format!("tunnel `{name}`: {m}"));
    let kind = match t.proto.as_str() {
        "http" => EndpointKind::Http,
        "tcp" => EndpointKind::Tcp,
        "tls" => EndpointKind::Tls,
        other => {
            return Err(err(format!(
                "unknown proto `{other}` (expected http, tcp or tls)"
            )));
        }
    };
    if t.oauth.is_some() && t.oidc.is_some() {
        return Err(err("give `oauth` or `oidc`, not both".into()));
    }
    for (set, key) in [
        (
            t.mutual_tls_cas.is_some() && kind == EndpointKind::Tcp,
            "mutual_tls_cas",
        ),
        (
            t.websocket_tcp_converter == Some(true),
            "websocket_tcp_converter",
        ),
    ] {
        if set {
            return Err(err(format!(
                "`{key}` is not supported; write the equivalent traffic_policy"
            )));
        }
    }
    let addr = t.addr.as_ref().map(|a| a.0.as_str()).unwrap_or("80");
    let mut upstream = Upstream::parse(addr, kind).map_err(|x| err(x.to_string()))?;
    if let Some(p) = &t.proxy_proto {
        let n = p.0.parse::<i64>().unwrap_or(0);
        upstream.proxy_protocol =
            Some(ProxyProtocol::from_number(n).map_err(|x| err(x.to_string()))?);
    }
    if let Some(p) = &t.upstream_protocol {
        upstream.protocol = AppProtocol::parse(p).map_err(|x| err(x.to_string()))?;
    }
    let (scheme, both) = match &t.schemes {
        Some(list) => schemes(list).map_err(err)?,
        None => bind_tls_scheme(t.bind_tls.as_ref()).map_err(err)?,
    };
    let domain = t.domain.as_deref().or(t.hostname.as_deref());
    let subdomain = match (&t.subdomain, domain) {
        (Some(_), Some(_)) => {
            return Err(err(
                "give `subdomain` or `domain`/`hostname`, not both".into()
            ));
        }
        (Some(_), None) if kind == EndpointKind::Tcp => {
            return Err(err(
                "`subdomain` is for http and tls tunnels; tcp tunnels take `remote_addr`".into(),
            ));
        }
        (Some(s), None) => Some(check_subdomain(s).map_err(err)?),
        (None, _) => None,
    };
    if both && kind != EndpointKind::Http {
        return Err(err("both schemes are for http tunnels".into()));
    }
    let url = match kind {
        EndpointKind::Http => legacy_url(domain, scheme),
        EndpointKind::Tcp => t.remote_addr.as_ref().map(|a| format!("tcp://{a}")),
        EndpointKind::Tls => domain.map(|d| format!("tls://{d}")),
    };
    let at = t
        .terminate_at
        .as_deref()
        .map(TerminateAt::parse)
        .transpose()
        .map_err(err)?;
    let cas = t.mutual_tls_cas.iter().cloned().collect::<Vec<_>>();
    let term = tls_termination::termination(
        kind,
        at,
        t.crt.as_deref(),
        t.key.as_deref(),
        &cas,
        None,
        url.as_deref(),
    )
    .map_err(err)?;
    let generated = merge_policies(term.policy, tunnel_options(t).to_policy()?.as_ref());
    let user = t.traffic_policy.as_ref().or(t.policy.as_ref());
    Ok(ResolvedEndpoint {
        name: name.to_string(),
        kind,
        url,
        description: t.description.clone(),
        metadata: t.metadata.clone(),
        pooling_enabled: t.pooling_enabled.unwrap_or(false),
        bindings: Vec::new(),
        traffic_policy: merge_policies(generated, user).as_ref().map(policy_text),
        upstream,
        inspect: t.inspect.unwrap_or(true),
        host_header: HostHeader::parse(t.host_header.as_deref().unwrap_or_default()),
        agent_tls: term.agent,
        also_http: both,
        subdomain,
    })
}

/// The scheme a list of ngrok's schemes (`--scheme`, v2 `schemes`) binds, and whether plain
/// HTTP is wanted beside HTTPS. HTTPS is the primary URL when both are asked for.
pub fn schemes<S: AsRef<str>>(list: &[S]) -> Result<(Option<&'static str>, bool), String> {
    let (mut http, mut https) = (false, false);
    for s in list {
        match s.as_ref().trim().to_ascii_lowercase().as_str() {
            "http" => http = true,
            "https" => https = true,
            other => return Err(format!("schemes take http and/or https, not `{other}`")),
        }
    }
    Ok(match (http, https) {
        (_, true) => (Some("https"), http),
        (true, false) => (Some("http"), false),
        (false, false) => (None, false),
    })
}

/// The scheme v2's `bind_tls` asks for: `false` HTTP, `true` HTTPS only, `both` HTTPS and
/// HTTP (as `schemes: [http, https]`).
pub fn bind_tls_scheme(bind_tls: Option<&Value>) -> Result<(Option<&'static str>, bool), String> {
    let text = match bind_tls {
        None => return Ok((None, false)),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(other) => other.to_string(),
    };
    match text.as_str() {
        "false" => Ok((Some("http"), false)),
        "true" => Ok((Some("https"), false)),
        "both" => Ok((Some("https"), true)),
        _ => Err(format!(
            "`bind_tls` must be true, false or both, not {text}"
        )),
    }
}

/// Checks ngrok's `subdomain` (`--subdomain`): DNS labels of letters, digits and `-`, no
/// wildcard; returned in lower case.
pub fn check_subdomain(name: &str) -> Result<String, String> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || !name.split('.').all(label_ok) {
        return Err(format!(
            "subdomain `{name}` must be DNS labels of letters, digits and `-` (e.g. `my-app`)"
        ));
    }
    Ok(name)
}

impl Config {
    /// The endpoints and tunnels named (all of them with `all`), in config order: endpoints
    /// first, then tunnels. An unknown name is an error.
    pub fn resolve(
        &self,
        names: &[String],
        all: bool,
    ) -> Result<Vec<ResolvedEndpoint>, ConfigError> {
        for n in names {
            if !self.endpoints.iter().any(|e| &e.name == n) && !self.tunnels.contains_key(n) {
                return Err(ConfigError::Invalid(format!(
                    "no endpoint or tunnel named `{n}` in the config"
                )));
            }
        }
        let wanted = |n: &str| all || names.iter().any(|x| x == n);
        let mut out = Vec::new();
        for e in self.endpoints.iter().filter(|e| wanted(&e.name)) {
            out.push(resolve_endpoint(e)?);
        }
        for (name, t) in self.tunnels.iter().filter(|(n, _)| wanted(n)) {
            out.push(resolve_tunnel(name, t)?);
        }
        Ok(out)
    }
}
