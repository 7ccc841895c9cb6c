//! Certificates for the https listener: the configured PEM certificates (exact names and
//! wildcards), and, for names without one, certificates issued on the fly by the edge's own
//! development CA, whose key and certificate live in the state folder (`ca.pem`, `ca-key.pem`),
//! so `curl --cacert .sluice-edge/ca.pem` works across restarts. The https listener picks
//! among them per handshake (`server::https`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::config::Certificate;

/// Most dev-CA certificates kept; past this the cache starts afresh.
const CACHE_LIMIT: usize = 4096;

/// Configured certificates by name: exact names, then wildcards (one label, as TLS matches).
#[derive(Debug, Default)]
pub struct CertTable {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `example.com` for `*.example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl CertTable {
    /// The table for the config's certificates (a later entry does not replace an earlier one).
    pub fn new(certs: &[Certificate]) -> Self {
        let mut t = CertTable::default();
        for c in certs {
            for n in &c.names {
                match n.strip_prefix("*.") {
                    Some(rest) => t.wildcard.entry(rest.to_string()),
                    None => t.exact.entry(n.clone()),
                }
                .or_insert_with(|| c.key.clone());
            }
        }
        t
    }

    /// The configured certificate for a server name, if any.
    pub fn lookup(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.exact.get(&name) {
            return Some(k.clone());
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent).cloned()
    }
}

/// The edge's development CA.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    leaf_key: KeyPair,
    signing: Arc<dyn rustls::sign::SigningKey>,
    /// `ca.pem` in the state folder.
    pub cert_path: PathBuf,
    cache: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "sluice edge development CA");
    dn.push(DnType::OrganizationName, "sluice");
    p.distinguished_name = dn;
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

impl DevCa {
    /// Loads the CA from `dir`, making the folder, key and certificate when missing.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<DevCa> {
        use anyhow::Context;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the state folder {}", dir.display()))?;
        let key_path = dir.join("ca-key.pem");
        let cert_path = dir.join("ca.pem");
        // Several processes may share the folder (agents with embedded edges start together):
        // each file appears whole and once (`publish`), and the key that won is the one used.
        let key = match std::fs::read_to_string(&key_path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fresh = KeyPair::generate()?.serialize_pem();
                if publish(&key_path, &fresh, true)? {
                    let _ = std::fs::remove_file(&cert_path);
                }
                std::fs::read_to_string(&key_path)
                    .with_context(|| format!("cannot read {}", key_path.display()))?
            }
            Err(e) => return Err(e).context(format!("cannot read {}", key_path.display())),
        };
        let key = KeyPair::from_pem(&key)
            .with_context(|| format!("{} is not a private key", key_path.display()))?;
        if !cert_path.exists() {
            let cert = ca_params().self_signed(&key)?;
            publish(&cert_path, &cert.pem(), false)?;
        }
        // The same subject and key give the same issuer as the certificate on disk.
        let issuer = Issuer::new(ca_params(), key);
        let leaf_key = KeyPair::generate()?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_supported_type(&der)
            .map_err(|e| anyhow::anyhow!("development key: {e}"))?;
        Ok(DevCa {
            issuer,
            leaf_key,
            signing,
            cert_path,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// A certificate for `name`, issued once and cached.
    pub fn issue(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.issue_with_ips(name, &[])
    }

    /// A certificate for `name` that also names `ips`, so clients that dial an address
    /// (`--connect-url 127.0.0.1:4443`, `https://127.0.0.1:8443`) can verify it too.
    pub fn issue_with_ips(&self, name: &str, ips: &[IpAddr]) -> Option<Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut sans = vec![name.clone()];
        for ip in ips {
            let ip = ip.to_string();
            if !sans.contains(&ip) {
                sans.push(ip);
            }
        }
        let key_name = sans.join(",");
        if let Ok(cache) = self.cache.lock()
            && let Some(k) = cache.get(&key_name)
        {
            return Some(k.clone());
        }
        // rcgen makes a name that parses as an address an IP SAN.
        let mut params = CertificateParams::new(sans).ok()?;
        params
            .distinguished_name
            .push(DnType::CommonName, name.as_str());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let cert = params.signed_by(&self.leaf_key, &self.issuer).ok()?;
        let key = Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(cert.der().to_vec())],
            self.signing.clone(),
        ));
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key_name, key.clone());
        }
        Some(key)
    }
}

