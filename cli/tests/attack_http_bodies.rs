//! The HTTP part of the edge's attack suite, on request bodies: slow bodies over HTTP/1 and
//! HTTP/2 (408, or a reset stream, and the upstream connection released), and bodies over an
//! action's buffer (413). Same setting as `attack_http.rs`.

mod support;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::attack::{assert_refused, edge_with, never_saw, still_serves};
use support::{Edge, eventually, start_echo_seen};

/// Writes a request head with a 1000-byte body, then `sent` body bytes, then one byte every
/// `every` until the edge answers; returns the answer and how long it took.
async fn slow_body(edge: &Edge, sent: usize, every: Duration) -> (Vec<u8>, Duration) {
    let mut s = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect");
    s.write_all(b"POST /slow HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 1000\r\n\r\n")
        .await
        .expect("head");
    s.write_all(&vec![b'a'; sent]).await.expect("body");
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(20) {
        match tokio::time::timeout(every, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) if out.is_empty() => {
                let _ = s.write_all(b"a").await;
            }
            Err(_) => {}
        }
    }
    (out, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_get_408_and_release_the_upstream() {
    // A stalled body: the read timeout.
    let (edge, seen) = edge_with("  body_read: 1s\n  body_min_rate: 0\n").await;
    let (out, took) = slow_body(&edge, 10, Duration::from_secs(30)).await;
    assert_refused(&out, 408, "3909", "stalled body");
    assert!(took < Duration::from_secs(5), "{took:?}");
    eventually("the upstream connection to be released", || async {
        (seen.open_connections() == 0).then_some(())
    })
    .await;
    still_serves(&edge, "a stalled body").await;
    drop(edge);

    // A trickle: one byte every 200 ms is under the minimum rate once the grace has passed,
    // although no gap reaches the read timeout.
    let (edge, seen) =
        edge_with("  body_read: 1h\n  body_min_rate: 100\n  body_min_rate_grace: 1s\n").await;
    let (out, took) = slow_body(&edge, 0, Duration::from_millis(200)).await;
    assert_refused(&out, 408, "3909", "trickled body");
    assert!(took < Duration::from_secs(5), "{took:?}");
    eventually("the upstream connection to be released", || async {
        (seen.open_connections() == 0).then_some(())
    })
    .await;
    still_serves(&edge, "a trickled body").await;
    // A body at a good pace is unaffected.
    let r = support::send(
        edge.http,
        "POST",
        "app.localhost",
        "/fast",
        &[],
        &"b".repeat(100_000),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_an_actions_buffer_get_413_not_500() {
    let (echo, seen) = start_echo_seen().await;
    let config = format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
endpoints:
  - url: http://rewrite.localhost
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: request-body-find-replace
              config:
                replacements:
                  - from: cat
                    to: dog
  - url: http://hook.localhost
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: verify-webhook
              config:
                provider: github
                secret: s3cret
"#
    );
    let edge = Edge::start(&config).await;
    // Streamed through the transform: over its 10 MiB buffer.
    let big = "c".repeat(10 * 1024 * 1024 + 4096);
    let r = support::send(edge.http, "POST", "rewrite.localhost", "/up", &[], &big).await;
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3904"));
    // Read whole by the action: over what the edge buffers (64 KiB).
    let body = "h".repeat(100 * 1024);
    let r = support::send(edge.http, "POST", "hook.localhost", "/hook", &[], &body).await;
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3904"));
    never_saw(&seen, "/hook", "a webhook body over the buffer");
    // Small bodies still pass.
    let r = support::send(edge.http, "POST", "rewrite.localhost", "/up", &[], "cat").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["body"], "dog");
}

/// A request body sent chunk by chunk as the test pushes them.
struct Pushed(tokio::sync::mpsc::Receiver<bytes::Bytes>);

impl hyper::body::Body for Pushed {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_http2_body_is_reset_and_releases_the_upstream() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let (echo, seen) = start_echo_seen().await;
    let config = format!(
        "version: 1\nlisteners:\n  https: 127.0.0.1:{{HTTPS}}\nstate_dir: state\ntimeouts:\n  body_read: 1s\nendpoints:\n  - url: https://app.localhost\n    upstream:\n      url: http://{echo}\n"
    );
    let edge = Edge::start(&config).await;
    let ca_pem = std::fs::read(edge.dir.join("state").join("ca.pem")).expect("dev CA");
    let ca = CertificateDer::from_pem_slice(&ca_pem).expect("dev CA certificate");
    let mut h2 = support::h2_tls::<Pushed>(edge.https, "app.localhost", &ca).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(bytes::Bytes::from_static(b"part of a body"))
        .await
        .expect("push");
    let req = hyper::Request::builder()
        .method("POST")
        .uri("https://app.localhost/h2-slow")
        .body(Pushed(rx))
        .expect("request");
    let start = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(10), h2.send_request(req))
        .await
        .expect("the edge gave up on the stalled body in time");
    match outcome {
        // The stream is reset (Pingora cannot answer while it waits on the body).
        Err(_) => {}
        Ok(resp) => assert_eq!(resp.status(), 408),
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    eventually("the upstream connection to be released", || async {
        (seen.open_connections() == 0).then_some(())
    })
    .await;
    drop(tx);
    // The connection itself still serves.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(bytes::Bytes::from_static(b"whole"))
        .await
        .expect("push");
    drop(tx);
    let req = hyper::Request::builder()
        .method("POST")
        .uri("https://app.localhost/h2-fast")
        .body(Pushed(rx))
        .expect("request");
    let resp = h2.send_request(req).await.expect("second stream");
    assert_eq!(resp.status(), 200);
}
