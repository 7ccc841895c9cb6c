//! Which cases a live run skips, and why: what a real edge cannot reproduce, and cases whose
//! expectations hold only for the in-process harness's default connection facts.

use std::net::IpAddr;

use sluice_policy::Registry;
use sluice_policy::{EndpointInfo, Protocol};

use super::LiveRunner;
use super::reads::{PolicyReads, has_observable};
use crate::format::{Case, Expect, Step};
use crate::runner::check;
use crate::runner::{Prepared, steps_of};

impl LiveRunner {
    /// Why a case cannot be reproduced through a real edge, if it cannot.
    pub(super) fn unreproducible(&self, endpoint: &EndpointInfo, case: &Case) -> Option<String> {
        if self.target.is_none() && !matches!(endpoint.protocol, Protocol::Http | Protocol::Https) {
            return Some(format!(
                "the edge serves http and https endpoints, not {}",
                endpoint.url
            ));
        }
        let steps = steps_of(case);
        if steps.iter().any(|s| s.advance.is_some()) {
            return Some("advance: virtual time cannot pass on a real edge".into());
        }
        let trailers = |s: &&Step| {
            let req = s.request.as_ref().or(case.request.as_ref());
            let up = s.upstream.as_ref().or(case.upstream.as_ref());
            req.is_some_and(|r| !r.trailers.is_empty())
                || up.is_some_and(|u| !u.trailers.is_empty())
        };
        if steps.iter().any(|s| trailers(&s)) {
            return Some(
                "trailers: the edge's HTTP/1.1 codec (Pingora) drops trailers, and its phases run before a body's trailers arrive"
                    .into(),
            );
        }
        if let Some(conn) = &case.conn {
            if let Some(ip) = &conn.client_ip {
                match ip.parse::<IpAddr>() {
                    Ok(IpAddr::V4(v4)) if v4.is_loopback() => {}
                    _ => {
                        return Some(format!(
                            "conn.client_ip {ip} is not in 127.0.0.0/8 (the live client can only bind loopback addresses)"
                        ));
                    }
                }
            }
            if conn.client_certificate.is_some() {
                return Some(
                    "conn.client_certificate: the live client presents no certificate (mutual \
                     TLS is tested end to end in proxy/tests)"
                        .into(),
                );
            }
            if conn.server_port.is_some() {
                return Some("conn.server_port: the edge listens on a port of its own".into());
            }
            if conn.sni.is_some()
                && !(self
                    .target
                    .as_ref()
                    .map_or(endpoint.protocol == Protocol::Https, |t| t.https))
            {
                return Some("conn.sni on a plain-HTTP endpoint has no live equivalent".into());
            }
        }
        let observable = steps
            .iter()
            .filter_map(|s| s.expect.as_ref())
            .any(has_observable);
        let engine_only = steps
            .iter()
            .filter_map(|s| s.expect.as_ref())
            .any(|e| !check::engine_only(e).is_empty());
        if engine_only && !observable {
            return Some(
                "only fired/vars/actions are expected: engine internals, not observable live"
                    .into(),
            );
        }
        None
    }

    /// When the policy reads a connection fact the case leaves at its in-process default
    /// (client 203.0.113.7:50000, server port 443), the case runs in-process once more with the
    /// live value; if it fails there too, its expectations depend on the default and it is
    /// skipped. Otherwise any live failure is a real divergence.
    pub(super) async fn depends_on_defaults(
        &self,
        registry: &Registry,
        prepared: &Prepared,
        reads: PolicyReads,
        case: &Case,
        server_port: u16,
    ) -> Option<String> {
        let spec = case.conn.clone().unwrap_or_default();
        let mut facts = Vec::new();
        let mut variant = case.clone();
        let mut conn = spec.clone();
        if reads.client_ip && spec.client_ip.is_none() {
            conn.client_ip = Some("127.0.0.1".into());
            facts.push("client IP 203.0.113.7");
        }
        if reads.server_port && self.target.is_none() {
            conn.server_port = Some(server_port);
            facts.push("server port 443");
        }
        if facts.is_empty() {
            return None;
        }
        variant.conn = Some(conn);
        // Only what is checked live matters.
        let strip = |e: &mut Option<Expect>| {
            if let Some(e) = e {
                e.fired = None;
                e.vars = None;
                e.actions = None;
            }
        };
        strip(&mut variant.expect);
        for step in variant.steps.iter_mut().flatten() {
            strip(&mut step.expect);
        }
        let policy = prepared.load(registry).ok()?;
        let mut fired = std::collections::BTreeSet::new();
        let r = crate::runner::run_case(&policy, prepared, &variant, &mut fired).await;
        (!r.passed).then(|| {
            format!(
                "depends on the in-process default {} (the policy reads it; live it differs)",
                facts.join(" and ")
            )
        })
    }
}
