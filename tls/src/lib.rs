//! The rustls client configs sluice dials out with, built in one place: the agent to the edge and
//! to `https://`/`tls://` upstreams, policy actions calling HTTP services (`http-request`, JWKS
//! downloads) and the conformance live client. Every one uses the ring provider and rustls' safe
//! default protocol versions; they differ only in which server certificates they accept and the
//! ALPN protocols they offer. [`server`] builds the server configs that terminate clients' TLS
//! with configured certificates, versions and client-certificate checks.

mod client_auth;
pub mod server;

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Which server certificates a client accepts.
#[derive(Debug, Clone)]
pub enum ServerCerts {
    /// Chains to the Mozilla root program (webpki-roots).
    WebPki,
    /// Chains to one of these roots (e.g. an edge's own CA).
    Roots(RootCertStore),
    /// Any certificate: ngrok's default for upstreams (`tls_verify: false`) and the conformance
    /// client talking to an edge with a development CA. Handshake signatures are still checked.
    Unverified,
}

/// The crypto provider every sluice TLS config uses (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client config accepting `certs` and offering `alpn` (e.g. `h2`, `http/1.1`; empty for none).
pub fn client_config(
    certs: ServerCerts,
    alpn: Vec<Vec<u8>>,
) -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let mut config = match certs {
        ServerCerts::WebPki => builder
            .with_root_certificates(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
            .with_no_client_auth(),
        ServerCerts::Roots(roots) => builder.with_root_certificates(roots).with_no_client_auth(),
        ServerCerts::Unverified => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    };
    config.alpn_protocols = alpn;
    Ok(config)
}

/// Accepts any certificate but still checks handshake signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_builds_with_its_alpn() {
        let kinds = [
            ServerCerts::WebPki,
            ServerCerts::Roots(RootCertStore::empty()),
            ServerCerts::Unverified,
        ];
        for certs in kinds {
            let config = client_config(certs, vec![b"h2".to_vec()]).expect("config");
            assert_eq!(config.alpn_protocols, [b"h2".to_vec()]);
        }
    }

    #[test]
    fn unverified_accepts_any_certificate() {
        let verifier = AnyCertificate(provider());
        let name = ServerName::try_from("example.com").expect("name");
        let accepted = verifier.verify_server_cert(
            &CertificateDer::from(vec![0u8; 4]),
            &[],
            &name,
            &[],
            UnixTime::now(),
        );
        assert!(accepted.is_ok());
        assert!(!verifier.supported_verify_schemes().is_empty());
    }
}
