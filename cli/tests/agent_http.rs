//! `sluice http|tcp <port>` end to end on the embedded edge: the real binary starts an edge in
//! its own process, binds an endpoint (with a Traffic Policy) over the tunnel, and forwards
//! public traffic to a local upstream; `--log` writes JSON lines.

mod support;

use support::free_port;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_command_on_the_embedded_edge_with_a_json_log() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let echo = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let first = support::free_port();
    let log = support::scratch_dir().join("agent.log");
    let mut agent = support::agent::AgentProc::spawn(&[
        "tcp".to_owned(),
        echo.to_string(),
        "--edge-http".into(),
        "127.0.0.1:0".into(),
        "--edge-tcp-ports".into(),
        format!("{first}-{first}"),
        "--log".into(),
        log.display().to_string(),
        "--log-format".into(),
        "json".into(),
    ]);
    let (url, upstream) = agent.forwarding(1).await.remove(0);
    assert_eq!(url, format!("tcp://localhost:{first}"));
    assert_eq!(upstream, format!("tcp://localhost:{echo}"));
    let mut s = TcpStream::connect(("127.0.0.1", first))
        .await
        .expect("connect the tcp endpoint");
    s.write_all(b"ping through the tunnel")
        .await
        .expect("write");
    let mut buf = [0u8; 23];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut buf))
        .await
        .expect("echo in time")
        .expect("read echo");
    assert_eq!(&buf, b"ping through the tunnel");
    let text = std::fs::read_to_string(&log).expect("log file");
    let started = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["msg"] == "started endpoint")
        .unwrap_or_else(|| panic!("no JSON `started endpoint` line in {text}"));
    assert_eq!(started["url"], url.as_str());
    let _ = std::fs::remove_dir_all(log.parent().expect("log dir"));
}
