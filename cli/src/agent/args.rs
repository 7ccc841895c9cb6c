//! The agent's flags: the session flags every agent command shares ([`SessionArgs`]) and the
//! endpoint flags of `sluice http|tcp|tls` ([`EndpointArgs`]), resolved into the agent
//! library's [`ResolvedEndpoint`] and the session [`Settings`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use sluice_agent::config::legacy::merge_policies;
use sluice_agent::config::tls_termination::{self, TerminateAt};
use sluice_agent::config::{Config, ConsoleColor, ConsoleUi, LogTarget, ResolvedEndpoint};
use sluice_agent::{
    AgentSetting, AppProtocol, EndpointKind, InspectLimits, ProxyProtocol, Upstream,
};
use sluice_policy::Registry;

use super::embedded::EmbeddedOptions;
use super::legacy::LegacyArgs;
use crate::log::{LogArgs, LogSetup};

/// Flags of every agent command: how to reach the edge, config files, web interface, log.
#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    /// The authtoken for the edge given by --connect-url (default: the config's).
    #[arg(long, env = "SLUICE_AUTHTOKEN", hide_env_values = true)]
    pub authtoken: Option<String>,
    /// The edge's tunnel address, `host:port` (default: the config's, else an edge embedded in
    /// this process); several edges of one cluster separated by commas, tried in turn.
    #[arg(long, env = "SLUICE_CONNECT_URL")]
    pub connect_url: Option<String>,
    /// A PEM CA file to trust for the edge instead of the system roots.
    #[arg(long)]
    pub connect_ca: Option<PathBuf>,
    /// Config file (repeatable; merged in order). Default: $XDG_CONFIG_HOME/sluice/sluice.yml,
    /// else ~/.config/sluice/sluice.yml, when it exists.
    #[arg(long)]
    pub config: Vec<PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
    /// Address of the web interface and local API, or `false` (default 127.0.0.1:4040).
    #[arg(long)]
    pub web_addr: Option<String>,
    /// The embedded edge's HTTP listener (default 127.0.0.1:8080, or a free port if taken).
    #[arg(long, hide = true)]
    pub edge_http: Option<SocketAddr>,
    /// The embedded edge's HTTPS listener for TLS endpoints (default 127.0.0.1:8443, or free).
    #[arg(long, hide = true)]
    pub edge_https: Option<SocketAddr>,
    /// The embedded edge's TCP port range (default 20000-20999).
    #[arg(long, hide = true)]
    pub edge_tcp_ports: Option<String>,
}

/// Flags of `sluice http|tcp|tls`.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// The local service: a port (`3000`), `host:port`, or a URL (`https://localhost:8443`,
    /// `file:///srv/www` for http).
    pub upstream: String,
    /// The public URL to bind (`app.example.com`, `https://app.example.com`,
    /// `tcp://host:20001`, `tls://app.example.com`); random when omitted.
    #[arg(long)]
    pub url: Option<String>,
    /// A Traffic Policy file sent to the edge with the bind.
    #[arg(long, conflicts_with = "traffic_policy_url")]
    pub traffic_policy_file: Option<PathBuf>,
    /// A Traffic Policy fetched over HTTP(S) at start and sent like a file (ngrok 3.26).
    #[arg(long)]
    pub traffic_policy_url: Option<String>,
    /// Share the URL with other agents binding it with pooling enabled.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub pooling_enabled: bool,
    /// Record requests for the web interface (`--inspect=false` to turn off).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub inspect: bool,
    /// HTTP version spoken to the upstream: `http1` or `http2`.
    #[arg(long)]
    pub upstream_protocol: Option<String>,
    /// PROXY protocol header sent to the upstream: `1` or `2`.
    #[arg(long)]
    pub upstream_proxy_protocol: Option<i64>,
    /// Verify the upstream's TLS certificate.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub upstream_tls_verify: bool,
    /// CA certificates (PEM file) the upstream's certificate must chain to; implies
    /// --upstream-tls-verify.
    #[arg(long)]
    pub upstream_tls_verify_cas: Option<PathBuf>,
    /// Who may reach the endpoint: `public` (the edge's listeners) or `internal` (only
    /// `forward-internal` from the same account; needs a `.internal` URL, which implies it).
    #[arg(long)]
    pub binding: Option<String>,
    /// The endpoint's name (default `command_line`).
    #[arg(long)]
    pub name: Option<String>,
    /// Free text attached to the endpoint.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Free text describing the endpoint.
    #[arg(long)]
    pub description: Option<String>,
    /// tls endpoints: certificate (PEM file) the agent terminates TLS with.
    #[arg(long)]
    pub crt: Option<String>,
    /// tls endpoints: private key (PEM file) of --crt.
    #[arg(long)]
    pub key: Option<String>,
    /// tls and https endpoints: CA certificates (PEM file) client certificates must chain to
    /// (on https endpoints, the edge's handshake checks them).
    #[arg(long)]
    pub mutual_tls_cas: Option<String>,
    /// tls endpoints, deprecated (use terminate-tls or agent_tls_termination): where TLS ends,
    /// `edge`, `agent` or `upstream` (default: agent with --crt/--key, else upstream).
    #[arg(long, hide = true)]
    pub terminate_at: Option<String>,
    #[command(flatten)]
    pub legacy: LegacyArgs,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// How the agent runs its session.