/// Writes `text` to `path` only if `path` does not exist yet, so that a reader never sees a
/// partial file: the text goes to a temporary file first (mode 0600 when `private`), which is
/// then linked into place. Returns whether this call created `path` (`false`: another process
/// did first, and its file stands).
pub(crate) fn publish(path: &Path, text: &str, private: bool) -> anyhow::Result<bool> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}-{:x}", std::process::id(), next_tmp_id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = opts
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()));
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(anyhow::anyhow!("cannot write {}: {e}", path.display())),
    });
    let _ = std::fs::remove_file(&tmp);
    linked
}

/// A per-call number for temporary file names (several threads of one process may publish).
fn next_tmp_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The loopback addresses, named by every development certificate a client reaches without
/// a server name.
pub const LOOPBACK: [IpAddr; 2] = [
    IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
];

/// The addresses a development certificate for a listener on `addr` names: its own address,
/// or loopback when it listens on every address (`0.0.0.0`, `::`) or on loopback.
pub fn listener_ips(addr: std::net::SocketAddr) -> Vec<IpAddr> {
    let ip = addr.ip();
    if ip.is_unspecified() || ip.is_loopback() {
        let mut ips = LOOPBACK.to_vec();
        if !ips.contains(&ip) && !ip.is_unspecified() {
            ips.push(ip);
        }
        ips
    } else {
        vec![ip]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_ca_persists_and_issues() {
        let dir = std::env::temp_dir().join(format!("sluice-devca-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ca = DevCa::load_or_create(&dir).unwrap();
        let pem = std::fs::read_to_string(&ca.cert_path).unwrap();
        assert!(pem.contains("BEGIN CERTIFICATE"));
        assert!(ca.issue("app.localhost").is_some());
        // A second start keeps the same CA.
        let again = DevCa::load_or_create(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(&again.cert_path).unwrap(), pem);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn processes_creating_the_ca_together_agree_on_one() {
        let dir = std::env::temp_dir().join(format!("sluice-devca-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cas: Vec<DevCa> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| DevCa::load_or_create(&dir).unwrap()))
                .collect();
            starts.into_iter().map(|t| t.join().unwrap()).collect()
        });
        // Every one of them issues certificates that the one CA on disk verifies.
        for (i, ca) in cas.iter().enumerate() {
            let key = ca.issue("app.localhost").unwrap();
            assert!(verifies(ca, &key, "app.localhost"), "CA {i}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Verifies `key`'s certificate as a rustls client trusting the CA would, for `name`.
    fn verifies(ca: &DevCa, key: &CertifiedKey, name: &str) -> bool {
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{ServerName, UnixTime};
        let ca_der = CertificateDer::from_pem_file(&ca.cert_path).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let server = ServerName::try_from(name.to_string()).unwrap();
        verifier
            .verify_server_cert(&key.cert[0], &[], &server, &[], UnixTime::now())
            .is_ok()
    }

    #[test]
    fn certificates_name_the_listen_addresses() {
        let dir = std::env::temp_dir().join(format!("sluice-devca-ip-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ca = DevCa::load_or_create(&dir).unwrap();
        let any = ca
            .issue_with_ips("localhost", &listener_ips("0.0.0.0:4443".parse().unwrap()))
            .unwrap();
        assert!(verifies(&ca, &any, "localhost"));
        assert!(verifies(&ca, &any, "127.0.0.1"));
        assert!(verifies(&ca, &any, "::1"));
        assert!(!verifies(&ca, &any, "192.0.2.1"));
        let one = ca
            .issue_with_ips(
                "localhost",
                &listener_ips("192.0.2.1:4443".parse().unwrap()),
            )
            .unwrap();
        assert!(verifies(&ca, &one, "192.0.2.1"));
        assert!(!verifies(&ca, &one, "127.0.0.1"));
        let plain = ca.issue("localhost").unwrap();
        assert!(!verifies(&ca, &plain, "127.0.0.1"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
