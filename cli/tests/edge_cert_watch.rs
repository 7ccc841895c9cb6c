//! End-to-end tests of the edge reloading its certificate files when they change on disk (no
//! signal): a new pair is served to new handshakes, and a broken file or a key that does not
//! belong to the certificate is refused with a clear error while the old certificate serves.

mod support;

use std::path::Path;

use rustls::pki_types::CertificateDer;
use support::pebble::served_cert;
use support::{Edge, eventually, write_atomic};

/// A test CA, and two certificate/key pairs for `watch.example` signed by it (PEM).
fn pairs() -> (CertificateDer<'static>, [(String, String); 2]) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "sluice watch test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    let pair = || {
        let key = KeyPair::generate().expect("leaf key");
        let cert = CertificateParams::new(vec!["watch.example".to_string()])
            .expect("leaf params")
            .signed_by(&key, &issuer)
            .expect("leaf cert");
        (cert.pem(), key.serialize_pem())
    };
    (ca_cert.der().clone(), [pair(), pair()])
}

fn der(pem: &str) -> CertificateDer<'static> {
    rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes()).expect("PEM")
}

fn write_pair(dir: &Path, cert: &str, key: &str) {
    write_atomic(&dir.join("watch-key.pem"), key);
    write_atomic(&dir.join("watch.pem"), cert);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_files_are_reloaded_when_they_change_and_broken_ones_are_refused() {
    let (ca, [(cert_a, key_a), (cert_b, key_b)]) = pairs();
    let dir = support::scratch_dir();
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).expect("certs folder");
    write_pair(&certs, &cert_a, &key_a);
    let config = format!(
        "version: 1\nlisteners:\n  https: 127.0.0.1:{{HTTPS}}\nstate_dir: {{DIR}}/state\ncertificates:\n  - names: [watch.example]\n    cert_file: {0}/watch.pem\n    key_file: {0}/watch-key.pem\nendpoints:\n  - url: https://watch.example\n    traffic_policy:\n      on_http_request:\n        - actions:\n            - type: custom-response\n              config:\n                status_code: 200\n                content: ok\n",
        certs.display()
    );
    std::fs::create_dir_all(dir.join("edge")).expect("edge folder");
    let edge = Edge::start_in(dir.join("edge"), &config).await;
    let served = || served_cert(edge.https, "watch.example", &ca);
    assert_eq!(served().await, Some(der(&cert_a)));

    // A new pair on disk: served without a signal.
    write_pair(&certs, &cert_b, &key_b);
    eventually("the new certificate", || async {
        (served().await == Some(der(&cert_b))).then_some(())
    })
    .await;
    let stderr = edge.stderr();
    assert!(stderr.contains("certificate file changed"), "{stderr}");

    // A broken certificate file is refused, naming it; the running certificate stays.
    write_atomic(
        &certs.join("watch.pem"),
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    );
    let refusal = eventually("the refusal", || async {
        let s = edge.stderr();
        s.contains("config reload refused").then_some(s)
    })
    .await;
    assert!(refusal.contains("watch.pem"), "{refusal}");
    assert_eq!(served().await, Some(der(&cert_b)));

    // A certificate whose key is not beside it (the other pair's key) is refused too.
    write_pair(&certs, &cert_a, &key_b);
    let refusal = eventually("the key mismatch refusal", || async {
        let s = edge.stderr();
        s.contains("does not belong to the certificate")
            .then_some(s)
    })
    .await;
    assert!(refusal.contains("watch-key.pem"), "{refusal}");
    assert_eq!(served().await, Some(der(&cert_b)));

    // Fixed again: served.
    write_pair(&certs, &cert_a, &key_a);
    eventually("the fixed certificate", || async {
        (served().await == Some(der(&cert_a))).then_some(())
    })
    .await;
    drop(edge);
    let _ = std::fs::remove_dir_all(&dir);
}
