//! sluice's own request routes over a real loopback socket: summaries with filters, the live
//! stream, the decoded detail, HAR, and TCP/TLS connections (replays: `replay_tests.rs`).

use std::io::Write;
use std::net::SocketAddr;

use bytes::Bytes;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::store::tests::exchange;
use super::tests::{info, raw, start};
use super::{ApiOptions, InspectApi, Inspector};
use crate::forward::{BoxError, HttpOptions};
use crate::upstream::{EndpointKind, Upstream};

type TestResult = Result<(), BoxError>;

const HOST: (&str, &str) = ("host", "127.0.0.1:4040");

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes)?;
    gz.finish()
}

async fn get_json(port: u16, path: &str) -> Result<(u16, Value), BoxError> {
    let (s, b) = raw(port, "GET", path, &[HOST], "").await?;
    Ok((s, serde_json::from_str(&b).unwrap_or(Value::Null)))
}

#[tokio::test]
async fn summaries_detail_and_har() -> TestResult {
    let store = Inspector::default();
    let mut a = exchange("000000000000000a", "web", 0);
    a.request.method = "GET".into();
    a.request.uri = "/api/items?page=2&q=a%20b".into();
    if let Some(r) = a.response.as_mut() {
        r.headers = vec![
            ("content-type".into(), "application/json".into()),
            ("content-encoding".into(), "gzip".into()),
        ];
        r.body = Bytes::from(gzip(br#"{"items":[1,2]}"#)?);
        r.body_size = r.body.len() as u64;
    }
    store.record(a);
    let mut b = exchange("000000000000000b", "web", 0);
    b.request.headers = vec![("content-type".into(), "application/json".into())];
    b.request.body = Bytes::from_static(b"{\n  \"a\": 1,\n  \"b\": }");
    b.request.body_size = b.request.body.len() as u64;
    if let Some(r) = b.response.as_mut() {
        r.status = 422;
    }
    store.record(b);
    let api = InspectApi::new(store, ApiOptions::default());
    api.add_endpoint(info("web", "http://localhost:8080"), None);
    let port = start(&api).await?;

    let (s, v) = get_json(port, "/api/requests/http/summaries").await?;
    assert_eq!((s, v["total"].as_u64()), (200, Some(2)));
    assert_eq!(v["requests"][0]["id"], "000000000000000b");
    let (_, v) = get_json(port, "/api/requests/http/summaries?status=4xx").await?;
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(1));
    let (_, v) = get_json(
        port,
        "/api/requests/http/summaries?method=get&path=%2Fapi&q=items",
    )
    .await?;
    assert_eq!(v["requests"][0]["id"], "000000000000000a");
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(1));
    let (s, v) = get_json(port, "/api/requests/http/summaries?status=9xx").await?;
    assert_eq!((s, v["field"].as_str()), (400, Some("status")));
    let (s, _) = get_json(port, "/api/requests/http/summaries?nope=1").await?;
    assert_eq!(s, 400);

    // The detail: query parsed, gzip undone, JSON error located.
    let (s, v) = get_json(port, "/api/requests/http/000000000000000a/detail").await?;
    assert_eq!(s, 200);
    assert_eq!(v["request"]["query"][1], serde_json::json!(["q", "a b"]));
    assert_eq!(v["public_url"], "https://k3f9.localhost");
    let body = &v["response"]["body"];
    assert_eq!(
        (
            body["decoded"].as_bool(),
            body["text"].as_str(),
            body["kind"].as_str()
        ),
        (Some(true), Some(r#"{"items":[1,2]}"#), Some("json"))
    );
    let (_, v) = get_json(port, "/api/requests/http/000000000000000b/detail").await?;
    let err = &v["request"]["body"]["json_error"];
    assert_eq!(
        (err["line"].as_u64(), err["column"].as_u64()),
        (Some(3), Some(8))
    );
    assert_eq!(
        get_json(port, "/api/requests/http/nope/detail").await?.0,
        404
    );

    // HAR of the filtered list and of one request.
    let (s, v) = get_json(port, "/api/requests/http/har").await?;
    assert_eq!((s, v["log"]["version"].as_str()), (200, Some("1.2")));
    let entries = v["log"]["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["_sluiceId"], "000000000000000a");
    assert_eq!(
        entries[0]["request"]["url"],
        "https://k3f9.localhost/api/items?page=2&q=a%20b"
    );
    assert_eq!(
        entries[0]["response"]["content"]["text"],
        r#"{"items":[1,2]}"#
    );
    let (_, v) = get_json(port, "/api/requests/http/har?id=000000000000000b").await?;
    assert_eq!(v["log"]["entries"].as_array().map(Vec::len), Some(1));
    Ok(())
}

/// Reads from `s` until `needle` arrives (bounded).
async fn read_until(s: &mut TcpStream, needle: &str) -> Result<String, BoxError> {
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !seen.contains(needle) {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf)).await??;
        if n == 0 {
            return Err(format!("closed before `{needle}`: {seen}").into());
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    Ok(seen)
}

#[tokio::test]
async fn the_stream_sends_matching_requests_live() -> TestResult {
    let store = Inspector::default();
    let api = InspectApi::new(store.clone(), ApiOptions::default());
    let port = start(&api).await?;
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(
        b"GET /api/requests/http/stream?path=%2Fwanted HTTP/1.1\r\nhost: localhost\r\n\r\n",
    )
    .await?;
    // The head and a first comment arrive before any event, so a browser sees the stream
    // open at once.
    let head = read_until(&mut s, "live").await?;
    assert!(head.contains("text/event-stream"), "{head}");
    assert!(head.contains(":live") || head.contains(": live"), "{head}");
    let mut other = exchange("0000000000000001", "web", 0);
    other.request.uri = "/other".into();
    store.record(other);
    let mut wanted = exchange("0000000000000002", "web", 0);
    wanted.request.uri = "/wanted".into();
    store.record(wanted);
    let got = read_until(&mut s, "0000000000000002").await?;
    assert!(got.contains("event: request"), "{got}");
    assert!(!got.contains("0000000000000001"), "{got}");
    store.clear();
    read_until(&mut s, "event: clear").await?;
    // A foreign Host gets nothing.
    let (status, _) = raw(
        port,
        "GET",
        "/api/requests/http/stream",
        &[("host", "evil.example")],
        "",
    )
    .await?;
    assert_eq!(status, 403);
    Ok(())
}

#[tokio::test]
async fn tcp_connections_are_listed() -> TestResult {
    let store = Inspector::default();
    store
        .live()
        .record_connection(super::live::ConnectionRecord {
            id: "c1".into(),
            tunnel_name: "db".into(),
            proto: "tcp".into(),
            remote_addr: SocketAddr::from(([203, 0, 113, 5], 5000)),
            start: chrono::Utc::now(),
            duration: std::time::Duration::from_millis(1500),
            bytes_in: 10,
            bytes_out: 20,
            close_reason: "closed".into(),
        });
    let api = InspectApi::new(store, ApiOptions::default());
    let port = start(&api).await?;
    let (s, v) = get_json(port, "/api/connections").await?;
    assert_eq!(s, 200);
    let c = &v["connections"][0];
    assert_eq!(
        (
            c["tunnel_name"].as_str(),
            c["bytes_out"].as_u64(),
            c["duration"].as_f64()
        ),
        (Some("db"), Some(20), Some(1500.0))
    );
    assert_eq!(c["remote_addr"], "203.0.113.5:5000");
    let (s, _) = raw(port, "GET", "/assets/app.js", &[HOST], "").await?;
    assert_eq!(s, 200);
    Ok(())
}

#[tokio::test]
async fn the_tcp_forwarder_records_each_connection() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let store = Inspector::default();
    let up = Upstream::parse(&format!("127.0.0.1:{port}"), EndpointKind::Tcp)?;
    let fwd = crate::forward::Forwarder::new(
        "db",
        EndpointKind::Tcp,
        up,
        HttpOptions::default(),
        Some(store.clone()),
    )?;
    let (mut client, server) = tokio::io::duplex(4096);
    let client_addr = SocketAddr::from(([198, 51, 100, 7], 4000));
    let served = tokio::spawn(async move { fwd.serve(server, client_addr).await });
    client.write_all(b"hello").await?;
    let mut back = [0u8; 5];
    client.read_exact(&mut back).await?;
    assert_eq!(&back, b"hello");
    client.shutdown().await?;
    drop(client);
    served.await??;
    let conns = store.live().connections(10);
    let c = conns.first().ok_or("no connection recorded")?;
    assert_eq!(
        (
            c.tunnel_name.as_str(),
            c.proto.as_str(),
            c.bytes_in,
            c.bytes_out
        ),
        ("db", "tcp", 5, 5)
    );
    assert_eq!(
        (c.remote_addr, c.close_reason.as_str()),
        (client_addr, "closed")
    );
    Ok(())
}
