//! End-to-end test of the edge's graceful stop: on SIGTERM it stops accepting, closes idle
//! connections, lets the requests in flight (HTTP/1.1 and HTTP/2) finish, and exits 0.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Incoming;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use support::{Edge, eventually, h1_conn, h1_send, h2_tls, read_until, start_echo};

/// Reads the rest of `body` (the upstream was released) after `got`.
async fn rest(body: Incoming, mut got: Vec<u8>) -> Vec<u8> {
    let rest = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .expect("rest of the response in time")
        .expect("rest of the response")
        .to_bytes();
    got.extend_from_slice(&rest);
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_requests_in_flight_then_exits_zero() {
    let (echo, gate) = start_echo().await;
    let (echo2, gate2) = start_echo().await;
    // A long grace period: the request in flight is released by the test, not by a clock.
    let config = format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
  https: 127.0.0.1:{{HTTPS}}
state_dir: state
events:
  output: events.jsonl
timeouts:
  shutdown_grace: 120s
endpoints:
  - url: http://app.localhost
    upstream:
      url: http://{echo}
  - url: https://app.localhost
    upstream:
      url: http://{echo2}
"#
    );
    let mut edge = Edge::start(&config).await;

    // A keep-alive connection that served one request and now sits idle.
    let mut idle = h1_conn(edge.http).await;
    assert_eq!(
        h1_send(&mut idle, "app.localhost", "/", &[]).await.status,
        200
    );
    // A raw idle connection that never sent a byte.
    let mut silent = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect edge");

    // A request in flight: its response has started, and its end waits on the gate.
    let (open_gate, gate_rx) = oneshot::channel();
    *gate.lock().expect("gate") = Some(gate_rx);
    let mut s = h1_conn(edge.http).await;
    s.ready().await.expect("ready");
    let req = Request::builder()
        .uri("/sse")
        .header("host", "app.localhost")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = s.send_request(req).await.expect("slow request");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let got = read_until(&mut body, b"data: one").await;

    // The same over HTTP/2 with TLS, against the second upstream.
    let ca_pem = std::fs::read(edge.dir.join("state").join("ca.pem")).expect("dev CA");
    let ca = CertificateDer::from_pem_slice(&ca_pem).expect("dev CA certificate");
    let (open_gate2, gate2_rx) = oneshot::channel();
    *gate2.lock().expect("gate") = Some(gate2_rx);
    let mut s2 = h2_tls(edge.https, "app.localhost", &ca).await;
    let req = Request::builder()
        .uri("https://app.localhost/sse")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp2 = s2.send_request(req).await.expect("slow h2 request");
    assert_eq!(resp2.status(), 200);
    assert_eq!(resp2.version(), http::Version::HTTP_2);
    let mut body2 = resp2.into_body();
    let got2 = read_until(&mut body2, b"data: one").await;

    edge.signal(libc::SIGTERM);

    // New connections are refused once the edge has seen the signal.
    for port in [edge.http, edge.https] {
        eventually("the edge to refuse new connections", || async move {
            TcpStream::connect(("127.0.0.1", port))
                .await
                .err()
                .and_then(|e| match e.kind() {
                    // Queued in the listener's backlog just as it closed: reset, not yet
                    // refused; the next attempt finds no listener.
                    std::io::ErrorKind::ConnectionReset => None,
                    kind => {
                        assert_eq!(kind, std::io::ErrorKind::ConnectionRefused, "{e}");
                        Some(())
                    }
                })
        })
        .await;
    }
    // Idle connections are closed rather than waited for.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf))
        .await
        .expect("the edge closes a connection that sent nothing");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    eventually("the idle keep-alive connection to close", || {
        let closed = idle.is_closed();
        async move { closed.then_some(()) }
    })
    .await;
    // The requests in flight keep the edge running…
    assert!(edge.try_wait().is_none(), "{}", edge.stderr());

    // …and complete once their upstreams finish: HTTP/1.1 first, and the edge still waits
    // for the HTTP/2 one.
    open_gate.send(()).expect("upstream still waiting");
    assert_eq!(&rest(body, got).await[..], b"data: one\n\ndata: two\n\n");
    assert!(edge.try_wait().is_none(), "{}", edge.stderr());
    open_gate2.send(()).expect("second upstream still waiting");
    assert_eq!(&rest(body2, got2).await[..], b"data: one\n\ndata: two\n\n");

    let status = edge
        .wait_exit(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("the edge did not exit after draining\n{}", edge.stderr()));
    assert!(status.success(), "exit {status}\n{}", edge.stderr());
    let stderr = edge.stderr();
    assert!(stderr.contains("sluice edge: stopping"), "{stderr}");
    assert!(stderr.contains("sluice edge: stopped"), "{stderr}");
    // Events were flushed on the way out: the drained request is in them.
    assert!(
        edge.events_text().contains("/sse"),
        "{}",
        edge.events_text()
    );
}
