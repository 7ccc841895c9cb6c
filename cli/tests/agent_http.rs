//! `sluice http <port>` end to end: the real binary starts an embedded edge, binds an endpoint
//! with a Traffic Policy over the tunnel, and forwards a public request to a local upstream.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const POLICY: &str = "on_http_response:\n  - actions:\n      - type: add-headers\n        config:\n          headers:\n            x-from-policy: added\n";

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

async fn start_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let body = format!("upstream saw {}", req.uri().path());
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_command_forwards_through_an_embedded_edge() {
    let upstream = start_upstream().await;
    let dir = std::env::temp_dir().join(format!("sluice-agent-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let policy = dir.join("p.yml");
    std::fs::write(&policy, POLICY).expect("policy");

    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("http")
        .arg(upstream.to_string())
        .arg("--traffic-policy-file")
        .arg(&policy)
        .args(["--edge-http", "127.0.0.1:0"])
        .arg("--web-addr")
        .arg(format!("127.0.0.1:{}", free_port()))
        .env_remove("SLUICE_CONNECT_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sluice");
    let stdout = child.stdout.take().expect("stdout");
    let _agent = Agent(child);

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no Forwarding line; stdout so far: {seen:?}"));
        if line.starts_with("Forwarding") {
            let url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .expect("url")
                .to_owned();
            assert!(
                line.contains(&format!("-> http://localhost:{upstream}")),
                "{line}"
            );
            break url;
        }
        seen.push(line);
    };
    assert!(
        seen.iter()
            .any(|l| l.starts_with("Session Status") && l.ends_with("online")),
        "{seen:?}"
    );
    let authority = url.trim_start_matches("http://");
    let (host, port) = authority.rsplit_once(':').expect("host:port");
    assert!(host.ends_with(".localhost"), "{host}");
    let port: u16 = port.parse().expect("port");

    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect edge");
    let req = format!("GET /hello HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("response in time")
        .expect("read");
    let resp = String::from_utf8_lossy(&out).to_ascii_lowercase();
    assert!(resp.starts_with("http/1.1 200"), "{resp}");
    assert!(resp.contains("x-from-policy: added"), "{resp}");
    assert!(resp.contains("upstream saw /hello"), "{resp}");
    let _ = std::fs::remove_dir_all(&dir);
}
