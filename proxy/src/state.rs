//! What a reload swaps: the routing tables and the certificates, built from one config. The
//! service reads it through an `ArcSwap`, so a request in flight keeps the endpoint (and
//! policy) it started with while new requests see the new config.

use crate::config::{EdgeConfig, Scheme};
use crate::routes::Routes;
use crate::tls::CertTable;

/// Routes and certificates of one config.
#[derive(Debug)]
pub struct State {
    /// Endpoints served on the http listener.
    pub http: Routes,
    /// Endpoints served on the https listener.
    pub https: Routes,
    /// Configured certificates.
    pub certs: CertTable,
}

impl State {
    /// The state for `config`.
    pub fn new(config: &EdgeConfig) -> State {
        let pick = |scheme: Scheme| {
            Routes::new(
                config
                    .endpoints
                    .iter()
                    .filter(|e| e.scheme == scheme)
                    .map(|e| (e.host.clone(), e.clone())),
            )
        };
        State {
            http: pick(Scheme::Http),
            https: pick(Scheme::Https),
            certs: CertTable::new(&config.certificates),
        }
    }
}
