//! Mutual TLS on HTTPS endpoints, with curl as the client: the endpoint's `on_tcp_connect`
//! runs before the edge's handshake and its `terminate-tls` options shape it (no certificate
//! refused under `require-and-verify`, let through under `verify-if-given`; a wrong CA
//! refused); the rules after it, and `on_http_request`, read `conn.tls.client.*` and
//! `actions.ngrok.terminate_tls.*`; the upstream gets the certificate in `Client-Cert`.

mod tunnel_common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_tunnel::{BindRequest, Protocol};
use tunnel_common::test_ca::TestCa;
use tunnel_common::{agent, serve_heads, start_edge, temp_dir};

/// Runs `cmd` off the runtime's threads; its output.
async fn output(mut cmd: std::process::Command) -> std::io::Result<std::process::Output> {
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(std::io::Error::other)?
}

/// curl's answer (`status\nbody`), or its failure.
async fn curl(
    port: u16,
    host: &str,
    ca: &Path,
    cert: Option<&(PathBuf, PathBuf)>,
) -> Result<(u16, String), String> {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "--max-time", "20", "-H", "client-cert: :Zm9yZ2Vk:"])
        .args(["-w", "\n%{http_code}"])
        .arg("--cacert")
        .arg(ca)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")]);
    if let Some((crt, key)) = cert {
        cmd.arg("--cert").arg(crt).arg("--key").arg(key);
    }
    cmd.arg(format!("https://{host}:{port}/"));
    let out = output(cmd).await.map_err(|e| format!("curl: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').ok_or("no status")?;
    Ok((
        code.trim().parse().map_err(|_| "bad status")?,
        body.to_string(),
    ))
}

/// A policy: `terminate-tls` with `options`, then rules reading the client's certificate.
fn policy(options: serde_json::Value) -> String {
    serde_json::json!({
        "on_tcp_connect": [
            {"actions": [{"type": "terminate-tls", "config": options}]},
            // Runs after the handshake: it sees the certificate.
            {"expressions": ["conn.tls.client.subject.common_name == 'mallory'"],
             "actions": [{"type": "deny"}]}
        ],
        "on_http_request": [
            {"expressions": ["conn.tls.client.subject.common_name == 'bob'"],
             "actions": [{"type": "custom-response", "config": {"status_code": 403, "body": "not bob"}}]},
            {"actions": [{"type": "add-headers", "config": {"headers": {
                "x-version": "${actions.ngrok.terminate_tls.version}"
            }}}]},
            {"expressions": ["conn.tls.client.subject != ''"],
             "actions": [{"type": "add-headers", "config": {"headers": {
                "x-subject": "${conn.tls.client.subject}",
                "x-org": "${conn.tls.client.subject.organization[0]}",
                "x-sans": "${conn.tls.client.san.dns_names[0]}"
            }}}]}
        ]
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_on_https_endpoints() {
    let dir = temp_dir("https-mtls");
    let edge = start_edge(&dir).await;
    let ca_file = dir.join("state").join("ca.pem");
    let a = Arc::new(agent(&edge, "tok-a", "https-mtls").await.expect("agent"));
    let clients = TestCa::new("clients CA");
    let stranger = TestCa::new("other CA");
    a.bind(
        BindRequest::new(Protocol::Https)
            .with_url("https://strict.localhost")
            .with_traffic_policy(policy(serde_json::json!({
                "mutual_tls_certificate_authorities": [clients.pem],
                "min_version": "1.3",
            }))),
    )
    .await
    .expect("bind strict");
    a.bind(
        BindRequest::new(Protocol::Https)
            .with_url("https://lenient.localhost")
            .with_traffic_policy(policy(serde_json::json!({
                "mutual_tls_certificate_authorities": [clients.pem],
                "mutual_tls_verification_strategy": "verify-if-given",
            }))),
    )
    .await
    .expect("bind lenient");
    serve_heads(a.clone());
    let alice = clients.client_files(&dir, "alice");
    let bob = clients.client_files(&dir, "bob");
    let mallory = clients.client_files(&dir, "mallory");
    let eve = stranger.client_files(&dir, "eve");
    let port = edge.https;

    // require-and-verify: no certificate and a wrong CA are refused in the handshake.
    let none = curl(port, "strict.localhost", &ca_file, None).await;
    assert!(none.is_err(), "{none:?}");
    let wrong = curl(port, "strict.localhost", &ca_file, Some(&eve)).await;
    assert!(wrong.is_err(), "{wrong:?}");
    // The right CA: through, with the certificate's facts for the policy and the upstream.
    let (status, head) = curl(port, "strict.localhost", &ca_file, Some(&alice))
        .await
        .expect("alice");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("x-subject: cn=alice,o=acme"), "{head}");
    assert!(head.contains("x-org: acme"), "{head}");
    assert!(head.contains("x-version: 1.3"), "{head}");
    assert!(head.contains("x-sans: alice.client.test"), "{head}");
    assert!(head.contains("client-cert: :miib"), "{head}");
    assert!(
        !head.contains("zm9yz2vk"),
        "the client's own value must go: {head}"
    );
    // A policy rule on the subject: bob is refused by on_http_request, mallory by the
    // on_tcp_connect rule after terminate-tls.
    let (status, body) = curl(port, "strict.localhost", &ca_file, Some(&bob))
        .await
        .expect("bob gets an answer");
    assert_eq!((status, body.as_str()), (403, "not bob"));
    let closed = curl(port, "strict.localhost", &ca_file, Some(&mallory)).await;
    assert!(closed.is_err(), "{closed:?}");

    // verify-if-given: no certificate is fine (no Client-Cert, the forged one removed); a
    // wrong CA is still refused.
    let (status, head) = curl(port, "lenient.localhost", &ca_file, None)
        .await
        .expect("no certificate");
    assert_eq!(status, 200, "{head}");
    assert!(!head.contains("client-cert"), "{head}");
    assert!(!head.contains("x-subject"), "{head}");
    assert!(head.contains("x-version: 1."), "{head}");
    let wrong = curl(port, "lenient.localhost", &ca_file, Some(&eve)).await;
    assert!(wrong.is_err(), "{wrong:?}");

    // An SNI naming another endpoint does not skip strict's mutual TLS.
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "20",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ])
    .arg("--cacert")
    .arg(&ca_file)
    .args(["--resolve", &format!("lenient.localhost:{port}:127.0.0.1")])
    .args(["-H", "host: strict.localhost"])
    .arg(format!("https://lenient.localhost:{port}/"));
    let sneaky = output(cmd).await.expect("curl");
    let code = String::from_utf8_lossy(&sneaky.stdout).into_owned();
    assert!(!sneaky.status.success() || code != "200", "{code}");
    let _ = std::fs::remove_dir_all(&dir);
}
