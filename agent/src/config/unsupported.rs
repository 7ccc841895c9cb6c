//! Agent keys of ngrok's config files that sluice reads but cannot act on. A file written for
//! ngrok should load unchanged, but no key may be silently ignored: a key whose absence of
//! effect changes nothing the user relies on (update checks, regions) loads with a warning naming it, and one that changes how or whether the agent
//! reaches its edge (a proxy, a network interface, DNS servers, a revocation list) is refused
//! at load with its line and column. Proxy URLs are checked here too, so a bad one is refused
//! with its line and column rather than at the first dial.

use sluice_source::{Node, PathSeg};

use super::ConfigError;
use super::settings::{ConsoleColor, ConsoleUi};
use super::types::{AgentSection, ConfigFile};

/// What loading does about one key.
enum Verdict {
    /// Load, and say this.
    Warn(String),
    /// Refuse the file with this message.
    Refuse(String),
}

/// Reviews one parsed file: the warnings to show (`file:line:col: key: message`), or the
/// refusal of every key sluice cannot honour. `name` and `root` locate the keys.
pub(super) fn review(
    file: &ConfigFile,
    root: &Node,
    name: &str,
) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    let mut judge = |section: Option<&str>, key: &str, verdict: Verdict| {
        let mut path: Vec<PathSeg> = section
            .map(|s| PathSeg::Key(s.into()))
            .into_iter()
            .collect();
        path.push(PathSeg::Key(key.into()));
        let loc = root.at(&path).map_or((0, 0), |n| (n.loc.line, n.loc.col));
        match verdict {
            Verdict::Warn(m) => warnings.push(format!(
                "{name}:{}:{}: {}: {m}",
                loc.0,
                loc.1,
                PathSeg::render(&path)
            )),
            Verdict::Refuse(m) => errors.push(ConfigError::at(name, loc, &path, m)),
        }
    };
    if let Some(region) = &file.region {
        judge(None, "region", region_verdict(region));
    }
    // v2 files set agent keys at the top level.
    let top = AgentSection {
        api_key: file.api_key.clone(),
        metadata: file.metadata.clone(),
        console_ui: file.console_ui.clone(),
        console_ui_color: file.console_ui_color.clone(),
        update_check: file.update_check,
        update_channel: file.update_channel.clone(),
        proxy_url: file.proxy_url.clone(),
        ..AgentSection::default()
    };
    for (key, verdict) in verdicts(&top) {
        judge(None, key, verdict);
    }
    if file.update == Some(true) {
        judge(None, "update", Verdict::Warn(NO_UPDATES.into()));
    }
    for (key, scheme, set) in [
        ("http_proxy", "http", &file.http_proxy),
        ("socks5_proxy", "socks5", &file.socks5_proxy),
    ] {
        if let Some(url) = set {
            let url = match url.contains("://") {
                true => url.clone(),
                false => format!("{scheme}://{url}"),
            };
            if let Some(verdict) = proxy_verdict(&url) {
                judge(None, key, verdict);
            }
        }
    }
    if let Some(agent) = &file.agent {
        for (key, verdict) in verdicts(agent) {
            judge(Some("agent"), key, verdict);
        }
    }
    match errors.len() {
        0 => Ok(warnings),
        1 => Err(errors.remove(0)),
        _ => Err(ConfigError::Many(errors)),
    }
}

const NO_UPDATES: &str = "has no effect: sluice never checks for or installs updates";
/// A refusal of a proxy URL the agent could not dial through.
fn proxy_verdict(url: &str) -> Option<Verdict> {
    sluice_tunnel::EdgeProxy::parse(url)
        .err()
        .map(|e| Verdict::Refuse(e.to_string()))
}

fn region_verdict(region: &str) -> Verdict {
    Verdict::Warn(format!(
        "region `{region}` has no effect: sluice has no regions; the agent connects to \
         connect_url (or to the edge embedded in it)"
    ))
}

/// The verdict on every key of `agent` that sluice cannot act on.
fn verdicts(agent: &AgentSection) -> Vec<(&'static str, Verdict)> {
    use Verdict::{Refuse, Warn};
    let mut out = Vec::new();
    if let Some(Err(e)) = agent.console_ui.as_ref().map(ConsoleUi::parse) {
        out.push(("console_ui", Refuse(e)));
    }
    if let Some(Err(e)) = agent.console_ui_color.as_deref().map(ConsoleColor::parse) {
        out.push(("console_ui_color", Refuse(e)));
    }
    if agent.update_check == Some(true) {
        out.push(("update_check", Warn(NO_UPDATES.into())));
    }
    if agent.update_channel.is_some() {
        out.push(("update_channel", Warn(NO_UPDATES.into())));
    }
    if agent.remote_management == Some(true) {
        out.push((
            "remote_management",
            Warn("has no effect: a sluice agent is managed by its flags and config files".into()),
        ));
    }
    if agent.api_key.is_some() {
        out.push((
            "api_key",
            Warn("has no effect: sluice has no commands that call an API with a key".into()),
        ));
    }
    if agent.metadata.is_some() {
        out.push((
            "metadata",
            Warn(
                "has no effect: a sluice edge does not record session metadata; set `metadata` \
                 on an endpoint instead"
                    .into(),
            ),
        ));
    }
    if agent.crl_noverify == Some(false) {
        out.push((
            "crl_noverify",
            Warn("sluice does not check certificate revocation lists for the edge".into()),
        ));
    }
    if agent.crl_url.is_some() {
        out.push((
            "crl_url",
            Refuse(
                "sluice does not check certificate revocation lists for the edge; remove \
                 crl_url (the agent trusts connect_cas)"
                    .into(),
            ),
        ));
    }
    if let Some(verdict) = agent.proxy_url.as_deref().and_then(proxy_verdict) {
        out.push(("proxy_url", verdict));
    }
    if agent.connect_interface.is_some() {
        out.push((
            "connect_interface",
            Refuse(
                "sluice cannot choose the network interface it dials the edge from; remove \
                 connect_interface"
                    .into(),
            ),
        ));
    }
    if agent.dns_resolver_ips.is_some() {
        out.push((
            "dns_resolver_ips",
            Refuse(
                "sluice resolves the edge's name with the system resolver; remove \
                 dns_resolver_ips"
                    .into(),
            ),
        ));
    }
    out
}
