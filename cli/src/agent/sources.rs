//! Where each agent setting came from, for the `/status` page: a flag, an environment
//! variable, the config file that set it last, or sluice's default.

use sluice_agent::AgentSetting;
use sluice_agent::config::{Config, ConsoleColor, ConsoleUi};

use super::args::{SessionArgs, Settings, log_target};

/// One setting's origin: `flag` when the flag was given (`env` when its value is that
/// environment variable's), else the config file that set `key`, else `default`.
fn origin(cfg: &Config, key: &str, flag: Option<(&str, Option<&str>)>, value: &str) -> String {
    if let Some((flag, env)) = flag {
        return match env.and_then(|e| std::env::var(e).ok().filter(|v| v == value).map(|_| e)) {
            Some(e) => format!("environment {e}"),
            None => format!("flag {flag}"),
        };
    }
    match cfg.agent_sources.get(key) {
        Some(path) => format!("config file {}", path.display()),
        None => "default".into(),
    }
}

/// A duration as a config file writes it (`10s`, `1500ms`).
fn duration(d: std::time::Duration) -> String {
    match d.subsec_millis() {
        0 => format!("{}s", d.as_secs()),
        _ => format!("{}ms", d.as_millis()),
    }
}

/// The settings report: every agent setting that changes what this agent does.
pub fn report(args: &SessionArgs, cfg: &Config, s: &Settings) -> Vec<AgentSetting> {
    let agent = &cfg.agent;
    let mut out = Vec::new();
    let mut push = |name: &str, value: String, source: String| {
        out.push(AgentSetting {
            name: name.to_owned(),
            value,
            source,
        });
    };
    let flag_token = args.authtoken.as_deref().filter(|t| !t.is_empty());
    push(
        "authtoken",
        match &s.authtoken {
            Some(_) => "set (hidden)".into(),
            None => "none".into(),
        },
        origin(
            cfg,
            "authtoken",
            flag_token.map(|_| ("--authtoken", Some("SLUICE_AUTHTOKEN"))),
            flag_token.unwrap_or_default(),
        ),
    );
    let flag_url = args.connect_url.as_deref().filter(|u| !u.is_empty());
    push(
        "connect_url",
        s.connect_url
            .clone()
            .unwrap_or_else(|| "none: an edge embedded in this process".into()),
        origin(
            cfg,
            "connect_url",
            flag_url.map(|_| ("--connect-url", Some("SLUICE_CONNECT_URL"))),
            flag_url.unwrap_or_default(),
        ),
    );
    push(
        "connect_cas",
        s.connect_ca
            .as_ref()
            .map_or_else(|| "the system's roots".into(), |p| p.display().to_string()),
        origin(
            cfg,
            "connect_cas",
            args.connect_ca.as_ref().map(|_| ("--connect-ca", None)),
            "",
        ),
    );
    push(
        "proxy_url",
        match &s.proxy_url {
            Some(url) => sluice_tunnel::EdgeProxy::parse(url)
                .map_or_else(|e| e.to_string(), |p| p.to_string()),
            None => "none (the environment's HTTPS_PROXY, http_proxy or ALL_PROXY if set)".into(),
        },
        origin(cfg, "proxy_url", None, ""),
    );
    push(
        "connect_timeout",
        s.connect_timeout.map_or_else(|| "10s".into(), duration),
        origin(cfg, "connect_timeout", None, ""),
    );
    let (interval, tolerance) = s.heartbeat;
    push(
        "heartbeat_interval",
        duration(interval),
        origin(cfg, "heartbeat_interval", None, ""),
    );
    push(
        "heartbeat_tolerance",
        duration(tolerance),
        origin(cfg, "heartbeat_tolerance", None, ""),
    );
    push(
        "web_addr",
        s.web_addr.map_or_else(|| "false".into(), |a| a.to_string()),
        origin(
            cfg,
            "web_addr",
            args.web_addr.as_ref().map(|_| ("--web-addr", None)),
            "",
        ),
    );
    push(
        "web_allow_hosts",
        match s.web_allow_hosts.is_empty() {
            true => "loopback names only".into(),
            false => s.web_allow_hosts.join(", "),
        },
        origin(cfg, "web_allow_hosts", None, ""),
    );
    push(
        "inspect_db_size",
        match s.inspect_limits {
            Some(l) => format!("{} bytes", l.max_bytes),
            None => "-1 (inspection off)".into(),
        },
        origin(cfg, "inspect_db_size", None, ""),
    );
    push(
        "log",
        args.log
            .log
            .clone()
            .or_else(|| agent.log.as_ref().map(log_target))
            .unwrap_or_else(|| "false".into()),
        origin(
            cfg,
            "log",
            args.log.log.as_ref().map(|_| ("--log", None)),
            "",
        ),
    );
    push(
        "log_level",
        args.log
            .log_level
            .clone()
            .or_else(|| agent.log_level.clone())
            .unwrap_or_else(|| "info".into()),
        origin(
            cfg,
            "log_level",
            args.log.log_level.as_ref().map(|_| ("--log-level", None)),
            "",
        ),
    );
    push(
        "log_format",
        args.log
            .log_format
            .clone()
            .or_else(|| agent.log_format.clone())
            .unwrap_or_else(|| "term".into()),
        origin(
            cfg,
            "log_format",
            args.log.log_format.as_ref().map(|_| ("--log-format", None)),
            "",
        ),
    );
    push(
        "console_ui",
        match s.console_ui {
            ConsoleUi::On => "true",
            ConsoleUi::Off => "false",
            ConsoleUi::IfTty => "iftty",
        }
        .to_owned(),
        origin(cfg, "console_ui", None, ""),
    );
    push(
        "console_ui_color",
        match s.console_color {
            ConsoleColor::Black => "black",
            ConsoleColor::Transparent => "transparent",
        }
        .to_owned(),
        origin(cfg, "console_ui_color", None, ""),
    );
    out
}
