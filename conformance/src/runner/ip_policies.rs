//! A test file's `ip_policies:` (standing in for the edge config's named IP policies), as the
//! policy loader resolves them.

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_policy::{IpPolicies, IpPolicy, IpPolicyNames, parse_net};

use crate::format::IpPolicySpec;

/// The test file's named IP policies, as the loader resolves them.
pub(super) fn names(specs: &BTreeMap<String, IpPolicySpec>) -> Result<IpPolicyNames, String> {
    if specs.is_empty() {
        return Ok(IpPolicyNames::Unavailable);
    }
    let mut out = IpPolicies::new();
    for (name, spec) in specs {
        let nets = |field: &str, texts: &[String]| {
            texts
                .iter()
                .map(|t| {
                    parse_net(t).ok_or_else(|| {
                        format!("ip_policies.{name}.{field}: {t:?} is not an IP address or CIDR")
                    })
                })
                .collect::<Result<Vec<_>, String>>()
        };
        let policy = IpPolicy {
            allow: nets("allow", &spec.allow)?,
            deny: nets("deny", &spec.deny)?,
        };
        out.insert(name.clone(), policy);
    }
    Ok(IpPolicyNames::Known(Arc::new(out)))
}
