//! The SDK's agent-side TLS termination against an in-process edge: a `tls://` endpoint
//! forwarded with `forward_to_terminating` shows the agent's certificate and the upstream
//! reads plaintext.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use sluice_agent::{Agent, AgentTls, AgentTlsPem};
use sluice_tunnel::{BindRequest, Protocol, SessionBuilder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[path = "support/ports.rs"]
mod ports;
use ports::free_port;

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-agent-sdk-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Starts an edge with an https listener in this process: its https port, tunnel address
/// and CA.
async fn start_edge(dir: &Path) -> (u16, String, Vec<u8>) {
    let (http, https, tunnel) = (free_port(), free_port(), free_port());
    let text = format!(
        "version: 1\nlisteners:\n  http: 127.0.0.1:{http}\n  https: 127.0.0.1:{https}\n  tunnel: 127.0.0.1:{tunnel}\nstate_dir: {state}\nbase_domains: [localhost]\nauthtokens:\n  - token: tok\n    account: sdk\n    allow: [\"*\"]\n",
        state = dir.join("state").display(),
    );
    let registry = sluice_modules::builtin_registry();
    let config = sluice_proxy::config::load_str(&Arc::from("edge.yml"), &text, dir, &registry)
        .expect("edge config loads");
    tokio::spawn(sluice_proxy::serve(
        config,
        dir.join("absent.yml"),
        registry,
    ));
    let ca = dir.join("state").join("ca.pem");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let up = TcpStream::connect(("127.0.0.1", tunnel)).await.is_ok()
            && TcpStream::connect(("127.0.0.1", https)).await.is_ok();
        if up && ca.exists() {
            let pem = std::fs::read(&ca).expect("read ca");
            return (https, format!("127.0.0.1:{tunnel}"), pem);
        }
        assert!(Instant::now() < deadline, "the edge did not start in 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_to_terminating_ends_tls_at_the_agent() {
    let dir = temp_dir();
    let (https, tunnel, ca) = start_edge(&dir).await;
    // A plaintext upstream answering one line.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut s = BufReader::new(s);
                let mut line = String::new();
                if s.read_line(&mut line).await.is_ok() {
                    let _ = s
                        .get_mut()
                        .write_all(format!("plain:{line}").as_bytes())
                        .await;
                }
                let _ = s.get_mut().shutdown().await;
            });
        }
    });

    let agent = Agent::connect(
        SessionBuilder::new("tok")
            .connect_addr(tunnel)
            .server_name("localhost")
            .ca_pem(ca),
    )
    .await
    .expect("agent connects");
    let name = "sdk-tls.localhost";
    let endpoint = agent
        .bind(BindRequest::new(Protocol::Tls).with_url(format!("tls://{name}")))
        .await
        .expect("bind tls");
    let generated = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("cert");
    let tls = AgentTls::new(&AgentTlsPem {
        certificate_pem: generated.cert.pem(),
        private_key_pem: generated.signing_key.serialize_pem(),
        client_cas: Vec::new(),
    })
    .expect("agent TLS");
    let up = format!("127.0.0.1:{upstream}");
    tokio::spawn(async move { endpoint.forward_to_terminating(&up, tls).await });

    let config = sluice_tls::client_config(sluice_tls::ServerCerts::Unverified, Vec::new())
        .expect("client config");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", https))
        .await
        .expect("connect");
    let mut tls = connector
        .connect(ServerName::try_from(name).expect("name"), tcp)
        .await
        .expect("handshake with the agent");
    let shown = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec());
    assert_eq!(
        shown,
        Some(generated.cert.der().to_vec()),
        "not the agent's certificate"
    );
    tls.write_all(b"ping\n").await.expect("write");
    let mut out = String::new();
    tls.read_to_string(&mut out).await.expect("read");
    assert_eq!(out, "plain:ping\n");
    agent.close();
    let _ = std::fs::remove_dir_all(&dir);
}
