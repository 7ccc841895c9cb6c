//! `--traffic-policy-url URL`: the endpoint's policy fetched over HTTP(S) at start (bounded
//! size and time, see [`sluice_modules::policy_fetch`]) and checked here as the edge will load
//! it, so a broken policy stops the agent with errors naming the URL, line and column.

use anyhow::Context as _;
use sluice_agent::EndpointKind;
use sluice_policy::{IpPolicyNames, LoadOptions, Registry, load_policy};

/// Fetches and checks the policy at `url` for an endpoint of `kind`; its text.
pub fn fetch(url: &str, kind: EndpointKind, registry: &Registry) -> anyhow::Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let text = runtime
        .block_on(sluice_modules::policy_fetch::fetch_policy(url))
        .context("--traffic-policy-url")?;
    let protocol = match kind {
        EndpointKind::Http => None,
        EndpointKind::Tcp => Some(sluice_policy::Protocol::Tcp),
        EndpointKind::Tls => Some(sluice_policy::Protocol::Tls),
    };
    let options = LoadOptions {
        protocol,
        // As the edge loads an agent's policy: no secrets of this machine; named IP policies
        // are the edge's to resolve.
        local_secrets: false,
        ip_policies: IpPolicyNames::Deferred,
        shared_counters: None,
    };
    match load_policy(url, &text, registry, options) {
        Ok(policy) => {
            for w in policy.warnings() {
                eprintln!("{w}");
            }
            Ok(text)
        }
        Err(e) => anyhow::bail!("--traffic-policy-url: the policy does not load:\n{e}"),
    }
}
