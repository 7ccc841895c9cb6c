//! The https listener's TLS: certificates chosen by SNI over the live config ([`Resolver`]),
//! then those obtained over ACME, else issued by the development CA, and the acceptor that
//! offers h2 and http/1.1.

use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::listeners::tls::Acceptor;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::acme::{ACME_TLS_ALPN, Acme};
use crate::state::{Shared, State};
use crate::tls::{DevCa, LOOPBACK};
use crate::tunnel::Terminator;

/// The https listener's TLS acceptor: certificates by SNI over the live config, else from the
/// development CA; ALPN h2 and http/1.1. With it, the [`Terminator`] of TLS endpoints running
/// `terminate-tls`, falling back to the same certificates.
pub(super) fn tls_acceptor(
    shared: &Shared,
    ca: Arc<DevCa>,
) -> anyhow::Result<(Arc<Acceptor>, Arc<Terminator>)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = Arc::new(Resolver::new(shared.state.clone(), ca, shared.acme.clone()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if shared.acme.tls_alpn01() {
        // Offered by a CA validating TLS-ALPN-01, and by no one else (RFC 8737: that client
        // offers it alone); the resolver answers it with the challenge certificate.
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    Ok((
        Arc::new(Acceptor::from_server_config(Arc::new(config))),
        Arc::new(Terminator::new(resolver)),
    ))
}

/// Chooses the certificate by SNI: a TLS-ALPN-01 challenge's for a CA validating, else a
/// configured one (exact, then wildcard), then one obtained over ACME, else one from the
/// development CA (`localhost` when the client sent no name).
pub(super) struct Resolver {
    state: Arc<ArcSwap<State>>,
    ca: Arc<DevCa>,
    acme: Arc<Acme>,
}

impl Resolver {
    /// A resolver over the live state (certificates swap with a reload).
    pub(super) fn new(state: Arc<ArcSwap<State>>, ca: Arc<DevCa>, acme: Arc<Acme>) -> Self {
        Resolver { state, ca, acme }
    }
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(challenge) = self.acme.challenge_hello(&hello) {
            return challenge;
        }
        let Some(name) = hello.server_name() else {
            // No SNI: a client that dialled an address; name loopback too.
            return self.ca.issue_with_ips("localhost", &LOOPBACK);
        };
        if let Some(k) = self.state.load().certs.lookup(name) {
            return Some(k);
        }
        if let Some(k) = self.acme.certs.lookup(name) {
            return Some(k);
        }
        self.ca.issue(name)
    }
}
