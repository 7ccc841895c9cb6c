//! `restrict-ips`: allows or denies traffic by the client's layer-4 address (never a header
//! such as `X-Forwarded-For`).
//!
//! A client is allowed when (`allow` is empty or its address is in an `allow` CIDR) and its
//! address is in no `deny` CIDR. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) also matches
//! IPv4 CIDRs. Denied: `on_tcp_connect` closes the connection; the HTTP phases answer `403`
//! with `ERR_SLUICE_3205`; with `enforce: false` traffic continues. Result variables:
//! `actions.ngrok.restrict_ips.{action,matched_cidr}` and on deny `.error.{code,message}`.
//!
//! `ip_policies: [name]` adds the allow and deny CIDRs of the edge config's named IP policies
//! (see [`sluice_policy::IpPolicyNames`] for where names resolve); a refusal decided by one of
//! them carries `ERR_SLUICE_3203` (ngrok's "blocked by IP Policy") instead of 3205.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use cel::Value;
use http::StatusCode;
use ipnet::IpNet;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::Template;
use sluice_policy::cel::value::{map, string, to_text};
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, IpPolicyNames, Phase, PhaseCx,
    SyntheticResponse, TcpCx, Termination, TypedAction, parse_net,
};

/// Error code of a denied request (`ERR_SLUICE_3205`, as ngrok's endpoint IP restriction).
pub const ERROR_CODE: u16 = 3205;

/// Error code of a request denied by a named IP policy (`ERR_SLUICE_3203`, as ngrok's).
pub const IP_POLICY_ERROR_CODE: u16 = 3203;

/// Config of `restrict-ips`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictIpsConfig {
    /// CIDRs or bare addresses (IPv4 or IPv6) to allow; `${…}` allowed. Empty: allow all
    /// that are not denied.
    #[serde(default)]
    pub allow: Vec<String>,
    /// CIDRs or bare addresses to deny; `${…}` allowed.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Reject denied traffic. Default true.
    #[serde(default = "default_enforce")]
    pub enforce: bool,
    /// Names of IP policies defined in the edge's config (`ip_policies:` there), whose CIDRs
    /// join `allow` and `deny`.
    #[serde(default)]
    pub ip_policies: Vec<String>,
}

fn default_enforce() -> bool {
    true
}

impl Default for RestrictIpsConfig {
    fn default() -> Self {
        RestrictIpsConfig {
            allow: Vec::new(),
            deny: Vec::new(),
            enforce: true,
            ip_policies: Vec::new(),
        }
    }
}

/// One configured entry.
enum Entry {
    Net(IpNet),
    Dynamic(Template),
    /// A network of the named IP policy.
    Named(IpNet, Arc<str>),
}

/// The built action.
pub struct RestrictIps {
    allow: Vec<Entry>,
    deny: Vec<Entry>,
    enforce: bool,
    /// Named IP policies this load could not resolve ([`IpPolicyNames::Deferred`]): the
    /// action refuses all traffic rather than run without them.
    unresolved: Vec<String>,
}

/// A network an evaluation compares against, with the named IP policy it came from.
struct Resolved<'a> {
    net: IpNet,
    policy: Option<&'a str>,
}

/// Compiles the entries of `field`, validating static ones.
fn compile(cx: &mut BuildCx<'_>, field: &str, items: &[String]) -> Vec<Entry> {
    let mut out = Vec::with_capacity(items.len());
    for (i, raw) in items.iter().enumerate() {
        let rel = format!("{field}[{i}]");
        let Some(t) = cx.template(&rel, raw) else {
            continue;
        };
        match t.as_static() {
            None => out.push(Entry::Dynamic(t)),
            Some(s) => match parse_net(s) {
                Some(net) => out.push(Entry::Net(net)),
                None => cx.error_at(
                    Code::InvalidValue,
                    &rel,
                    format!("{field} entry {i} ({s:?}) is not an IP address or CIDR"),
                ),
            },
        }
    }
    out
}

