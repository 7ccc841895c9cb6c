//! A certificate authority for mutual-TLS tests: its PEM for `terminate-tls`'s
//! `mutual_tls_certificate_authorities`, and client certificates signed by it.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::CertificateDer;

/// A CA named by its common name, issuing client certificates.
pub struct TestCa {
    /// The CA certificate (PEM).
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.clone().self_signed(&key).expect("CA").pem();
        TestCa {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A client certificate `CN=<cn>, O=Acme` for the name `<cn>.client.test`, and its key.
    fn issue(&self, cn: &str) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().expect("client key");
        let mut params = CertificateParams::new(vec![format!("{cn}.client.test")]).expect("p");
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Acme");
        let cert = params.signed_by(&key, &self.issuer).expect("client cert");
        (cert, key)
    }

    /// A client certificate as a rustls client presents it: the chain (DER) and the key
    /// (PKCS#8 DER).
    pub fn client_der(&self, cn: &str) -> (Vec<CertificateDer<'static>>, Vec<u8>) {
        let (cert, key) = self.issue(cn);
        (vec![cert.der().clone()], key.serialize_der())
    }

    /// A client certificate written as `<cn>.crt` and `<cn>.key` in `dir` (for curl and
    /// openssl); their paths.
    pub fn client_files(&self, dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = self.issue(cn);
        let (crt, k) = (dir.join(format!("{cn}.crt")), dir.join(format!("{cn}.key")));
        std::fs::write(&crt, cert.pem()).expect("write crt");
        std::fs::write(&k, key.serialize_pem()).expect("write key");
        (crt, k)
    }
}
