//! What the agent's integration tests share: an edge started in the test's process, a fixed
//! local upstream, and a raw HTTP/1.1 GET through the edge.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod ports;
pub use ports::free_port;

/// A fresh directory for one test (`name` keeps tests of one binary apart).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-agent-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Starts an edge in this process; returns its HTTP port, tunnel address and CA.
pub async fn start_edge(dir: &Path) -> (u16, String, Vec<u8>) {
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
pub async fn start_upstream(body: &'static str) -> u16 {
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

pub async fn read_head<S: AsyncReadExt + Unpin>(s: &mut S) -> Vec<u8> {
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

pub async fn get(port: u16, url: &str) -> String {
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