/// Whether `net` contains the client address (or its IPv4 form, when IPv4-mapped).
fn contains(net: &IpNet, ip: IpAddr, mapped: Option<IpAddr>) -> bool {
    net.contains(&ip) || mapped.is_some_and(|v4| net.contains(&v4))
}

/// Adds the networks of the named IP policies to `allow` and `deny`, reporting names that do
/// not resolve. Returns the names left for the edge to resolve (deferred loads only).
fn add_named(
    cx: &mut BuildCx<'_>,
    names: &[String],
    allow: &mut Vec<Entry>,
    deny: &mut Vec<Entry>,
) -> Vec<String> {
    if names.is_empty() {
        return Vec::new();
    }
    let known = match cx.ip_policies().clone() {
        IpPolicyNames::Known(known) => known,
        IpPolicyNames::Deferred => {
            for (i, name) in names.iter().enumerate() {
                cx.warn_at(
                    Code::UnknownReference,
                    &format!("ip_policies[{i}]"),
                    format!(
                        "IP policy {name:?} is looked up in the edge's config when the edge loads \
                         this policy; it is not checked here"
                    ),
                );
            }
            return names.to_vec();
        }
        IpPolicyNames::Unavailable => {
            cx.error_at(
                Code::UnknownReference,
                "ip_policies",
                "ip_policies name IP policies of an edge's config, and this policy is loaded \
                 without one; list CIDRs in allow/deny, or define the policies under \
                 `ip_policies:` (the edge config, or the test file for `sluice policy test`)",
            );
            return Vec::new();
        }
    };
    for (i, name) in names.iter().enumerate() {
        let Some(policy) = known.get(name) else {
            let defined: Vec<&str> = known.keys().map(String::as_str).collect();
            cx.error_at(
                Code::UnknownReference,
                &format!("ip_policies[{i}]"),
                format!(
                    "no IP policy named {name:?} in the edge's config (defined: {})",
                    if defined.is_empty() {
                        "none".to_string()
                    } else {
                        defined.join(", ")
                    }
                ),
            );
            continue;
        };
        let tag: Arc<str> = Arc::from(name.as_str());
        allow.extend(policy.allow.iter().map(|n| Entry::Named(*n, tag.clone())));
        deny.extend(policy.deny.iter().map(|n| Entry::Named(*n, tag.clone())));
    }
    Vec::new()
}

/// What the entries resolve to for one evaluation.
fn resolve<'a>(
    entries: &'a [Entry],
    field: &str,
    cx: &dyn PhaseCx,
) -> Result<Vec<Resolved<'a>>, ActionError> {
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        match entry {
            Entry::Net(n) => out.push(Resolved {
                net: *n,
                policy: None,
            }),
            Entry::Named(n, name) => out.push(Resolved {
                net: *n,
                policy: Some(name),
            }),
            Entry::Dynamic(t) => {
                let rel = format!("{field}[{i}]");
                let value = t
                    .render_value(cx.scope())
                    .map_err(|e| ActionError::interpolation(RestrictIps::TYPE, &rel, e))?;
                let texts = match &value {
                    Value::List(items) => items.iter().map(to_text).collect(),
                    other => vec![to_text(other)],
                };
                for text in texts {
                    let net = parse_net(&text).ok_or_else(|| {
                        ActionError::interpolation(
                            RestrictIps::TYPE,
                            &rel,
                            format!("{text:?} is not an IP address or CIDR"),
                        )
                    })?;
                    out.push(Resolved { net, policy: None });
                }
            }
        }
    }
    Ok(out)
}

/// The response text of a refusal with `code`.
fn message(code: u16) -> &'static str {
    if code == IP_POLICY_ERROR_CODE {
        "Request blocked by IP Policy"
    } else {
        "Request blocked by IP restriction"
    }
}

