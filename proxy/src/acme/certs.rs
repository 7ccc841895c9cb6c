//! The certificates the edge obtained from its ACME CA, by name: read by the https listener's
//! resolver on every handshake and replaced whole on renewal, so a new handshake gets the new
//! certificate while connections already open keep theirs.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::AcmeError;

/// One certificate and when it expires.
#[derive(Debug, Clone)]
pub struct ManagedCert {
    /// Chain and signing key, ready for rustls.
    pub key: Arc<CertifiedKey>,
    /// The leaf's `notAfter`.
    pub not_after: SystemTime,
}

impl ManagedCert {
    /// Parses a PEM chain (leaf first) and its PEM private key.
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<ManagedCert, AcmeError> {
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AcmeError::Certificate(format!("certificate chain: {e}")))?;
        let Some(leaf) = chain.first() else {
            return Err(AcmeError::Certificate("no certificate in the chain".into()));
        };
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
            .map_err(|e| AcmeError::Certificate(format!("leaf certificate: {e}")))?;
        let secs = parsed.validity().not_after.timestamp();
        let not_after =
            SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| AcmeError::Certificate(format!("private key: {e}")))?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| AcmeError::Certificate(format!("private key: {e}")))?;
        let key = CertifiedKey::new(chain, signing);
        match key.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(e) => {
                return Err(AcmeError::Certificate(format!(
                    "the private key does not match the certificate: {e}"
                )));
            }
        }
        Ok(ManagedCert {
            key: Arc::new(key),
            not_after,
        })
    }

    /// Whether it expires within `window` of now.
    pub fn due(&self, window: Duration) -> bool {
        SystemTime::now() + window >= self.not_after
    }
}

/// The certificates obtained so far, by name (lower case).
#[derive(Debug, Default)]
pub struct ManagedCerts(RwLock<HashMap<String, ManagedCert>>);

impl ManagedCerts {
    /// The certificate for a server name, if the edge holds one.
    pub fn lookup(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.0.read().ok()?.get(&name).map(|c| c.key.clone())
    }

    /// The certificate for `name` with its expiry.
    pub fn get(&self, name: &str) -> Option<ManagedCert> {
        self.0.read().ok()?.get(name).cloned()
    }

    /// Installs (or replaces) the certificate for `name`.
    pub(super) fn insert(&self, name: &str, cert: ManagedCert) {
        if let Ok(mut m) = self.0.write() {
            m.insert(name.to_string(), cert);
        }
    }

    /// The names held.
    pub fn names(&self) -> Vec<String> {
        self.0
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}
