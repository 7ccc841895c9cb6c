//! End-to-end tests of what the edge passes through unbuffered or not at all: hop-by-hop
//! headers, websockets, server-sent events, and the request header size limit.

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use support::{Edge, get, h1_conn, h1_send, read_until, start_echo, start_ws_echo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_websocket_sse_and_header_limit() {
    let (echo, gate) = start_echo().await;
    let ws = start_ws_echo().await;
    let config = format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
endpoints:
  - url: http://app.localhost
    upstream:
      url: http://{echo}
  - url: http://ws.localhost
    upstream:
      url: http://{ws}
"#
    );
    let edge = Edge::start(&config).await;

    // Hop-by-hop headers go no further, either way; end-to-end ones pass.
    let mut s = h1_conn(edge.http).await;
    let r = h1_send(
        &mut s,
        "app.localhost",
        "/hop",
        &[
            ("connection", "keep-alive, x-private"),
            ("x-private", "secret"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("x-end-to-end", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = r.json()["headers"].clone();
    for h in [
        "connection",
        "x-private",
        "keep-alive",
        "proxy-authorization",
        "te",
        "trailer",
    ] {
        assert!(seen.get(h).is_none(), "{h} reached the upstream: {seen}");
    }
    assert_eq!(seen["x-end-to-end"][0], "yes");
    assert!(r.headers.get("keep-alive").is_none());
    assert!(r.headers.get("proxy-thing").is_none());
    assert_eq!(r.headers["x-end-to-end"], "kept");

    // Websocket through the edge: the upgrade is kept, messages echo both ways.
    let tcp = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect edge");
    let (mut socket, resp) = tokio_tungstenite::client_async("ws://ws.localhost/socket", tcp)
        .await
        .expect("websocket handshake through the edge");
    assert_eq!(resp.status(), 101);
    for i in 0..3 {
        let text = format!("hello {i}");
        socket
            .send(tokio_tungstenite::tungstenite::Message::text(text.clone()))
            .await
            .expect("ws send");
        let back = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("ws echo in time")
            .expect("ws open")
            .expect("ws message");
        assert_eq!(back.into_text().expect("text").as_str(), text);
    }
    socket
        .send(tokio_tungstenite::tungstenite::Message::binary(vec![
            0u8, 1, 2, 255,
        ]))
        .await
        .expect("ws send binary");
    let back = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("ws echo in time")
        .expect("ws open")
        .expect("ws message");
    assert_eq!(back.into_data().as_ref(), &[0u8, 1, 2, 255]);

    // Server-sent events stream: the first event arrives while the upstream is still waiting
    // on the gate (so before it could have finished).
    let (open_gate, gate_rx) = oneshot::channel();
    *gate.lock().expect("gate") = Some(gate_rx);
    let mut s = h1_conn(edge.http).await;
    s.ready().await.expect("ready");
    let req = Request::builder()
        .uri("/sse")
        .header("host", "app.localhost")
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = s.send_request(req).await.expect("sse request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    // The first event arrives while the upstream still holds the response open.
    let mut got = read_until(&mut body, b"data: one").await;
    assert!(!got.windows(9).any(|w| w == b"data: two"));
    open_gate.send(()).expect("upstream still waiting");
    let rest = body.collect().await.expect("rest").to_bytes();
    got.extend_from_slice(&rest);
    assert_eq!(&got[..], b"data: one\n\ndata: two\n\n");

    // More than 1 MiB of request headers: 431 with the edge's error code.
    let mut raw = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect edge");
    let mut req = String::from("GET / HTTP/1.1\r\nHost: app.localhost\r\n");
    let filler = "a".repeat(60_000);
    for i in 0..20 {
        req.push_str(&format!("x-filler-{i}: {filler}\r\n"));
    }
    req.push_str("\r\n");
    let (mut rd, mut wr) = raw.split();
    let (_, out) = tokio::join!(
        async {
            // The edge stops reading past the limit; a failed write is expected.
            let _ = wr.write_all(req.as_bytes()).await;
        },
        async {
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut out)).await;
            out
        }
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
    assert!(
        text.contains("sluice-error-code: ERR_SLUICE_3906"),
        "{text}"
    );
    // The edge still serves.
    drop(raw);
    assert_eq!(get(edge.http, "app.localhost", "/").await.status, 200);
}
