//! The answers to the CA's challenges while an order is open: HTTP-01 key authorizations by
//! token (served on the http listener at `/.well-known/acme-challenge/TOKEN`) and TLS-ALPN-01
//! certificates by name (offered on the https listener to clients asking for `acme-tls/1`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rcgen::{CertificateParams, CustomExtension, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use super::AcmeError;

/// The path prefix of HTTP-01 challenges.
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// The ALPN protocol of TLS-ALPN-01 (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Challenge answers of the orders in progress.
#[derive(Debug, Default)]
pub struct Challenges {
    http01: RwLock<HashMap<String, String>>,
    tls_alpn01: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl Challenges {
    /// The key authorization to answer at `/.well-known/acme-challenge/{token}`.
    pub fn http01(&self, token: &str) -> Option<String> {
        self.http01.read().ok()?.get(token).cloned()
    }

    /// The TLS-ALPN-01 certificate for `name`.
    pub fn tls_alpn01(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.tls_alpn01.read().ok()?.get(&name).cloned()
    }

    /// Serves `key_authorization` for `token` until [`Challenges::remove_http01`].
    pub(super) fn put_http01(&self, token: &str, key_authorization: &str) {
        if let Ok(mut m) = self.http01.write() {
            m.insert(token.to_string(), key_authorization.to_string());
        }
    }

    /// Stops serving `token`.
    pub(super) fn remove_http01(&self, token: &str) {
        if let Ok(mut m) = self.http01.write() {
            m.remove(token);
        }
    }

    /// Offers a TLS-ALPN-01 certificate for `name` carrying `digest` (the SHA-256 of the key
    /// authorization) until [`Challenges::remove_tls_alpn01`].
    pub(super) fn put_tls_alpn01(&self, name: &str, digest: &[u8]) -> Result<(), AcmeError> {
        let key = tls_alpn01_certificate(name, digest)?;
        if let Ok(mut m) = self.tls_alpn01.write() {
            m.insert(name.to_string(), Arc::new(key));
        }
        Ok(())
    }

    /// Stops offering the TLS-ALPN-01 certificate for `name`.
    pub(super) fn remove_tls_alpn01(&self, name: &str) {
        if let Ok(mut m) = self.tls_alpn01.write() {
            m.remove(name);
        }
    }
}

/// A self-signed certificate for `name` with the critical `acmeIdentifier` extension holding
/// `digest` (RFC 8737, section 3).
fn tls_alpn01_certificate(name: &str, digest: &[u8]) -> Result<CertifiedKey, AcmeError> {
    let fail = |e: rcgen::Error| AcmeError::Challenge(format!("TLS-ALPN-01 certificate: {e}"));
    let mut params = CertificateParams::new(vec![name.to_string()]).map_err(fail)?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let key = KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| AcmeError::Challenge(format!("TLS-ALPN-01 key: {e}")))?;
    Ok(CertifiedKey::new(
        vec![CertificateDer::from(cert.der().to_vec())],
        signing,
    ))
}
