//! Server-side TLS for terminating client connections with configured options: at the edge
//! (`terminate-tls`) and at the agent (`--terminate-at agent`, `agent_tls_termination`).
//! Certificates and authorities arrive as PEM; this is where they are parsed and checked, so
//! a bad PEM is an error at load or startup, never a silent fallback.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};

use crate::client_auth::AnyClientCertificate;
use crate::provider;

/// A certificate, key or authority that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ServerTlsError {
    /// The certificate PEM holds no certificate, or one that does not parse.
    #[error("the certificate PEM holds no usable certificate{0}")]
    Certificate(String),
    /// The private key PEM holds no usable key.
    #[error("the private key PEM holds no usable key: {0}")]
    PrivateKey(String),
    /// The key does not belong to the certificate, or its algorithm is not supported.
    #[error("the private key does not fit the certificate: {0}")]
    KeyMismatch(String),
    /// A certificate authority PEM holds no usable certificate.
    #[error("certificate authority {index} holds no usable certificate{detail}")]
    Authority {
        /// Position in the list.
        index: usize,
        /// What went wrong.
        detail: String,
    },
    /// A client-certificate check needs authorities and none were given.
    #[error("verifying client certificates needs at least one certificate authority")]
    NoAuthorities,
    /// rustls refused the combination.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// How a terminating server asks for and checks client certificates.
#[derive(Debug, Clone)]
pub enum ClientCerts {
    /// No client certificate is asked for.
    None,
    /// One is asked for; none, or any, is accepted (handshake signatures still checked).
    Request,
    /// One is required; any is accepted (handshake signatures still checked).
    RequireAny,
    /// Certificates must chain to `roots`; `optional` lets clients send none.
    Verify {
        /// The accepted authorities.
        roots: Arc<RootCertStore>,
        /// Whether a client may send no certificate.
        optional: bool,
    },
}

/// Parses a certificate chain (leaf first) and its private key into a signing key for rustls,
/// checking that the key belongs to the certificate.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, ServerTlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServerTlsError::Certificate(format!(": {e}")))?;
    if chain.is_empty() {
        return Err(ServerTlsError::Certificate(String::new()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| ServerTlsError::PrivateKey(e.to_string()))?;
    let provider = provider();
    let key = CertifiedKey::from_der(chain, key, &provider)
        .map_err(|e| ServerTlsError::KeyMismatch(e.to_string()))?;
    Ok(Arc::new(key))
}

/// A root store of the certificates in `pems` (each may hold several).
pub fn authorities<S: AsRef<[u8]>>(pems: &[S]) -> Result<RootCertStore, ServerTlsError> {
    let mut roots = RootCertStore::empty();
    for (index, pem) in pems.iter().enumerate() {
        let certs = CertificateDer::pem_slice_iter(pem.as_ref())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServerTlsError::Authority {
                index,
                detail: format!(": {e}"),
            })?;
        if certs.is_empty() {
            return Err(ServerTlsError::Authority {
                index,
                detail: String::new(),
            });
        }
        for cert in certs {
            roots.add(cert).map_err(|e| ServerTlsError::Authority {
                index,
                detail: format!(": {e}"),
            })?;
        }
    }
    Ok(roots)
}

/// The protocol versions from `min` to `max` (each `12` or `13`), in rustls' terms.
pub fn versions(min: u8, max: u8) -> Vec<&'static SupportedProtocolVersion> {
    let mut out = Vec::new();
    if min <= 12 && max >= 12 {
        out.push(&rustls::version::TLS12);
    }
    if min <= 13 && max >= 13 {
        out.push(&rustls::version::TLS13);
    }
    out
}

/// A server config: `versions`, client certificates per `client`, certificates from `certs`,
/// `alpn` offered (empty: none).
pub fn server_config(
    versions: &[&'static SupportedProtocolVersion],
    client: &ClientCerts,
    certs: Arc<dyn ResolvesServerCert>,
    alpn: Vec<Vec<u8>>,
) -> Result<ServerConfig, ServerTlsError> {
    let provider = provider();
    let verifier = client_verifier(client, &provider)?;
    let builder = ServerConfig::builder_with_provider(provider).with_protocol_versions(versions)?;
    let mut config = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    }
    .with_cert_resolver(certs);
    config.alpn_protocols = alpn;
    Ok(config)
}

fn client_verifier(
    client: &ClientCerts,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, ServerTlsError> {
    Ok(match client {
        ClientCerts::None => None,
        ClientCerts::Request => Some(Arc::new(AnyClientCertificate::new(provider.clone(), false))),
        ClientCerts::RequireAny => {
            Some(Arc::new(AnyClientCertificate::new(provider.clone(), true)))
        }
        ClientCerts::Verify { roots, optional } => {
            if roots.is_empty() {
                return Err(ServerTlsError::NoAuthorities);
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
            let builder = if *optional {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            Some(
                builder
                    .build()
                    .map_err(|e| ServerTlsError::Rustls(rustls::Error::General(e.to_string())))?,
            )
        }
    })
}

/// Serves one certificate whatever name the client asks for.
#[derive(Debug)]
pub struct FixedCertificate(pub Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("cert");
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn a_pair_parses_and_a_foreign_key_does_not_fit() {
        let (cert, key) = pair("a.test");
        assert!(certified_key(cert.as_bytes(), key.as_bytes()).is_ok());
        let (_, other_key) = pair("b.test");
        let err = certified_key(cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert!(matches!(err, ServerTlsError::KeyMismatch(_)), "{err}");
        let err = certified_key(b"not a pem", key.as_bytes()).unwrap_err();
        assert!(matches!(err, ServerTlsError::Certificate(_)), "{err}");
        let err = certified_key(cert.as_bytes(), b"").unwrap_err();
        assert!(matches!(err, ServerTlsError::PrivateKey(_)), "{err}");
    }

    #[test]
    fn authorities_need_a_certificate_each() {
        let (cert, _) = pair("ca.test");
        assert_eq!(
            authorities(std::slice::from_ref(&cert))
                .expect("roots")
                .len(),
            1
        );
        let err = authorities(&[cert, "junk".to_string()]).unwrap_err();
        assert!(
            matches!(err, ServerTlsError::Authority { index: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn versions_span_the_range() {
        assert_eq!(versions(12, 13).len(), 2);
        assert_eq!(versions(13, 13), vec![&rustls::version::TLS13]);
        assert_eq!(versions(12, 12), vec![&rustls::version::TLS12]);
        assert!(versions(13, 12).is_empty());
    }

    #[test]
    fn every_client_mode_builds() {
        let (cert, key) = pair("a.test");
        let ck = certified_key(cert.as_bytes(), key.as_bytes()).expect("key");
        let roots = Arc::new(authorities(&[cert]).expect("roots"));
        let modes = [
            ClientCerts::None,
            ClientCerts::Request,
            ClientCerts::RequireAny,
            ClientCerts::Verify {
                roots: roots.clone(),
                optional: true,
            },
            ClientCerts::Verify {
                roots,
                optional: false,
            },
        ];
        for mode in modes {
            server_config(
                &versions(12, 13),
                &mode,
                Arc::new(FixedCertificate(ck.clone())),
                Vec::new(),
            )
            .expect("config");
        }
        let empty = ClientCerts::Verify {
            roots: Arc::new(RootCertStore::empty()),
            optional: false,
        };
        let err = server_config(
            &versions(12, 13),
            &empty,
            Arc::new(FixedCertificate(ck)),
            Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(err, ServerTlsError::NoAuthorities), "{err}");
    }
}
