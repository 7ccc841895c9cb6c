//! `restrict-ips`: allows or denies traffic by the client's layer-4 address (never a header
//! such as `X-Forwarded-For`).
//!
//! A client is allowed when (`allow` is empty or its address is in an `allow` CIDR) and its
//! address is in no `deny` CIDR. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) also matches
//! IPv4 CIDRs. Denied: `on_tcp_connect` closes the connection; the HTTP phases answer `403`
//! with `ERR_SLUICE_3205`; with `enforce: false` traffic continues. Result variables:
//! `actions.ngrok.restrict_ips.{action,matched_cidr}` and on deny `.error.{code,message}`.

use std::net::IpAddr;
use std::str::FromStr;

use async_trait::async_trait;
use cel::Value;
use http::StatusCode;
use ipnet::IpNet;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::Template;
use sluice_policy::cel::value::{map, string, to_text};
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, SyntheticResponse, TcpCx,
    Termination, TypedAction,
};

/// Error code of a denied request (`ERR_SLUICE_3205`, as ngrok's endpoint IP restriction).
pub const ERROR_CODE: u16 = 3205;

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
    /// ngrok account IP policy ids: not supported (rejected at load).
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
}

/// The built action.
pub struct RestrictIps {
    allow: Vec<Entry>,
    deny: Vec<Entry>,
    enforce: bool,
}

/// Parses a CIDR or a bare address (a single-host network).
fn parse_net(text: &str) -> Option<IpNet> {
    let t = text.trim();
    IpNet::from_str(t)
        .ok()
        .or_else(|| IpAddr::from_str(t).ok().map(IpNet::from))
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

/// What the entries resolve to for one evaluation.
fn resolve(entries: &[Entry], field: &str, cx: &dyn PhaseCx) -> Result<Vec<IpNet>, ActionError> {
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        match entry {
            Entry::Net(n) => out.push(*n),
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
                    out.push(net);
                }
            }
        }
    }
    Ok(out)
}

impl RestrictIps {
    /// Decides for the connection's client; sets the result variables. True when allowed.
    fn evaluate(&self, cx: &mut dyn PhaseCx) -> Result<bool, ActionError> {
        let ip = cx.conn().client.ip();
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allow = resolve(&self.allow, "allow", cx)?;
        let deny = resolve(&self.deny, "deny", cx)?;
        let denied_by = deny.iter().find(|n| contains(n, ip, mapped));
        let allowed_by = allow.iter().find(|n| contains(n, ip, mapped));
        let (allowed, matched, why) = match (denied_by, allowed_by) {
            (Some(n), _) => (
                false,
                n.to_string(),
                format!("{ip} is in the denied range {n}"),
            ),
            (None, Some(n)) => (true, n.to_string(), String::new()),
            (None, None) if allow.is_empty() => (true, String::new(), String::new()),
            (None, None) => (
                false,
                String::new(),
                format!("{ip} is not in any allowed range"),
            ),
        };
        let mut fields = vec![
            ("action", string(if allowed { "allow" } else { "deny" })),
            ("matched_cidr", string(matched)),
        ];
        if !allowed {
            fields.push((
                "error",
                map([
                    ("code", string(format!("ERR_SLUICE_{ERROR_CODE}"))),
                    (
                        "message",
                        string(format!("Request blocked by IP restriction: {why}")),
                    ),
                ]),
            ));
        }
        cx.set_result("restrict_ips", map(fields));
        Ok(allowed || !self.enforce)
    }

    fn http(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        if self.evaluate(cx)? {
            return Ok(Flow::Continue);
        }
        Ok(Flow::Respond(SyntheticResponse::error(
            StatusCode::FORBIDDEN,
            ERROR_CODE,
            "Request blocked by IP restriction",
        )))
    }
}

#[async_trait]
impl Action for RestrictIps {
    async fn on_tcp_connect(&self, cx: &mut TcpCx<'_>) -> Result<Flow, ActionError> {
        Ok(if self.evaluate(cx)? {
            Flow::Continue
        } else {
            Flow::Close
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
        if !config.ip_policies.is_empty() {
            cx.error_at(
                Code::InvalidValue,
                "ip_policies",
                "ip_policies reference ngrok account IP policies, which sluice does not have; \
                 list CIDRs in allow/deny",
            );
        } else if config.allow.is_empty() && config.deny.is_empty() {
            cx.error_at(
                Code::InvalidValue,
                "",
                "give at least one CIDR in `allow` or `deny`",
            );
        }
        let allow = compile(cx, "allow", &config.allow);
        let deny = compile(cx, "deny", &config.deny);
        (!cx.failed()).then_some(RestrictIps {
            allow,
            deny,
            enforce: config.enforce,
        })
    }
}
