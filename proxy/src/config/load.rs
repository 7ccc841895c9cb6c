//! Loading: YAML to the raw shapes, then validation into an [`EdgeConfig`], every problem
//! collected with its location.

use std::path::Path;
use std::sync::Arc;

use sluice_policy::{
    Code, Diagnostic, EndpointInfo, IpPolicyNames, LoadOptions, Policy, Protocol, Registry,
    load_node, load_policy,
};
use sluice_source::{Loc, NodeDeserializer, PathSeg, parse};

use super::check::{Checker, key, load_certified_key, split_url, valid_host_pattern};
use super::ip_policies::ip_policies_section;
use super::model::{
    Allow, Authtoken, Certificate, ConfigError, EdgeConfig, Endpoint, EventsOutput, Scheme, Target,
    TunnelTls, Upstream,
};
use super::raw::RawConfig;
use super::tcp::tcp_section;
use super::timeouts::timeouts_section;
use crate::rate_limit_redis::RedisWindows;

/// Reads and validates an edge config file, compiling every endpoint's policy with `registry`.
pub fn load_file(path: &Path, registry: &Registry) -> Result<EdgeConfig, ConfigError> {
    load_file_reusing(path, registry, None)
}

/// [`load_file`] for a reload: when `rate_limit.redis` still names the URL of `running`
/// (the running config's store), that store (and its connection) is kept.
pub fn load_file_reusing(
    path: &Path,
    registry: &Registry,
    running: Option<Arc<RedisWindows>>,
) -> Result<EdgeConfig, ConfigError> {
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
    load_text(
        &file,
        &text,
        path.parent().unwrap_or(Path::new(".")),
        registry,
        running,
    )
}

/// Validates an edge config given as text; relative paths resolve against `base`.
pub fn load_str(
    file: &Arc<str>,
    text: &str,
    base: &Path,
    registry: &Registry,
) -> Result<EdgeConfig, ConfigError> {
    load_text(file, text, base, registry, None)
}

