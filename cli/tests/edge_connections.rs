//! End-to-end tests of client connection handling: the header-read and idle timeouts, and
//! `on_tcp_connect` running once per connection with its `tcp_connection_closed.v0` event.

mod support;

use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::{Edge, eventually, get, h1_send, raw, start_echo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_read_and_idle_timeouts() {
    let (echo, _) = start_echo().await;
    let config = |timeouts: &str| {
        format!(
            "version: 1\nlisteners:\n  http: 127.0.0.1:{{HTTP}}\ntimeouts:\n{timeouts}endpoints:\n  - url: http://app.localhost\n    upstream:\n      url: http://{echo}\n"
        )
    };
    // Header-read timeout: a client trickling half a header is cut off, although it is never
    // idle for long (the idle timeout is an hour).
    let edge = Edge::start(&config("  header_read: 300ms\n  idle: 1h\n")).await;
    let mut slow = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect edge");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: app.lo")
        .await
        .expect("write half a header");
    let start = Instant::now();
    let mut closed = false;
    let mut buf = [0u8; 64];
    while start.elapsed() < Duration::from_secs(10) {
        let _ = slow.write_all(b"c").await;
        match tokio::time::timeout(Duration::from_millis(100), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => panic!("the edge answered a half header"),
            Err(_) => {}
        }
    }
    assert!(closed, "the edge kept a trickling half header open");
    // A well-behaved client is unaffected.
    assert_eq!(get(edge.http, "app.localhost", "/").await.status, 200);
    drop(edge);

    // Idle timeout: a keep-alive connection with nothing to do is closed.
    let edge = Edge::start(&config("  idle: 1s\n")).await;
    let out = raw(edge.http, "GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n").await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_tcp_connect_runs_once_per_connection_with_a_closed_event() {
    let (echo, _) = start_echo().await;
    let config = format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
events:
  output: {{DIR}}/events.jsonl
endpoints:
  - url: http://app.localhost
    upstream:
      url: http://{echo}
    traffic_policy:
      on_tcp_connect:
        - actions:
            - type: log
              config:
                metadata:
                  marker: tcp-once
"#
    );
    let edge = Edge::start(&config).await;
    let stream = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect edge");
    let client_port = stream.local_addr().expect("local addr").port();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    let driver = tokio::spawn(conn);
    for i in 0..3 {
        let r = h1_send(&mut sender, "app.localhost", &format!("/{i}"), &[]).await;
        assert_eq!(r.status, 200);
    }
    drop(sender);
    let _ = driver.await;

    let tcp_events = eventually("tcp_connection_closed.v0", || async {
        let ev: Vec<serde_json::Value> = edge
            .events()
            .into_iter()
            .filter(|e| {
                e["event_type"] == "tcp_connection_closed.v0"
                    && e["object"]["conn"]["client_port"] == client_port
            })
            .collect();
        (!ev.is_empty()).then_some(ev)
    })
    .await;
    assert_eq!(tcp_events.len(), 1, "{tcp_events:?}");
    let e = &tcp_events[0]["object"];
    assert_eq!(e["conn"]["requests"], 3);
    assert_eq!(e["policy"]["logs"].as_array().map(Vec::len), Some(1), "{e}");
    assert_eq!(e["policy"]["logs"][0]["marker"], "tcp-once");
    assert!(e["conn"]["bytes_in"].as_u64().unwrap_or(0) > 0, "{e}");
    assert!(e["conn"]["bytes_out"].as_u64().unwrap_or(0) > 0, "{e}");
    assert!(e["conn"]["duration_ms"].as_f64().is_some(), "{e}");
    assert_eq!(e["endpoints"][0]["url"], "http://app.localhost");
    // The three request events, none carrying the connection's log.
    let http: Vec<_> = edge
        .events()
        .into_iter()
        .filter(|e| {
            e["event_type"] == "http_request_complete.v0"
                && e["object"]["conn"]["client_port"] == client_port
        })
        .collect();
    assert_eq!(http.len(), 3);
    assert!(http.iter().all(|e| !e.to_string().contains("tcp-once")));
}
