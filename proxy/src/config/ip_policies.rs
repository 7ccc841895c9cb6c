//! `ip_policies:` of the edge config: named lists of allowed and denied CIDRs, validated with
//! their locations, which `restrict-ips` names in every policy the edge loads.

use std::sync::Arc;

use sluice_policy::{IpPolicies, IpPolicy, parse_net};
use sluice_source::PathSeg;

use super::check::{Checker, key};
use super::raw::RawIpPolicy;

/// Validates the named IP policies; every bad entry is reported at its line and column.
pub(super) fn ip_policies_section(cx: &mut Checker<'_>, raw: &[RawIpPolicy]) -> Arc<IpPolicies> {
    let mut out = IpPolicies::new();
    for (i, p) in raw.iter().enumerate() {
        let at = |k: &str| vec![key("ip_policies"), PathSeg::Index(i), key(k)];
        let name = p.name.trim();
        if name.is_empty() {
            cx.error(&at("name"), "an IP policy needs a name");
            continue;
        }
        if out.contains_key(name) {
            cx.error(&at("name"), format!("IP policy {name:?} is defined twice"));
            continue;
        }
        if p.allow.is_empty() && p.deny.is_empty() {
            cx.error(
                &[key("ip_policies"), PathSeg::Index(i)],
                format!("IP policy {name:?} needs at least one CIDR in allow or deny"),
            );
            continue;
        }
        let mut policy = IpPolicy::default();
        for (field, texts, nets) in [
            ("allow", &p.allow, &mut policy.allow),
            ("deny", &p.deny, &mut policy.deny),
        ] {
            for (j, text) in texts.iter().enumerate() {
                match parse_net(text) {
                    Some(net) => nets.push(net),
                    None => cx.error(
                        &[
                            key("ip_policies"),
                            PathSeg::Index(i),
                            key(field),
                            PathSeg::Index(j),
                        ],
                        format!("{text:?} is not an IP address or CIDR"),
                    ),
                }
            }
        }
        out.insert(name.to_string(), policy);
    }
    Arc::new(out)
}