#[derive(Debug)]
pub struct Settings {
    /// Authtoken for a remote edge.
    pub authtoken: Option<String>,
    /// Remote edge's tunnel address; `None`: embedded edge.
    pub connect_url: Option<String>,
    /// CA file to trust for the remote edge.
    pub connect_ca: Option<PathBuf>,
    /// Web interface address.
    pub web_addr: Option<SocketAddr>,
    /// Inspector limits; `None`: inspection off.
    pub inspect_limits: Option<InspectLimits>,
    /// Heartbeat interval and tolerance.
    pub heartbeat: (Duration, Duration),
    /// Time allowed to dial and authenticate to the edge (`None`: the session's default).
    pub connect_timeout: Option<Duration>,
    /// The config's proxy for a remote edge (`proxy_url`, v2 `http_proxy`/`socks5_proxy`);
    /// `None`: the environment's (`HTTPS_PROXY`, `http_proxy`, `ALL_PROXY`, `NO_PROXY`).
    pub proxy_url: Option<String>,
    /// Extra `Host` values the web interface accepts (`web_allow_hosts`).
    pub web_allow_hosts: Vec<String>,
    /// The embedded edge's listeners.
    pub embedded: EmbeddedOptions,
    /// The log, until it is installed (taken) at start.
    pub log: Option<LogSetup>,
    /// Whether the log writes to a terminal (the full-screen console would draw over it).
    pub log_to_terminal: bool,
    /// `console_ui`.
    pub console_ui: ConsoleUi,
    /// `console_ui_color`.
    pub console_color: ConsoleColor,
    /// Each setting, its value and where it came from, for `/status`.
    pub sources: Vec<AgentSetting>,
}

pub(super) fn log_target(t: &LogTarget) -> String {
    match t {
        LogTarget::Off => "false".into(),
        LogTarget::Stdout => "stdout".into(),
        LogTarget::Stderr => "stderr".into(),
        LogTarget::File(p) => p.clone(),
    }
}

impl SessionArgs {
    /// The settings: flags first, then the merged config's `agent:` section, then defaults.
    pub fn settings(&self, cfg: &Config) -> anyhow::Result<Settings> {
        let agent = &cfg.agent;
        let web_addr = match self.web_addr.as_deref() {
            Some("false") => None,
            Some(a) => Some(
                a.parse::<SocketAddr>()
                    .with_context(|| format!("--web-addr `{a}` is not host:port or false"))?,
            ),
            None => agent.web_addr(),
        };
        let connect_ca = self.connect_ca.clone().or_else(|| {
            agent
                .connect_cas
                .as_deref()
                .filter(|c| !matches!(*c, "trusted" | "host"))
                .map(PathBuf::from)
        });
        let log = self
            .log
            .log
            .clone()
            .or_else(|| agent.log.as_ref().map(log_target));
        // As ngrok's agent: no log unless asked for.
        let log = LogSetup::new(
            log.as_deref(),
            self.log.log_level.as_deref().or(agent.log_level.as_deref()),
            self.log
                .log_format
                .as_deref()
                .or(agent.log_format.as_deref()),
            "false",
        )?;
        let log_to_terminal = log.writes_to_terminal();
        let mut settings = Settings {
            authtoken: self
                .authtoken
                .clone()
                .filter(|t| !t.is_empty())
                .or_else(|| agent.authtoken.clone()),
            connect_url: self
                .connect_url
                .clone()
                .filter(|u| !u.is_empty())
                .or_else(|| agent.connect_url.clone()),
            connect_ca,
            web_addr,
            inspect_limits: agent.inspect_limits(),
            heartbeat: agent.heartbeat(),
            connect_timeout: agent.connect_timeout.map(|d| d.0),
            proxy_url: agent.proxy_url.clone(),
            web_allow_hosts: agent.web_allow_hosts.clone().unwrap_or_default(),
            embedded: EmbeddedOptions {
                http: self.edge_http,
                https_addr: self.edge_https,
                tcp_ports: self.edge_tcp_ports.clone(),
                ca_dir: sluice_agent::config::default_path()
                    .and_then(|p| Some(p.parent()?.join("embedded-edge"))),
                ..EmbeddedOptions::default()
            },
            log: Some(log),
            log_to_terminal,
            console_ui: agent.console_ui(),
            console_color: agent.console_color(),
            sources: Vec::new(),
        };
        settings.sources = super::sources::report(self, cfg, &settings);
        Ok(settings)
    }
}