impl RestrictIps {
    /// Decides for the connection's client; sets the result variables. True when allowed.
    fn evaluate(&self, cx: &mut dyn PhaseCx) -> Result<Option<u16>, ActionError> {
        if !self.unresolved.is_empty() {
            return Err(ActionError::internal(format!(
                "restrict-ips: IP policies {:?} were not resolved: this policy was loaded \
                 without the edge's config",
                self.unresolved
            )));
        }
        let ip = cx.conn().client.ip();
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allow = resolve(&self.allow, "allow", cx)?;
        let deny = resolve(&self.deny, "deny", cx)?;
        let denied_by = deny.iter().find(|r| contains(&r.net, ip, mapped));
        let allowed_by = allow.iter().find(|r| contains(&r.net, ip, mapped));
        let from = |policy: Option<&str>| match policy {
            Some(name) => format!(" of IP policy {name:?}"),
            None => String::new(),
        };
        let (allowed, matched, why, by_policy) = match (denied_by, allowed_by) {
            (Some(r), _) => (
                false,
                r.net.to_string(),
                format!("{ip} is in the denied range {}{}", r.net, from(r.policy)),
                r.policy.is_some(),
            ),
            (None, Some(r)) => (true, r.net.to_string(), String::new(), false),
            (None, None) if allow.is_empty() => (true, String::new(), String::new(), false),
            (None, None) => (
                false,
                String::new(),
                format!("{ip} is not in any allowed range"),
                allow.iter().all(|r| r.policy.is_some()),
            ),
        };
        let code = if by_policy {
            IP_POLICY_ERROR_CODE
        } else {
            ERROR_CODE
        };
        let mut fields = vec![
            ("action", string(if allowed { "allow" } else { "deny" })),
            ("matched_cidr", string(matched)),
        ];
        if !allowed {
            fields.push((
                "error",
                map([
                    ("code", string(format!("ERR_SLUICE_{code}"))),
                    ("message", string(format!("{}: {why}", message(code)))),
                ]),
            ));
        }
        cx.set_result("restrict_ips", map(fields));
        Ok((!allowed && self.enforce).then_some(code))
    }

    fn http(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        Ok(match self.evaluate(cx)? {
            None => Flow::Continue,
            Some(code) => Flow::Respond(SyntheticResponse::error(
                StatusCode::FORBIDDEN,
                code,
                message(code),
            )),
        })
    }
}

#[async_trait]
impl Action for RestrictIps {
    async fn on_tcp_connect(&self, cx: &mut TcpCx<'_>) -> Result<Flow, ActionError> {
        Ok(match self.evaluate(cx)? {
            None => Flow::Continue,
            Some(_) => Flow::Close,
        })
    }
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.http(cx)
    }
    async fn on_http_response(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.http(cx)
    }
    fn summary(&self) -> String {
        format!(
            "{} client IPs: {} allow, {} deny entries",
            if self.enforce { "restricts" } else { "checks" },
            self.allow.len(),
            self.deny.len()
        )
    }
}

impl TypedAction for RestrictIps {
    type Config = RestrictIpsConfig;
    const TYPE: &'static str = "restrict-ips";
    const PHASES: &'static [Phase] = &[Phase::TcpConnect, Phase::HttpRequest, Phase::HttpResponse];
    const TERMINATION: Termination = Termination::WhenRejecting;
    const ABOUT: &'static str = "Allows or denies traffic by the client's IP address (allow/deny CIDR lists); \
        denied connections are closed, denied requests answered 403.";

    fn build(config: RestrictIpsConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        if config.allow.is_empty() && config.deny.is_empty() && config.ip_policies.is_empty() {
            cx.error_at(
                Code::InvalidValue,
                "",
                "give at least one CIDR in `allow` or `deny`, or an `ip_policies` name",
            );
        }
        let mut allow = compile(cx, "allow", &config.allow);
        let mut deny = compile(cx, "deny", &config.deny);
        let unresolved = add_named(cx, &config.ip_policies, &mut allow, &mut deny);
        (!cx.failed()).then_some(RestrictIps {
            allow,
            deny,
            enforce: config.enforce,
            unresolved,
        })
    }
}
