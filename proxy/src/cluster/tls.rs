//! The cluster's mutual TLS: a cluster CA (`cluster-ca.pem`, `cluster-ca-key.pem` in the
//! cluster's CA folder, made when missing) and, per edge, a certificate it signs that serves
//! both ends of the inter-edge channel. An edge accepts only peers that present a
//! certificate of the same CA.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// The name in every edge's certificate, and the name a peer's certificate is checked for.
pub const PEER_NAME: &str = "edges.sluice-cluster.invalid";

/// The TLS settings of both ends of the inter-edge channel.
#[derive(Debug, Clone)]
pub struct ClusterTls {
    /// For the inter-edge listener (client certificates required).
    pub server: Arc<rustls::ServerConfig>,
    /// For dialing another edge (presents this edge's certificate).
    pub client: Arc<rustls::ClientConfig>,
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "sluice cluster CA");
    dn.push(DnType::OrganizationName, "sluice");
    p.distinguished_name = dn;
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

/// Loads the cluster CA from `dir` (making it when missing) and issues `edge_id`'s
/// certificate.
pub fn load(dir: &Path, edge_id: &str) -> anyhow::Result<ClusterTls> {
    use anyhow::Context;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the cluster CA folder {}", dir.display()))?;
    let key_path = dir.join("cluster-ca-key.pem");
    let cert_path = dir.join("cluster-ca.pem");
    if !key_path.exists() {
        let fresh = KeyPair::generate()?;
        if crate::tls::publish(&key_path, &fresh.serialize_pem(), true)? {
            let cert = ca_params().self_signed(&fresh)?;
            crate::tls::publish(&cert_path, &cert.pem(), false)?;
        }
    }
    let key_pem = std::fs::read_to_string(&key_path)
        .with_context(|| format!("cannot read {}", key_path.display()))?;
    let ca_key = KeyPair::from_pem(&key_pem)
        .with_context(|| format!("{} is not a private key", key_path.display()))?;
    // The other edge may still be writing the certificate: wait a little for it.
    let mut ca_pem = None;
    for _ in 0..50 {
        if let Ok(pem) = std::fs::read(&cert_path) {
            ca_pem = Some(pem);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let ca_pem = ca_pem.with_context(|| format!("cannot read {}", cert_path.display()))?;
    let ca_certs = CertificateDer::pem_slice_iter(&ca_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert_path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(ca_certs);
    anyhow::ensure!(added > 0, "{}: no certificate", cert_path.display());
    let issuer = Issuer::new(ca_params(), ca_key);

    let leaf_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![PEER_NAME.to_string()])?;
    params.distinguished_name.push(DnType::CommonName, edge_id);
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf = params.signed_by(&leaf_key, &issuer)?;
    let chain = vec![CertificateDer::from(leaf.der().to_vec())];
    let key = || PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(roots);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()?;
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key())?;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key())?;
    Ok(ClusterTls {
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

/// The server name a peer's certificate is checked for.
pub fn peer_name() -> ServerName<'static> {
    ServerName::try_from(PEER_NAME)
        .unwrap_or_else(|_| ServerName::from(std::net::Ipv4Addr::LOCALHOST))
}
