//! End-to-end tests of the edge's HTTPS listener: the development CA, configured exact and
//! wildcard certificates chosen by SNI, and HTTP/2 by ALPN.

mod support;

use std::path::Path;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use support::{Edge, Reply, h1_send, read_reply, scratch_dir, start_echo, tls_connect};

async fn https_h1(port: u16, name: &str, roots: &[CertificateDer<'static>]) -> Reply {
    let tls = tls_connect(port, name, roots, b"http/1.1")
        .await
        .unwrap_or_else(|e| panic!("TLS to {name}: {e}"));
    let mut sender = support::h1_over(tls).await;
    h1_send(&mut sender, name, "/tls", &[]).await
}

fn pem_cert(text: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(text.as_bytes()).expect("PEM certificate")
}

/// A test CA and leaf certificates for `names`, written as PEM files in `dir`.
fn test_pki(dir: &Path) -> CertificateDer<'static> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "sluice test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    for (file, name) in [("exact", "exact.example"), ("wild", "*.wild.example")] {
        let key = KeyPair::generate().expect("leaf key");
        let mut p = CertificateParams::new(vec![name.to_string()]).expect("leaf params");
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.signed_by(&key, &issuer).expect("leaf cert");
        std::fs::write(dir.join(format!("{file}.pem")), cert.pem()).expect("write cert");
        std::fs::write(dir.join(format!("{file}-key.pem")), key.serialize_pem())
            .expect("write key");
    }
    ca_cert.der().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_dev_ca_configured_certs_and_h2() {
    let (echo, _) = start_echo().await;
    let dir = scratch_dir();
    let test_ca = test_pki(&dir);
    let config = format!(
        r#"version: 1
listeners:
  https: 127.0.0.1:{{HTTPS}}
state_dir: state
certificates:
  - names: [exact.example]
    cert_file: exact.pem
    key_file: exact-key.pem
  - names: ["*.wild.example"]
    cert_file: wild.pem
    key_file: wild-key.pem
endpoints:
  - url: https://dev.localhost
    upstream:
      url: http://{echo}
  - url: https://exact.example
    upstream:
      url: http://{echo}
  - url: https://*.wild.example
    upstream:
      url: http://{echo}
"#
    );
    let edge = Edge::start_in(dir, &config).await;
    let ca_path = edge.dir.join("state").join("ca.pem");
    assert!(
        edge.stderr().contains(&ca_path.display().to_string()),
        "the CA path is printed: {}",
        edge.stderr()
    );
    let dev_ca = pem_cert(&std::fs::read_to_string(&ca_path).expect("dev CA file"));

    // No certificate configured: one from the development CA, verified against it.
    let r = https_h1(edge.https, "dev.localhost", std::slice::from_ref(&dev_ca)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["x-forwarded-proto"][0], "https");
    assert_eq!(r.json()["headers"]["host"][0], "dev.localhost");

    // SNI picks the configured certificates (they verify against the test CA only).
    let r = https_h1(edge.https, "exact.example", std::slice::from_ref(&test_ca)).await;
    assert_eq!(r.status, 200);
    let r = https_h1(edge.https, "a.wild.example", std::slice::from_ref(&test_ca)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["host"][0], "a.wild.example");
    // ...and not the dev CA's.
    assert!(
        tls_connect(
            edge.https,
            "exact.example",
            std::slice::from_ref(&dev_ca),
            b"http/1.1"
        )
        .await
        .is_err()
    );
    // The dev CA does not serve configured names' certificates for other names either.
    assert!(
        tls_connect(
            edge.https,
            "dev.localhost",
            std::slice::from_ref(&test_ca),
            b"http/1.1"
        )
        .await
        .is_err()
    );

    // HTTP/2 by ALPN, two streams on one connection.
    let tls = tls_connect(
        edge.https,
        "dev.localhost",
        std::slice::from_ref(&dev_ca),
        b"h2",
    )
    .await
    .expect("TLS h2");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake::<_, _, Full<Bytes>>(
        TokioExecutor::new(),
        TokioIo::new(tls),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    for path in ["/one", "/two"] {
        let req = Request::builder()
            .uri(format!("https://dev.localhost{path}"))
            .body(Full::new(Bytes::new()))
            .expect("request");
        let r = read_reply(sender.send_request(req).await.expect("h2 request")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.version, http::Version::HTTP_2);
        assert_eq!(r.json()["path"], path);
        assert_eq!(r.json()["headers"]["x-forwarded-proto"][0], "https");
    }
}