/// `url` with the endpoint's scheme added when it has none.
pub fn with_scheme(url: &str, kind: EndpointKind) -> String {
    if url.contains("://") {
        return url.to_owned();
    }
    let scheme = match kind {
        EndpointKind::Http => "http",
        EndpointKind::Tcp => "tcp",
        EndpointKind::Tls => "tls",
    };
    format!("{scheme}://{url}")
}

impl EndpointArgs {
    /// The endpoint these flags describe, and the deprecation warnings to print.
    pub fn resolve(
        &self,
        kind: EndpointKind,
        registry: &Registry,
    ) -> anyhow::Result<(ResolvedEndpoint, Vec<String>)> {
        let mut upstream = Upstream::parse(&self.upstream, kind)?;
        if let Some(p) = &self.upstream_protocol {
            if kind != EndpointKind::Http {
                bail!("--upstream-protocol is for http endpoints");
            }
            upstream.protocol = AppProtocol::parse(p)?;
        }
        if let Some(n) = self.upstream_proxy_protocol {
            upstream.proxy_protocol = Some(ProxyProtocol::from_number(n)?);
        }
        upstream.tls_verify = self.upstream_tls_verify;
        if let Some(path) = &self.upstream_tls_verify_cas {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            sluice_agent::forward::tls::client_config(true, Some(&pem), Vec::new())
                .map_err(|e| anyhow::anyhow!("--upstream-tls-verify-cas: {e}"))?;
            upstream.tls_verify = true;
            upstream.tls_verify_cas = Some(pem);
        }
        let legacy = self.legacy.translate().map_err(anyhow::Error::msg)?;
        let url = match (&self.url, &legacy.url) {
            (Some(_), Some(_)) => {
                bail!("give --url, not --url with --domain/--scheme/--remote-addr")
            }
            (Some(u), None) | (None, Some(u)) => Some(with_scheme(u, kind)),
            (None, None) => None,
        };
        if legacy.also_http && kind != EndpointKind::Http {
            bail!("--scheme http,https and --bind-tls both are for http endpoints");
        }
        if legacy.subdomain.is_some() {
            if kind == EndpointKind::Tcp {
                bail!("--subdomain is for http and tls endpoints; tcp endpoints get a port");
            }
            if url.as_deref().is_some_and(|u| !u.ends_with("://")) {
                bail!("give --subdomain or --url with a name, not both");
            }
        }
        let (user, source) = match (&self.traffic_policy_file, &self.traffic_policy_url) {
            (Some(path), _) => (
                Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ),
                path.display().to_string(),
            ),
            (None, Some(url)) => (
                Some(super::policy_url::fetch(url, kind, registry)?),
                url.clone(),
            ),
            (None, None) => (None, String::new()),
        };
        let at = self
            .terminate_at
            .as_deref()
            .map(TerminateAt::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--terminate-at: {e}"))?;
        let cas: Vec<String> = self.mutual_tls_cas.iter().cloned().collect();
        let termination = tls_termination::termination(
            kind,
            at,
            self.crt.as_deref(),
            self.key.as_deref(),
            &cas,
            None,
            url.as_deref(),
        )
        .map_err(|e| anyhow::anyhow!("--crt/--key/--mutual-tls-cas/--terminate-at: {e}"))?;
        let generated = merge_policies(termination.policy, legacy.options.to_policy()?.as_ref());
        let traffic_policy = match (generated, user) {
            (None, user) => user,
            (Some(g), None) => Some(serde_json::to_string_pretty(&g)?),
            (Some(g), Some(text)) => {
                let node = sluice_source::parse(&text).map_err(|(loc, m)| {
                    anyhow::anyhow!("{source}:{}:{}: {m}", loc.line, loc.col)
                })?;
                merge_policies(Some(g), Some(&node.to_json()))
                    .map(|p| serde_json::to_string_pretty(&p))
                    .transpose()?
            }
        };
        let bindings: Vec<String> = self.binding.iter().cloned().collect();
        sluice_agent::config::check_bindings(&bindings, url.as_deref())
            .map_err(|m| anyhow::anyhow!("--binding: {m}"))?;
        let endpoint = ResolvedEndpoint {
            name: self.name.clone().unwrap_or_else(|| "command_line".into()),
            kind,
            url,
            description: self.description.clone(),
            metadata: self.metadata.clone(),
            pooling_enabled: self.pooling_enabled,
            bindings,
            traffic_policy,
            upstream,
            inspect: self.inspect,
            host_header: legacy.host_header,
            agent_tls: termination.agent,
            also_http: legacy.also_http,
            subdomain: legacy.subdomain,
        };
        Ok((endpoint, legacy.warnings))
    }
}
