//! Named IP policies: lists of allowed and denied CIDRs that the edge's config defines once and
//! `restrict-ips` names with `ip_policies: [name]` (ngrok's `ipp_…` account objects, made
//! self-hosted). Whether a policy can resolve those names depends on where it is loaded, so the
//! loader is told ([`IpPolicyNames`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use ipnet::IpNet;

/// One named IP policy: a client in a `deny` network is refused; when `allow` is not empty, a
/// client must be in one of its networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpPolicy {
    /// Networks allowed.
    pub allow: Vec<IpNet>,
    /// Networks denied.
    pub deny: Vec<IpNet>,
}

/// The named IP policies of an edge config, by name.
pub type IpPolicies = BTreeMap<String, IpPolicy>;

/// What `ip_policies` names resolve against while a policy loads.
#[derive(Debug, Clone, Default)]
pub enum IpPolicyNames {
    /// No edge config is at hand (`sluice policy test`, the conformance runner without
    /// `ip_policies:` in its test file): a named IP policy is a load error saying so.
    #[default]
    Unavailable,
    /// The policy is checked here but loaded by an edge later (an agent checking what it will
    /// send, `sluice policy check`): names are accepted with a warning, and the policy built
    /// here refuses traffic if it is ever run.
    Deferred,
    /// The edge's named IP policies: an unknown name is a load error.
    Known(Arc<IpPolicies>),
}

/// Parses a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a bare address (a one-host network).
pub fn parse_net(text: &str) -> Option<IpNet> {
    let t = text.trim();
    t.parse::<IpNet>()
        .ok()
        .or_else(|| t.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}
