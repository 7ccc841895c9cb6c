//! What a reload swaps: the routing tables and the certificates, built from one config. The
//! service reads it through an `ArcSwap`, so a request in flight keeps the endpoint (and
//! policy) it started with while new requests see the new config.

use std::sync::Arc;

use sluice_tunnel::EndpointBinding;

use crate::config::{EdgeConfig, Endpoint, Scheme};
use crate::routes::Routes;
use crate::tls::CertTable;

/// Routes and certificates of one config.
#[derive(Debug)]
pub struct State {
    /// Endpoints served on the http listener.
    pub http: Routes,
    /// Endpoints served on the https listener.
    pub https: Routes,
    /// Internal endpoints (`.internal` names): kept for `forward-internal`, never routed
    /// from a public listener.
    pub internal: Vec<Arc<Endpoint>>,
    /// Configured certificates.
    pub certs: CertTable,
    /// Whether error responses also carry `ngrok-error-code` (`ngrok_error_code_header`).
    pub ngrok_error_code: bool,
    /// Named IP policies that agents' policies may name in `restrict-ips`.
    pub ip_policies: Arc<sluice_policy::IpPolicies>,
    /// Where `rate-limit` counts when shared with other edges (`rate_limit.redis`).
    pub rate_limit_redis: Option<Arc<crate::rate_limit_redis::RedisWindows>>,
}

impl State {
    /// The state for `config`.
    pub fn new(config: &EdgeConfig) -> State {
        let pick = |scheme: Scheme| {
            Routes::new(
                config
                    .endpoints
                    .iter()
                    .filter(|e| e.scheme == scheme && e.binding == EndpointBinding::Public)
                    .map(|e| (e.host.clone(), e.clone())),
            )
        };
        State {
            http: pick(Scheme::Http),
            https: pick(Scheme::Https),
            internal: config
                .endpoints
                .iter()
                .filter(|e| e.binding == EndpointBinding::Internal)
                .cloned()
                .collect(),
            certs: CertTable::new(&config.certificates),
            ngrok_error_code: config.ngrok_error_code_header,
            ip_policies: config.ip_policies.clone(),
            rate_limit_redis: config.rate_limit_redis.clone(),
        }
    }
}
