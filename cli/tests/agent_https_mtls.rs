//! Mutual TLS on HTTPS endpoints from the agent's side, with real processes (an edge,
//! `sluice http` / `sluice start`) and curl: `--mutual-tls-cas` and v2 `mutual_tls_cas` on
//! http tunnels become a `terminate-tls` rule that the edge's https handshake follows; the
//! upstream receives the client certificate in `Client-Cert`. On an `http://` URL the flag
//! has no TLS to act on and is refused.

mod support;
mod tls_endpoint_common;

use std::path::Path;
use std::process::{Command, Stdio};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use support::agent::{AgentProc, TOKEN, TunnelEdge};
use support::scratch_dir;
use support::start_echo;
use tls_endpoint_common::write;

/// A CA PEM, and a client certificate and key under it written in `dir` as `alice.*`.
fn client_ca(dir: &Path) -> (String, String, String) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "clients CA");
    let ca_pem = ca.clone().self_signed(&ca_key).expect("CA").pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("client key");
    let mut params = CertificateParams::new(vec!["alice.test".to_owned()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, "alice");
    let cert = params.signed_by(&key, &issuer).expect("client cert");
    (
        ca_pem,
        write(dir, "alice.crt", &cert.pem()),
        write(dir, "alice.key", &key.serialize_pem()),
    )
}

/// curl to `https://name/` on the edge's https port: the body, or curl's error.
fn curl(edge: &TunnelEdge, name: &str, cert: Option<(&str, &str)>) -> Result<String, String> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail", "--max-time", "20", "--cacert"])
        .arg(edge.ca_path())
        .args(["--resolve", &format!("{name}:{}:127.0.0.1", edge.https)]);
    if let Some((crt, key)) = cert {
        cmd.args(["--cert", crt, "--key", key]);
    }
    let out = cmd
        .arg(format!("https://{name}:{}/", edge.https))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).to_ascii_lowercase())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mutual_tls_cas_flag_checks_clients_of_an_https_endpoint() {
    let edge = TunnelEdge::start(false).await;
    let dir = scratch_dir();
    let (ca_pem, crt, key) = client_ca(&dir);
    let ca_file = write(&dir, "clients-ca.pem", &ca_pem);
    let (up, _) = start_echo().await;
    let name = "mtls-flag.localhost";
    let mut agent = edge.http_agent(
        &up.to_string(),
        &[
            "--url",
            &format!("https://{name}"),
            "--mutual-tls-cas",
            &ca_file,
        ],
    );
    agent.forwarding(1).await;
    let refused = curl(&edge, name, None);
    assert!(refused.is_err(), "no client certificate: {refused:?}");
    let body = curl(&edge, name, Some((&crt, &key))).expect("alice's certificate");
    assert!(body.contains("client-cert"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_mutual_tls_cas_on_an_http_tunnel_takes_effect() {
    let edge = TunnelEdge::start(false).await;
    let dir = scratch_dir();
    let (ca_pem, crt, key) = client_ca(&dir);
    let ca_file = write(&dir, "clients-ca.pem", &ca_pem);
    let (up, _) = start_echo().await;
    let name = "mtls-v2.localhost";
    let config = format!(
        "version: \"2\"\nauthtoken: {TOKEN}\nserver_addr: localhost:{tunnel}\nroot_cas: {ca}\ntunnels:\n  web:\n    proto: http\n    addr: {up}\n    hostname: {name}\n    schemes: [https]\n    mutual_tls_cas: {ca_file}\n",
        tunnel = edge.tunnel,
        ca = edge.ca_path().display(),
    );
    let path = write(&dir, "v2.yml", &config);
    let mut agent = AgentProc::spawn(&["start", "web", "--config", &path]);
    agent.forwarding(1).await;
    let refused = curl(&edge, name, None);
    assert!(refused.is_err(), "no client certificate: {refused:?}");
    let body = curl(&edge, name, Some((&crt, &key))).expect("alice's certificate");
    assert!(body.contains("client-cert"), "{body}");
}

#[test]
fn the_flag_on_an_http_url_is_refused() {
    let dir = scratch_dir();
    let (ca_pem, _, _) = client_ca(&dir);
    let ca_file = write(&dir, "clients-ca.pem", &ca_pem);
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["http", "8080", "--url", "http://plain.localhost"])
        .args(["--mutual-tls-cas", &ca_file])
        .env("HOME", &dir)
        .stdin(Stdio::null())
        .output()
        .expect("run sluice");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("need an https:// endpoint"), "{err}");
}
