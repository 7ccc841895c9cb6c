//! ngrok's deprecated agent options (CLI flags and v2 tunnel keys) turned into Traffic Policy,
//! as ngrok does: `--basic-auth`, `--cidr-allow/deny`, `--request-header-add/remove`,
//! `--response-header-add/remove`, `--host-header`, `--circuit-breaker`, `--compression`,
//! `--ua-filter-allow/deny`, `--verify-webhook`, `--oauth`/`--oidc` (see
//! [`super::legacy_login`]); and `--domain`/`--scheme` into a URL.

use serde_json::{Map, Value, json};

use super::ConfigError;
use super::legacy_login::LegacyLogin;

/// The deprecated options that become policy. Empty means no policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegacyOptions {
    /// `user:pass` credentials.
    pub basic_auth: Vec<String>,
    /// CIDRs allowed.
    pub cidr_allow: Vec<String>,
    /// CIDRs denied.
    pub cidr_deny: Vec<String>,
    /// `Name: value` (or `Name:value`) request headers to add.
    pub request_header_add: Vec<String>,
    /// Request headers to remove.
    pub request_header_remove: Vec<String>,
    /// Response headers to add.
    pub response_header_add: Vec<String>,
    /// Response headers to remove.
    pub response_header_remove: Vec<String>,
    /// 5xx ratio for the circuit breaker.
    pub circuit_breaker: Option<f64>,
    /// gzip responses.
    pub compression: bool,
    /// User-agent patterns allowed.
    pub ua_allow: Vec<String>,
    /// User-agent patterns denied.
    pub ua_deny: Vec<String>,
    /// Webhook provider and secret.
    pub verify_webhook: Option<(String, String)>,
    /// An OAuth or OIDC login and its allow lists.
    pub login: Option<LegacyLogin>,
}

fn rule(actions: Vec<Value>) -> Value {
    json!({ "actions": actions })
}

fn split_header(h: &str) -> Result<(String, String), ConfigError> {
    let (k, v) = h.split_once(':').ok_or_else(|| {
        ConfigError::Legacy(format!("header `{h}` must be written `Name: value`"))
    })?;
    Ok((k.trim().to_ascii_lowercase(), v.trim().to_string()))
}

fn headers_rules(add: &[String], remove: &[String]) -> Result<Vec<Value>, ConfigError> {
    let mut actions = Vec::new();
    if !remove.is_empty() {
        actions.push(json!({"type": "remove-headers", "config": {"headers": remove}}));
    }
    if !add.is_empty() {
        let mut headers = Map::new();
        for h in add {
            let (k, v) = split_header(h)?;
            headers.insert(k, Value::String(v));
        }
        actions.push(json!({"type": "add-headers", "config": {"headers": headers}}));
    }
    Ok(actions)
}

/// Quotes a string as a CEL string literal.
fn cel_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl LegacyOptions {
    /// True when no option is set.
    pub fn is_empty(&self) -> bool {
        *self == LegacyOptions::default()
    }

    /// The policy these options amount to, or `None` when empty. (`host_header` is not
    /// policy: the agent's forwarder applies it, see [`crate::HostHeader`], so that it can
    /// also rewrite redirects back to the public host.)
    pub fn to_policy(&self) -> Result<Option<Value>, ConfigError> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut tcp = Vec::new();
        let mut req = Vec::new();
        let mut resp = Vec::new();
        if !self.cidr_allow.is_empty() || !self.cidr_deny.is_empty() {
            let mut config = Map::new();
            if !self.cidr_allow.is_empty() {
                config.insert("allow".into(), json!(self.cidr_allow));
            }
            if !self.cidr_deny.is_empty() {
                config.insert("deny".into(), json!(self.cidr_deny));
            }
            tcp.push(rule(vec![
                json!({"type": "restrict-ips", "config": config}),
            ]));
        }
        if !self.ua_allow.is_empty() || !self.ua_deny.is_empty() {
            let mut conds = Vec::new();
            for p in &self.ua_deny {
                conds.push(format!("req.user_agent.matches({})", cel_str(p)));
            }
            if !self.ua_allow.is_empty() {
                let any: Vec<String> = self
                    .ua_allow
                    .iter()
                    .map(|p| format!("req.user_agent.matches({})", cel_str(p)))
                    .collect();
                conds.push(format!("!({})", any.join(" || ")));
            }
            req.push(json!({"expressions": [conds.join(" || ")], "actions": [{"type": "deny"}]}));
        }
        if let Some((provider, secret)) = &self.verify_webhook {
            req.push(rule(vec![json!({"type": "verify-webhook", "config": {"provider": provider, "secret": secret}})]));
        }
        if let Some(login) = &self.login {
            req.extend(login.rules());
        }
        if !self.basic_auth.is_empty() {
            req.push(rule(vec![
                json!({"type": "basic-auth", "config": {"credentials": self.basic_auth}}),
            ]));
        }
        if let Some(ratio) = self.circuit_breaker {
            req.push(rule(vec![
                json!({"type": "circuit-breaker", "config": {"error_threshold": ratio}}),
            ]));
        }
        let req_headers = headers_rules(&self.request_header_add, &self.request_header_remove)?;
        if !req_headers.is_empty() {
            req.push(rule(req_headers));
        }
        let resp_headers = headers_rules(&self.response_header_add, &self.response_header_remove)?;
        if !resp_headers.is_empty() {
            resp.push(rule(resp_headers));
        }
        if self.compression {
            resp.push(rule(vec![json!({"type": "compress-response"})]));
        }
        let mut doc = Map::new();
        for (phase, rules) in [
            ("on_tcp_connect", tcp),
            ("on_http_request", req),
            ("on_http_response", resp),
        ] {
            if !rules.is_empty() {
                doc.insert(phase.into(), Value::Array(rules));
            }
        }
        Ok(Some(Value::Object(doc)))
    }
}

