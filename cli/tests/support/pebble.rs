//! A real ACME CA for the ACME tests: Debian's `pebble`, with `pebble-challtestsrv` as its
//! DNS server (every name resolves to 127.0.0.1), on loopback ports. Pebble validates for real
//! (`PEBBLE_VA_ALWAYS_VALID` unset) against the edge's http and https ports; its directory's
//! own HTTPS certificate is made here, since the package ships none. Killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{free_port, tls_connect};

/// Whether `pebble` and `pebble-challtestsrv` are on `PATH` (Debian package `pebble`).
pub fn pebble_installed() -> bool {
    let on_path = |bin: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(bin).is_file()))
    };
    on_path("pebble") && on_path("pebble-challtestsrv")
}

/// Ports of a pebble to start: pick them before the edge, so its config can name the
/// directory, and start pebble once the edge's ports are known.
#[derive(Debug, Clone, Copy)]
pub struct PebblePorts {
    /// The ACME directory's port.
    pub acme: u16,
    /// The management interface (issuing roots).
    pub management: u16,
    /// challtestsrv's DNS port (UDP and TCP).
    pub dns: u16,
    /// challtestsrv's management port.
    pub dns_management: u16,
}

impl PebblePorts {
    /// Free loopback ports.
    pub fn pick() -> PebblePorts {
        PebblePorts {
            acme: free_port(),
            management: free_port(),
            dns: free_port(),
            dns_management: free_port(),
        }
    }

    /// The directory URL.
    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme)
    }
}

/// A running pebble and its DNS server.
pub struct Pebble {
    children: Vec<Child>,
    /// Ports it listens on.
    pub ports: PebblePorts,
    /// Its folder: config, logs, and `directory-ca.pem`, the root of its directory's HTTPS
    /// certificate (the edge's `acme.ca_roots`).
    pub dir: PathBuf,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Writes the directory's CA (`directory-ca.pem`) and its HTTPS certificate for 127.0.0.1
/// into `dir`.
pub fn write_directory_pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "pebble directory test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("leaf params")
        .signed_by(&key, &issuer)
        .expect("leaf cert");
    std::fs::write(dir.join("directory-ca.pem"), ca_cert.pem()).expect("write ca");
    std::fs::write(dir.join("directory.pem"), leaf.pem()).expect("write cert");
    std::fs::write(dir.join("directory-key.pem"), key.serialize_pem()).expect("write key");
}

impl Pebble {
    /// Starts pebble on `ports`, validating HTTP-01 on `http_port` and TLS-ALPN-01 on
    /// `https_port`; `dir` must hold the files of [`write_directory_pki`]. Returns once the
    /// directory answers.
    pub async fn start(dir: &Path, ports: PebblePorts, http_port: u16, https_port: u16) -> Pebble {
        let config = format!(
            r#"{{"pebble": {{"listenAddress": "127.0.0.1:{}", "managementListenAddress": "127.0.0.1:{}", "certificate": "{}", "privateKey": "{}", "httpPort": {http_port}, "tlsPort": {https_port}, "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}"#,
            ports.acme,
            ports.management,
            dir.join("directory.pem").display(),
            dir.join("directory-key.pem").display(),
        );
        std::fs::write(dir.join("pebble.json"), config).expect("pebble config");
        let log =
            |name: &str| Stdio::from(std::fs::File::create(dir.join(name)).expect("pebble log"));
        let dns = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{}", ports.dns)])
            .args([
                "-management",
                &format!("127.0.0.1:{}", ports.dns_management),
            ])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(log("dns.log"))
            .stderr(log("dns.err"))
            .spawn()
            .expect("spawn pebble-challtestsrv");
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{}", ports.dns)])
            // Validate at once, on every order (no authorization reuse), never refuse a nonce.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_AUTHZREUSE", "0")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env_remove("PEBBLE_VA_ALWAYS_VALID")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .expect("spawn pebble");
        let me = Pebble {
            children: vec![dns, pebble],
            ports,
            dir: dir.to_path_buf(),
        };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", ports.acme)).await.is_ok() {
                return me;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pebble did not listen within 10 s:\n{}", me.log());
    }

    /// Pebble's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pebble.log")).unwrap_or_default()
    }

    /// Certificates pebble has issued so far.
    pub fn issued(&self) -> usize {
        self.log().matches("Issued certificate serial").count()
    }

    /// Validations pebble has run for `name` so far (one per challenge it checked).
    pub fn validations_of(&self, name: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("Pulled a task") && l.contains(&format!("\"{name}\"")))
            .count()
    }

    /// The root pebble issues under (from its management interface).
    pub async fn issuing_root(&self) -> CertificateDer<'static> {
        let ca = CertificateDer::from_pem_file(self.dir.join("directory-ca.pem")).expect("ca");
        let mut tls = tls_connect(self.ports.management, "127.0.0.1", &[ca], b"http/1.1")
            .await
            .expect("TLS to pebble's management interface");
        tls.write_all(b"GET /roots/0 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .expect("request");
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out);
        let pem = text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .expect("a response body");
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM root")
    }
}

/// The leaf certificate 127.0.0.1:`port` serves for `name` to a client that trusts only
/// `root`; `None` while it serves one `root` does not sign (the fallback before issuance).
pub async fn served_cert(
    port: u16,
    name: &str,
    root: &CertificateDer<'static>,
) -> Option<CertificateDer<'static>> {
    let tls = tls_connect(port, name, std::slice::from_ref(root), b"http/1.1")
        .await
        .ok()?;
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.clone().into_owned())
}

/// The issuer line `openssl s_client` prints for `name` on 127.0.0.1:`port`.
pub fn openssl_issuer(port: u16, name: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", name, "-showcerts"])
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // s_client prints the chain as ` 0 s:<subject>` / `   i:<issuer>` lines.
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("0 s:"))
        .nth(1)
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| panic!("no chain in openssl's output:\n{text}"))
}
