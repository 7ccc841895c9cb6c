//! Shared by the tunnel endpoint tests: an in-process edge (http, https and tunnel listeners,
//! TCP endpoints on loopback) and agents written with `sluice_tunnel::SessionBuilder`.

#![allow(dead_code)]

pub mod test_ca;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_tunnel::{ClientSession, SessionBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "../ports/mod.rs"]
mod ports;
pub use ports::free_port;

/// A running edge.
pub struct Edge {
    /// Port of the http listener.
    pub http: u16,
    /// Port of the https listener.
    pub https: u16,
    /// Address of the tunnel listener.
    pub tunnel: String,
    /// The development CA (PEM).
    pub ca_pem: Vec<u8>,
    /// A TCP port `tok-a` may bind.
    pub granted: u16,
    /// The range for TCP binds that name no port.
    pub range: (u16, u16),
}

/// Starts an edge whose files live in `dir`. Authtokens: `tok-a` (alice: `*.localhost` and
/// TCP port `granted`), `tok-b` (bob: `*.localhost`), `tok-any` (carol: anything).
pub async fn start_edge(dir: &Path) -> Edge {
    start_edge_with(dir, true).await
}

/// [`start_edge`], with or without the https listener.
pub async fn start_edge_with(dir: &Path, with_https: bool) -> Edge {
    let (http, https, tunnel, granted) = (free_port(), free_port(), free_port(), free_port());
    let https_line = if with_https {
        format!("  https: 127.0.0.1:{https}\n")
    } else {
        String::new()
    };
    let lo = 30000 + (std::process::id() % 20000) as u16;
    let range = (lo, lo + 99);
    let text = format!(
        "version: 1\nlisteners:\n  http: 127.0.0.1:{http}\n{https_line}  tunnel: 127.0.0.1:{tunnel}\nstate_dir: {state}\nevents:\n  output: {events}\nbase_domains: [localhost]\ntcp:\n  bind: 127.0.0.1\n  host: localhost\n  ports: {lo}-{hi}\nauthtokens:\n  - token: tok-a\n    account: alice\n    allow: [\"*.localhost\", \"tcp:{granted}\"]\n  - token: tok-b\n    account: bob\n    allow: [\"*.localhost\"]\n  - token: tok-any\n    account: carol\n    allow: [\"*\"]\n",
        state = dir.join("state").display(),
        events = dir.join("events.jsonl").display(),
        hi = range.1,
    );
    let registry = sluice_modules::builtin_registry();
    let config = sluice_proxy::config::load_str(&Arc::from("edge.yml"), &text, dir, &registry)
        .expect("config loads");
    tokio::spawn(sluice_proxy::serve(
        config,
        dir.join("absent.yml"),
        registry,
    ));
    let ca = dir.join("state").join("ca.pem");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let up = TcpStream::connect(("127.0.0.1", tunnel)).await.is_ok()
            && TcpStream::connect(("127.0.0.1", http)).await.is_ok()
            && (!with_https || TcpStream::connect(("127.0.0.1", https)).await.is_ok());
        if up && ca.exists() {
            return Edge {
                http,
                https,
                tunnel: format!("127.0.0.1:{tunnel}"),
                ca_pem: std::fs::read(&ca).expect("ca"),
                granted,
                range,
            };
        }
        assert!(Instant::now() < deadline, "edge did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-tunnel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// An agent session on `edge`.
pub async fn agent(
    edge: &Edge,
    token: &str,
    client_id: &str,
) -> sluice_tunnel::Result<ClientSession> {
    SessionBuilder::new(token)
        .connect_addr(edge.tunnel.clone())
        .server_name("localhost")
        .ca_pem(edge.ca_pem.clone())
        .client_id(client_id)
        .connect()
        .await
}

/// Streams an agent accepted, by endpoint URL.
#[derive(Debug, Default, Clone)]
pub struct Seen(Arc<Mutex<HashMap<String, usize>>>);

impl Seen {
    /// How many streams arrived for `url`.
    pub fn count(&self, url: &str) -> usize {
        self.0
            .lock()
            .map(|m| m.get(url).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Counts a stream for `url`.
    pub fn add(&self, url: &str) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(url.to_string()).or_default() += 1;
        }
    }
}

/// Serves every stream: TCP streams are echoed (the agent's write side closes after the
/// client's does); HTTP streams get `200` with body `agent=<name>`.
pub fn serve_echo(client: Arc<ClientSession>, name: &str) -> Seen {
    let seen = Seen::default();
    let (name, s) = (name.to_string(), seen.clone());
    tokio::spawn(async move {
        while let Some((header, mut stream)) = client.accept().await {
            s.add(&header.endpoint_url);
            let name = name.clone();
            tokio::spawn(async move {
                if header.protocol == sluice_tunnel::Protocol::Tcp {
                    let (mut r, mut w) = tokio::io::split(stream);
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                    let _ = w.shutdown().await;
                    return;
                }
                if read_head(&mut stream).await.is_none() {
                    return;
                }
                let body = format!("agent={name}");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(resp.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    seen
}

/// Reads `stream` up to the end of a request head (`\r\n\r\n`): the bytes read, or `None` when
/// the stream ends or fails first.
pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(buf)
}

/// The agent answers every HTTP stream `200` with the request head it received as the body.
pub fn serve_heads(client: Arc<ClientSession>) {
    tokio::spawn(async move {
        while let Some((_, mut stream)) = client.accept().await {
            tokio::spawn(async move {
                let Some(buf) = read_head(&mut stream).await else {
                    return;
                };
                let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
                    head.len()
                );
                let _ = stream.write_all(resp.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
}

/// `GET /` with this Host on the http listener; the whole answer, lower case.
pub async fn get(port: u16, host: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).to_ascii_lowercase()
}

/// Sends `data` on a TCP connection to `port`, closes the sending side, and returns all that
/// came back before the other side closed (or an error).
pub async fn round_trip(port: u16, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let s = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut r, mut w) = s.into_split();
    let send = async {
        w.write_all(data).await?;
        w.shutdown().await
    };
    let mut out = Vec::new();
    let recv = r.read_to_end(&mut out);
    let work = async { tokio::try_join!(send, recv) };
    tokio::time::timeout(Duration::from_secs(60), work)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "round trip timed out"))??;
    Ok(out)
}

/// Waits (bounded) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