/// The URL named by ngrok's old `--domain`/`--hostname` and `--scheme` (or v2 `schemes`).
pub fn legacy_url(domain: Option<&str>, scheme: Option<&str>) -> Option<String> {
    match (domain, scheme) {
        (Some(d), s) => Some(format!("{}://{d}", s.unwrap_or("https"))),
        (None, Some(s)) => Some(format!("{s}://")),
        (None, None) => None,
    }
}

/// Renames the legacy phase names (`inbound`, `outbound`) to the current ones.
fn normalize(policy: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Value::Object(m) = policy {
        for (k, v) in m {
            let key = match k.as_str() {
                "inbound" => "on_http_request",
                "outbound" => "on_http_response",
                other => other,
            };
            out.insert(key.to_string(), v.clone());
        }
    }
    out
}

/// Puts the generated rules before the user's own, phase by phase.
pub fn merge_policies(generated: Option<Value>, user: Option<&Value>) -> Option<Value> {
    match (generated, user) {
        (None, None) => None,
        (None, Some(u)) => Some(u.clone()),
        (Some(g), None) => Some(g),
        (Some(g), Some(u)) => {
            let mut out = normalize(&g);
            for (k, v) in normalize(u) {
                match (out.get_mut(&k), v) {
                    (Some(Value::Array(rules)), Value::Array(more)) => rules.extend(more),
                    (_, v) => {
                        out.insert(k, v);
                    }
                }
            }
            Some(Value::Object(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_policy() -> Result<(), Box<dyn std::error::Error>> {
        let opts = LegacyOptions {
            basic_auth: vec!["user:password1".into()],
            cidr_deny: vec!["10.0.0.0/8".into()],
            request_header_add: vec!["X-A: 1".into()],
            response_header_remove: vec!["server".into()],
            ..LegacyOptions::default()
        };
        let p = opts.to_policy()?.ok_or("no policy")?;
        assert_eq!(
            p["on_tcp_connect"][0]["actions"][0]["config"]["deny"][0],
            "10.0.0.0/8"
        );
        assert_eq!(p["on_http_request"][0]["actions"][0]["type"], "basic-auth");
        let headers = &p["on_http_request"][1]["actions"];
        assert_eq!(headers[0]["config"]["headers"]["x-a"], "1");
        assert_eq!(
            p["on_http_response"][0]["actions"][0]["type"],
            "remove-headers"
        );
        assert!(LegacyOptions::default().to_policy()?.is_none());
        let bad = LegacyOptions {
            request_header_add: vec!["nocolon".into()],
            ..LegacyOptions::default()
        };
        assert!(bad.to_policy().is_err());
        Ok(())
    }

    /// The user-agent filter flags generate a policy that loads (what `sluice policy check`
    /// runs): every field it names exists.
    #[test]
    fn ua_filter_policy_loads() -> Result<(), Box<dyn std::error::Error>> {
        let opts = LegacyOptions {
            ua_deny: vec!["curl.*".into()],
            ua_allow: vec!["Mozilla.*".into(), "curl/8.*".into()],
            ..LegacyOptions::default()
        };
        let p = opts.to_policy()?.ok_or("no policy")?;
        let expr = p["on_http_request"][0]["expressions"][0]
            .as_str()
            .ok_or("no expression")?;
        assert!(
            expr.contains(r#"req.user_agent.matches("curl.*")"#) && !expr.contains(".raw"),
            "{expr}"
        );
        let text = serde_json::to_string_pretty(&p)?;
        let loaded = sluice_policy::load_policy(
            "generated.json",
            &text,
            &sluice_modules::builtin_registry(),
            sluice_policy::LoadOptions::default(),
        );
        assert!(loaded.is_ok(), "{text}\n{:?}", loaded.err());
        Ok(())
    }

    #[test]
    fn urls_and_merging() {
        assert_eq!(
            legacy_url(Some("a.com"), None).as_deref(),
            Some("https://a.com")
        );
        assert_eq!(
            legacy_url(Some("a.com"), Some("http")).as_deref(),
            Some("http://a.com")
        );
        assert_eq!(legacy_url(None, None), None);
        let g = json!({"on_http_request": [{"actions": [{"type": "deny"}]}]});
        let u = json!({"inbound": [{"actions": [{"type": "log"}]}], "outbound": []});
        let m = merge_policies(Some(g), Some(&u)).unwrap_or_default();
        assert_eq!(m["on_http_request"].as_array().map(Vec::len), Some(2));
        assert!(m.get("inbound").is_none());
        assert!(m.get("on_http_response").is_some());
    }
}
