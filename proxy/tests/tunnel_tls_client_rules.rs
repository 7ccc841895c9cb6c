//! TLS endpoints whose `terminate-tls` checks client certificates: the handshake happens when
//! the action runs, so the `on_tcp_connect` rules after it read `conn.tls.client.*` (here, a
//! rule closing one subject's connections). `openssl s_client` as the client.

mod tunnel_common;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use sluice_tunnel::{BindRequest, ClientSession, Protocol};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tunnel_common::test_ca::TestCa;
use tunnel_common::{agent, start_edge, temp_dir};

/// The agent answers each stream's first line with `agent:<line>`.
fn serve_lines(client: Arc<ClientSession>) {
    tokio::spawn(async move {
        while let Some((_, stream)) = client.accept().await {
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                if stream.read_line(&mut line).await.is_ok() {
                    let _ = stream
                        .get_mut()
                        .write_all(format!("agent:{line}").as_bytes())
                        .await;
                }
                let _ = stream.get_mut().shutdown().await;
            });
        }
    });
}

/// `openssl s_client` with this client certificate, sending `hi`: everything it printed.
async fn s_client(port: u16, name: &str, crt: &Path, key: &Path) -> String {
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", name, "-quiet", "-cert"])
        .arg(crt)
        .arg("-key")
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = move || {
        let mut child = cmd.spawn().expect("openssl");
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write as _;
            let _ = stdin.write_all(b"hi\n");
            // Held open a moment so the answer can arrive before openssl sees EOF.
            std::thread::sleep(Duration::from_millis(500));
        }
        let out = child.wait_with_output().expect("openssl output");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    tokio::time::timeout(Duration::from_secs(30), tokio::task::spawn_blocking(run))
        .await
        .expect("openssl finished")
        .expect("openssl ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_after_terminate_tls_read_the_client_certificate() {
    let dir = temp_dir("tls-client-rules");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "client-rules").await.expect("agent"));
    let ca = TestCa::new("clients CA");
    let client = |cn: &str| ca.client_files(&dir, cn);
    let policy = serde_json::json!({
        "on_tcp_connect": [
            {"actions": [{"type": "terminate-tls",
                          "config": {"mutual_tls_certificate_authorities": [ca.pem]}}]},
            {"expressions": ["conn.tls.client.subject.common_name == 'mallory'",
                             "actions.ngrok.terminate_tls.version != ''"],
             "actions": [{"type": "deny"}]}
        ]
    });
    a.bind(
        BindRequest::new(Protocol::Tls)
            .with_url("tls://rules.localhost")
            .with_traffic_policy(policy.to_string()),
    )
    .await
    .expect("bind");
    serve_lines(a.clone());
    let (alice_crt, alice_key) = client("alice");
    let (mallory_crt, mallory_key) = client("mallory");
    let alice = s_client(edge.https, "rules.localhost", &alice_crt, &alice_key).await;
    assert!(alice.contains("agent:hi"), "{alice}");
    let mallory = s_client(edge.https, "rules.localhost", &mallory_crt, &mallory_key).await;
    assert!(!mallory.contains("agent:hi"), "{mallory}");
    let _ = std::fs::remove_dir_all(&dir);
}
