//! ngrok's deprecated login options (`--oauth`, `--oidc` and their companions; v2 tunnel
//! `oauth:` / `oidc:` blocks) turned into an `oauth` or `openid-connect` action, plus a
//! `custom-response 403` rule for `allow_emails` / `allow_domains`, as ngrok's migration guide
//! writes them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use sluice_source::{Node, PathSeg};

use super::types::TunnelConfig;

/// Which login, and who may pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyLogin {
    /// `oauth` provider (`github`, `google`, …); empty for OIDC.
    #[serde(default)]
    pub provider: String,
    /// OIDC issuer URL; empty for OAuth.
    #[serde(default, alias = "issuer_url")]
    pub issuer: String,
    /// The app's client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The app's client secret.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes to ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Email addresses let through (case-insensitive).
    #[serde(default)]
    pub allow_emails: Vec<String>,
    /// Email domains let through.
    #[serde(default)]
    pub allow_domains: Vec<String>,
}

/// Quotes a string as a CEL string literal.
fn cel_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl LegacyLogin {
    /// The `on_http_request` rules this login amounts to.
    pub fn rules(&self) -> Vec<Value> {
        let (kind, result) = if self.issuer.is_empty() {
            ("oauth", "oauth")
        } else {
            ("openid-connect", "oidc")
        };
        let mut config = serde_json::Map::new();
        if kind == "oauth" {
            config.insert("provider".into(), json!(self.provider));
        } else {
            config.insert("issuer_url".into(), json!(self.issuer));
        }
        if let Some(id) = &self.client_id {
            config.insert("client_id".into(), json!(id));
        }
        if let Some(secret) = &self.client_secret {
            config.insert("client_secret".into(), json!(secret));
        }
        if !self.scopes.is_empty() {
            config.insert("scopes".into(), json!(self.scopes));
        }
        let mut rules = vec![json!({"actions": [{"type": kind, "config": config}]})];
        if !self.allow_emails.is_empty() || !self.allow_domains.is_empty() {
            let email = format!("actions.ngrok.{result}.identity.email.lowerAscii()");
            let mut allowed: Vec<String> = self
                .allow_emails
                .iter()
                .map(|e| format!("{email} == {}", cel_str(&e.to_ascii_lowercase())))
                .collect();
            allowed.extend(self.allow_domains.iter().map(|d| {
                let d = d.trim_start_matches('@').to_ascii_lowercase();
                format!("{email}.endsWith({})", cel_str(&format!("@{d}")))
            }));
            rules.push(json!({
                "expressions": [format!("!({})", allowed.join(" || "))],
                "actions": [{"type": "custom-response", "config": {
                    "status_code": 403,
                    "body": format!("${{actions.ngrok.{result}.identity.email}} is not allowed here."),
                }}],
            }));
        }
        rules
    }
}

/// The deprecation warning of each v2 tunnel's `oauth:` / `oidc:` block in one file, at its
/// line and column (`file:line:col: tunnels.NAME.oauth: ...`), worded like the deprecated
/// `--oauth` / `--oidc` flags' warnings: the block still works, as the policy it becomes.
pub(super) fn deprecation_warnings(
    tunnels: &BTreeMap<String, TunnelConfig>,
    root: &Node,
    name: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (tunnel, t) in tunnels {
        for (key, set, instead) in [
            (
                "oauth",
                t.oauth.is_some(),
                "on_http_request: oauth {provider: ..., client_id: ..., client_secret: ...}",
            ),
            (
                "oidc",
                t.oidc.is_some(),
                "on_http_request: openid-connect {issuer_url: ..., client_id: ..., \
                 client_secret: ...}",
            ),
        ] {
            if !set {
                continue;
            }
            let path = [
                PathSeg::Key("tunnels".into()),
                PathSeg::Key(tunnel.clone()),
                PathSeg::Key(key.into()),
            ];
            let loc = root.at(&path).map_or((0, 0), |n| (n.loc.line, n.loc.col));
            out.push(format!(
                "{name}:{}:{}: {}: is deprecated; applied as a traffic policy: {instead}",
                loc.0,
                loc.1,
                PathSeg::render(&path)
            ));
        }
    }
    out
}
