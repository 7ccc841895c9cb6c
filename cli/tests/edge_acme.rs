//! End-to-end tests of the edge's ACME certificates against a real ACME CA on loopback
//! (Debian's `pebble`, validating against the edge's own listeners): issuance for a configured
//! domain (HTTP-01) and for a name an agent binds under a base domain, reuse of the stored
//! certificate after a restart, and a forced renewal (TLS-ALPN-01) that swaps the certificate
//! while a connection opened before it keeps working. Skipped when pebble is not installed.

mod support;

use std::path::Path;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use support::agent::{TunnelEdge, poll};
use support::pebble::{
    Pebble, PebblePorts, openssl_issuer, pebble_installed, served_cert, write_directory_pki,
};
use support::{h1_send, raw, scratch_dir, start_echo, tls_connect};

/// How long pebble may take to issue (the edge's first attempt, made before pebble starts,
/// fails and is retried after 2 s).
const ISSUANCE: Duration = Duration::from_secs(60);

fn skip() -> bool {
    if pebble_installed() {
        return false;
    }
    eprintln!(
        "SKIPPED: the ACME tests need `pebble` and `pebble-challtestsrv` on PATH (Debian package `pebble`; .ci/run installs it)"
    );
    true
}

/// The `acme:` section for a pebble on `ports` whose directory CA is in `pebble_dir`.
fn acme_section(ports: &PebblePorts, pebble_dir: &Path, rest: &str) -> String {
    format!(
        "acme:\n  directory: {}\n  email: ops@example.com\n  ca_roots: {}\n{rest}",
        ports.directory(),
        pebble_dir.join("directory-ca.pem").display(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_edge_serves_a_pebble_certificate_and_reuses_it_after_a_restart() {
    if skip() {
        return;
    }
    let pebble_dir = scratch_dir();
    write_directory_pki(&pebble_dir);
    let ports = PebblePorts::pick();
    let mut edge = TunnelEdge::start_with_config(
        false,
        &acme_section(
            &ports,
            &pebble_dir,
            "  domains: [app.example.com]\n  challenges: [http-01]\n",
        ),
    )
    .await;
    let pebble = Pebble::start(&pebble_dir, ports, edge.http, edge.https).await;
    let root = pebble.issuing_root().await;
    let first = poll("a certificate issued by pebble", ISSUANCE, || {
        served_cert(edge.https, "app.example.com", &root)
    })
    .await;
    let issuer = openssl_issuer(edge.https, "app.example.com");
    assert!(issuer.contains("Pebble Intermediate CA"), "{issuer}");
    assert!(
        pebble.validations_of("app.example.com") >= 1,
        "pebble validated over HTTP-01:\n{}",
        pebble.log()
    );
    let stderr = edge.stderr();
    assert!(
        stderr.contains("certificate issued and installed"),
        "{stderr}"
    );
    let issued = pebble.issued();
    let state = std::fs::read_dir(edge.dir.join("state").join("acme"))
        .expect("acme folder")
        .count();
    assert_eq!(state, 1, "one folder for the one directory");

    // A restart serves the stored certificate from the first handshake, and orders nothing.
    edge.restart().await;
    let again = served_cert(edge.https, "app.example.com", &root)
        .await
        .expect("the stored certificate right after the restart");
    assert_eq!(again, first);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(pebble.issued(), issued, "no new order after the restart");
    let stderr = edge.stderr();
    assert!(stderr.contains("loaded from the state folder"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_renewal_swaps_the_certificate_and_open_connections_keep_working() {
    if skip() {
        return;
    }
    let (echo, _) = start_echo().await;
    let pebble_dir = scratch_dir();
    write_directory_pki(&pebble_dir);
    let ports = PebblePorts::pick();
    let extra = format!(
        "{}endpoints:\n  - url: https://renew.example.com\n    upstream:\n      url: http://{echo}\n",
        acme_section(
            &ports,
            &pebble_dir,
            "  domains: [renew.example.com]\n  challenges: [tls-alpn-01]\n",
        )
    );
    let edge = TunnelEdge::start_with_config(false, &extra).await;
    let pebble = Pebble::start(&pebble_dir, ports, edge.http, edge.https).await;
    let root = pebble.issuing_root().await;
    let first = poll("a certificate issued by pebble", ISSUANCE, || {
        served_cert(edge.https, "renew.example.com", &root)
    })
    .await;
    assert_eq!(pebble.validations_of("renew.example.com"), 1);

    // A keep-alive connection opened on the first certificate.
    let tls = tls_connect(
        edge.https,
        "renew.example.com",
        std::slice::from_ref(&root),
        b"http/1.1",
    )
    .await
    .expect("TLS with the first certificate");
    let held_cert = tls.get_ref().1.peer_certificates().expect("peer")[0].clone();
    assert_eq!(held_cert, first);
    let mut held = support::h1_over(tls).await;
    let r = h1_send(&mut held, "renew.example.com", "/before", &[]).await;
    assert_eq!(r.status, 200);

    let answer = raw(
        edge.admin,
        "POST /acme/renew HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert!(answer.contains("renewing 1 ACME certificates"), "{answer}");

    let second = poll("the renewed certificate", ISSUANCE, || async {
        served_cert(edge.https, "renew.example.com", &root)
            .await
            .filter(|c| *c != first)
    })
    .await;
    assert_ne!(second, first);
    assert_eq!(
        pebble.validations_of("renew.example.com"),
        2,
        "the renewal was validated over TLS-ALPN-01 again"
    );
    // The connection opened before the swap still serves requests.
    let r = h1_send(&mut held, "renew.example.com", "/after", &[]).await;
    assert_eq!(r.status, 200);
    // The stored certificate is the new one: a restart would serve it.
    let stored = std::fs::read_dir(edge.dir.join("state").join("acme"))
        .expect("acme folder")
        .flatten()
        .next()
        .expect("directory folder")
        .path()
        .join("certs")
        .join("renew.example.com.pem");
    let stored = std::fs::read(stored).expect("stored certificate");
    let stored = CertificateDer::from_pem_slice(&stored).expect("PEM certificate");
    assert_eq!(stored, second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_bound_under_a_base_domain_gets_its_own_certificate() {
    if skip() {
        return;
    }
    let (echo, _) = start_echo().await;
    let pebble_dir = scratch_dir();
    write_directory_pki(&pebble_dir);
    let ports = PebblePorts::pick();
    // No `challenges`: both listeners are configured, so both challenges are offered.
    let edge = TunnelEdge::start_with_config(
        false,
        &acme_section(
            &ports,
            &pebble_dir,
            "  base_domains: [tenants.example.com]\n",
        ),
    )
    .await;
    // Bound while the CA is still down: the first order fails, and until one succeeds the
    // name gets the development CA's certificate (the documented fallback).
    let mut covered = edge.http_agent(
        &echo.port().to_string(),
        &["--url", "https://shop.tenants.example.com"],
    );
    covered.url().await;
    let mut other = edge.http_agent(
        &echo.port().to_string(),
        &["--url", "https://other.localhost"],
    );
    other.url().await;
    let dev_ca = CertificateDer::from_pem_file(edge.ca_path()).expect("dev CA");
    assert!(
        served_cert(edge.https, "shop.tenants.example.com", &dev_ca)
            .await
            .is_some(),
        "the development CA's certificate before the first ACME certificate"
    );
    let pebble = Pebble::start(&pebble_dir, ports, edge.http, edge.https).await;
    let root = pebble.issuing_root().await;
    poll("a certificate for the bound name", ISSUANCE, || {
        served_cert(edge.https, "shop.tenants.example.com", &root)
    })
    .await;
    let issuer = openssl_issuer(edge.https, "shop.tenants.example.com");
    assert!(issuer.contains("Pebble Intermediate CA"), "{issuer}");
    // Through the tunnel, on the new certificate.
    let tls = tls_connect(
        edge.https,
        "shop.tenants.example.com",
        std::slice::from_ref(&root),
        b"http/1.1",
    )
    .await
    .expect("TLS");
    let mut sender = support::h1_over(tls).await;
    let r = h1_send(&mut sender, "shop.tenants.example.com", "/", &[]).await;
    assert_eq!(r.status, 200);
    // A name outside the base domains is never ordered: it keeps the development CA's.
    assert_eq!(pebble.validations_of("other.localhost"), 0);
    assert!(
        served_cert(edge.https, "other.localhost", &root)
            .await
            .is_none()
    );
}