/// [`load_str`], keeping the `running` Redis store when the config still names its URL.
pub(super) fn load_text(
    file: &Arc<str>,
    text: &str,
    base: &Path,
    registry: &Registry,
    running: Option<Arc<RedisWindows>>,
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
    let timeouts = timeouts_section(&mut cx, raw.timeouts.as_ref());
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
                files: [base.join(&c.cert_file), base.join(&c.key_file)],
                key: Arc::new(key),
            }),
            Err(e) => cx.error(&at("cert_file"), e),
        }
    }
    let ip_policies = ip_policies_section(&mut cx, &raw.ip_policies);
    let rate_limit_redis = raw
        .rate_limit
        .as_ref()
        .and_then(|r| super::rate_limit::rate_limit_section(&mut cx, r, running));
    let policy_options = LoadOptions {
        protocol: None,
        local_secrets: true,
        ip_policies: IpPolicyNames::Known(ip_policies.clone()),
        // The edge config's own endpoints: the same on every edge given the same file.
        shared_counters: crate::rate_limit_redis::shared_counters(&rate_limit_redis, "config"),
    };
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
        let ep_protocol = Protocol::from(ep_scheme);
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
        let (upstream_url, target) = match &ep.upstream {
            Some(raw_upstream) => match cx.upstream(raw_upstream, &upstream_path) {
                Some(upstream) => (upstream.url.clone(), Target::Address(upstream)),
                None => continue,
            },
            None => (
                "none (the traffic policy answers)".to_string(),
                Target::PolicyOnly,
            ),
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
                        ..policy_options.clone()
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
                            ..policy_options.clone()
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
        if matches!(target, Target::PolicyOnly)
            && let Err(why) = super::policy_only::answers_every_request(&policy)
        {
            cx.error(&at("url"), why);
            continue;
        }
        let url = format!(
            "{scheme}://{}",
            ep.url
                .split_once("://")
                .map_or("", |(_, r)| r.trim_end_matches('/'))
        );
        // A `.internal` name is internal: kept for forward-internal, never routed publicly.
        let binding = if sluice_tunnel::binding::is_internal_host(&host) {
            sluice_tunnel::EndpointBinding::Internal
        } else {
            sluice_tunnel::EndpointBinding::Public
        };
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
            upstream: Upstream {
                url: upstream_url,
                target,
            },
            policy: Arc::new(policy),
            binding,
            account: ep.account.clone(),
            inspect: false,
        }));
    }
    let tunnel = raw
        .listeners
        .tunnel
        .as_ref()
        .and_then(|a| cx.socket_addr(a, &[key("listeners"), key("tunnel")]));
    let ssh = raw
        .listeners
        .ssh
        .as_ref()
        .and_then(|a| cx.socket_addr(a, &[key("listeners"), key("ssh")]));
    let ssh_keepalive_interval =
        super::ssh_section::ssh_section(&mut cx, raw.ssh.as_ref(), ssh.is_some());
    let mut authtokens = Vec::new();
    for (i, t) in raw.authtokens.iter().enumerate() {
        let at = |k: &str| vec![key("authtokens"), PathSeg::Index(i), key(k)];
        if t.token.trim().is_empty() {
            cx.error(&at("token"), "an authtoken cannot be empty");
        }
        let mut allow = Vec::new();
        for (j, a) in t.allow.iter().enumerate() {
            let a = a.trim().to_ascii_lowercase();
            if a == "*" {
                allow.push(Allow::Any);
            } else if let Some(p) = a.strip_prefix("tcp:") {
                match p.parse::<u16>() {
                    Ok(p) if p > 0 => allow.push(Allow::TcpPort(p)),
                    _ => {
                        let mut path = at("allow");
                        path.push(PathSeg::Index(j));
                        cx.error(&path, format!("`{a}` is not a TCP port like tcp:20000"));
                    }
                }
            } else if valid_host_pattern(&a) {
                allow.push(if a.starts_with("*.") {
                    Allow::Wildcard(a)
                } else {
                    Allow::Domain(a)
                });
            } else {
                let mut path = at("allow");
                path.push(PathSeg::Index(j));
                cx.error(
                    &path,
                    format!("`{a}` is not a domain, a wildcard like *.example.com, or tcp:PORT"),
                );
            }
        }
        if authtokens.iter().any(|x: &Authtoken| x.token == t.token) {
            cx.error(&at("token"), "this authtoken is given twice");
        }
        let authorized_keys = super::ssh_keys::authorized_keys(&mut cx, base, i, t);
        authtokens.push(Authtoken {
            token: t.token.clone(),
            account: t.account.clone().unwrap_or_else(|| format!("account-{i}")),
            allow,
            authorized_keys,
        });
    }
    let mut base_domains = Vec::new();
    for (i, d) in raw.base_domains.iter().enumerate() {
        let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        if d.starts_with('*') || !valid_host_pattern(&d) {
            cx.error(
                &[key("base_domains"), PathSeg::Index(i)],
                format!("`{d}` is not a domain name"),
            );
        } else if sluice_tunnel::binding::is_internal_host(&format!("x.{d}")) {
            cx.error(
                &[key("base_domains"), PathSeg::Index(i)],
                format!("`{d}` is an internal domain; public names cannot be made under it"),
            );
        } else {
            base_domains.push(d);
        }
    }
    let tcp = tcp_section(&mut cx, raw.tcp.as_ref(), &base_domains);
    if base_domains.is_empty() {
        base_domains.push("localhost".to_string());
    }
    let mut tunnel_tls = TunnelTls {
        server_name: "localhost".to_string(),
        key: None,
    };
    if let Some(t) = &raw.tunnel {
        if let Some(n) = &t.server_name {
            tunnel_tls.server_name = n.trim().to_ascii_lowercase();
        }
        match (&t.cert_file, &t.key_file) {
            (Some(c), Some(k)) => match load_certified_key(&base.join(c), &base.join(k)) {
                Ok(key) => tunnel_tls.key = Some(Arc::new(key)),
                Err(e) => cx.error(&[key("tunnel"), key("cert_file")], e),
            },
            (None, None) => {}
            _ => cx.error(
                &[key("tunnel")],
                "give both cert_file and key_file, or neither",
            ),
        }
    }
    let auth_limits = super::auth_limits::auth_limits(
        &mut cx,
        raw.tunnel.as_ref().and_then(|t| t.auth_limits.as_ref()),
    );
    let acme = raw
        .acme
        .as_ref()
        .and_then(|a| super::acme::acme_section(&mut cx, a, base, http.is_some(), https.is_some()));
    let cluster = raw
        .cluster
        .as_ref()
        .and_then(|c| super::cluster::cluster_section(&mut cx, c, base, &state_dir));
    if tunnel.is_some() && authtokens.is_empty() {
        cx.error(
            &[key("listeners"), key("tunnel")],
            "the tunnel listener needs at least one entry in authtokens",
        );
    }
    if ssh.is_some() && authtokens.iter().all(|t| t.authorized_keys.is_empty()) {
        cx.error(
            &[key("listeners"), key("ssh")],
            "the ssh listener needs authorized_keys under at least one authtoken",
        );
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
        idle_timeout: timeouts.idle,
        header_read_timeout: timeouts.header_read,
        shutdown_grace: timeouts.shutdown_grace,
        body_timeouts: timeouts.body,
        events,
        endpoints,
        tunnel,
        ssh,
        ssh_keepalive_interval,
        tunnel_tls,
        authtokens,
        auth_limits,
        base_domains,
        tcp,
        ngrok_error_code_header: raw.ngrok_error_code_header,
        ip_policies,
        only_endpoint_at_ip: false,
        acme,
        cluster,
        rate_limit_redis,
    })
}
