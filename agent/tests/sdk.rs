//! The SDK against an in-process edge: connect an [`Agent`], bind two HTTP endpoints, forward
//! one to a local upstream with `forward_to` and answer the other by hand with `accept`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_agent::Agent;
use sluice_tunnel::{BindRequest, Protocol, SessionBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-agent-sdk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Starts an edge in this process; returns its HTTP port, tunnel address and CA.
async fn start_edge(dir: &Path) -> (u16, String, Vec<u8>) {
    let (http, tunnel) = (free_port(), free_port());
    let text = format!(
        "version: 1\nlisteners:\n  http: 127.0.0.1:{http}\n  tunnel: 127.0.0.1:{tunnel}\nstate_dir: {state}\nevents:\n  output: {events}\nbase_domains: [localhost]\nauthtokens:\n  - token: tok\n    account: sdk\n    allow: [\"*\"]\n",
        state = dir.join("state").display(),
        events = dir.join("events.jsonl").display(),
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
            && TcpStream::connect(("127.0.0.1", http)).await.is_ok();
        if up && ca.exists() {
            let pem = std::fs::read(&ca).expect("read ca");
            return (http, format!("127.0.0.1:{tunnel}"), pem);
        }
        assert!(Instant::now() < deadline, "the edge did not start in 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A local upstream answering every connection with one fixed HTTP response.
async fn start_upstream(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = read_head(&mut s).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    port
}

async fn read_head<S: AsyncReadExt + Unpin>(s: &mut S) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf
}

async fn get(port: u16, url: &str) -> String {
    let host = url
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap_or_default();
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect edge");
    let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_binds_forwards_and_accepts() {
    let dir = temp_dir();
    let (http, tunnel, ca) = start_edge(&dir).await;
    let upstream = start_upstream("from the upstream").await;

    let agent = Agent::connect(
        SessionBuilder::new("tok")
            .connect_addr(tunnel)
            .server_name("localhost")
            .ca_pem(ca),
    )
    .await
    .expect("agent connects");

    let forwarded = agent
        .bind(BindRequest::new(Protocol::Http))
        .await
        .expect("bind forwarded");
    let forwarded_url = forwarded.url().to_owned();
    let up = format!("http://127.0.0.1:{upstream}");
    tokio::spawn(async move { forwarded.forward_to(&up).await });

    let mut manual = agent
        .bind(BindRequest::new(Protocol::Http))
        .await
        .expect("bind manual");
    let manual_url = manual.url().to_owned();
    assert_ne!(forwarded_url, manual_url);
    tokio::spawn(async move {
        while let Some((_header, mut stream)) = manual.accept().await {
            let _ = read_head(&mut stream).await;
            let body = "answered by accept()";
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(resp.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });

    let a = get(http, &forwarded_url).await;
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    assert!(a.ends_with("from the upstream"), "{a}");
    let b = get(http, &manual_url).await;
    assert!(b.starts_with("HTTP/1.1 200"), "{b}");
    assert!(b.ends_with("answered by accept()"), "{b}");

    agent.unbind(&manual_url).await.expect("unbind");
    let c = get(http, &manual_url).await;
    assert!(!c.starts_with("HTTP/1.1 200"), "{c}");
    agent.close();
    let _ = std::fs::remove_dir_all(&dir);
}
