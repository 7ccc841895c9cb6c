//! sluice's own request routes over a real loopback socket: summaries with filters, the live
//! stream, the decoded detail, HAR, replay with modification (to the upstream and through an
//! "edge" that is the forwarder itself on a socket), connections, and the API's guards.

use std::io::Write;
use std::net::SocketAddr;

use bytes::Bytes;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::store::tests::exchange;
use super::tests::{info, raw, start};
use super::{ApiOptions, InspectApi, Inspector};
use crate::forward::{BoxError, HttpForwarder, HttpOptions};
use crate::upstream::{EndpointKind, Upstream};

type TestResult = Result<(), BoxError>;

const HOST: (&str, &str) = ("host", "127.0.0.1:4040");
const JSON: (&str, &str) = ("content-type", "application/json");

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
    let head = read_until(&mut s, "\r\n\r\n").await?;
    assert!(head.contains("text/event-stream"), "{head}");
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

/// Serves `fwd` on a loopback listener, as the edge would hand it tunnelled connections.
async fn fake_edge(fwd: HttpForwarder) -> Result<u16, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let fwd = fwd.clone();
            tokio::spawn(async move { fwd.serve_connection(stream, peer).await });
        }
    });
    Ok(port)
}

#[tokio::test]
async fn replay_with_changes_to_the_upstream_and_through_the_edge() -> TestResult {
    let upstream = crate::forward::tests::start_echo(false).await?;
    let store = Inspector::default();
    let up = Upstream::parse(&upstream.to_string(), EndpointKind::Http)?;
    let fwd = HttpForwarder::new("web", up, HttpOptions::default(), Some(store.clone()))?;
    let edge = fake_edge(fwd.clone()).await?;
    store.record(exchange("00000000000000aa", "web", 3));
    let api = InspectApi::new(store.clone(), ApiOptions::default());
    let mut endpoint = info("web", &fwd.upstream().to_string());
    endpoint.url = format!("http://127.0.0.1:{edge}");
    api.add_endpoint(endpoint, Some(fwd));
    let port = start(&api).await?;
    let url = "/api/requests/http/00000000000000aa/replay";

    let edit = r#"{"method":"PUT","path":"/edited","query":[["k","v 1"]],
                   "headers":[["X-Edited","yes"],["Host","a.localhost"]],"body":"changed"}"#;
    let (s, b) = raw(port, "POST", url, &[HOST, JSON], edit).await?;
    let v: Value = serde_json::from_str(&b)?;
    assert_eq!((s, v["status_code"].as_u64()), (200, Some(200)), "{b}");
    let id = v["id"].as_str().ok_or("no id")?.to_string();
    let replayed = store.get(&id).ok_or("not recorded")?;
    assert_eq!(replayed.request.uri, "/edited?k=v+1");
    assert_eq!(
        replayed.replay.as_ref().map(|m| (m.of.as_str(), m.via)),
        Some(("00000000000000aa", super::live::ReplayVia::Upstream))
    );
    let echoed = replayed
        .response
        .as_ref()
        .map(|r| r.body.clone())
        .unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&echoed),
        "PUT /edited?k=v+1 host=a.localhost version=HTTP/1.1 body=changed"
    );

    // Through the edge: the request comes back through the forwarder, which knows it by its
    // nonce, removes the header and records it as a replay.
    let (s, b) = raw(port, "POST", url, &[HOST, JSON], r#"{"target":"edge"}"#).await?;
    let v: Value = serde_json::from_str(&b)?;
    assert_eq!((s, v["status_code"].as_u64()), (200, Some(200)), "{b}");
    assert_eq!(v["target"], "edge");
    let echoed = v["edge_response"]["body"].as_str().unwrap_or_default();
    assert!(
        echoed.starts_with("POST /x?y=1 host=127.0.0.1:"),
        "{echoed}"
    );
    let id = v["id"].as_str().ok_or("edge replay not recorded")?;
    let replayed = store.get(id).ok_or("not stored")?;
    assert_eq!(
        replayed.replay.as_ref().map(|m| m.via),
        Some(super::live::ReplayVia::Edge)
    );
    assert!(
        !replayed
            .request
            .headers
            .iter()
            .any(|(k, _)| k == crate::forward::REPLAY_HEADER)
    );

    // Bad edits are refused before anything is sent, naming the part.
    let before = store.len();
    let (s, b) = raw(port, "POST", url, &[HOST, JSON], r#"{"path":"no-slash"}"#).await?;
    let v: Value = serde_json::from_str(&b)?;
    assert_eq!((s, v["field"].as_str()), (400, Some("path")));
    let (s, _) = raw(
        port,
        "POST",
        url,
        &[HOST, JSON],
        r#"{"tunnel_name":"gone"}"#,
    )
    .await?;
    assert_eq!(s, 400);
    let (s, _) = raw(port, "POST", url, &[HOST, JSON], r#"{"bogus":1}"#).await?;
    assert_eq!(s, 400);
    let missing = "/api/requests/http/nope/replay";
    assert_eq!(
        raw(port, "POST", missing, &[HOST, JSON], "{}").await?.0,
        404
    );
    // The guards hold for the new routes.
    let cross = [HOST, JSON, ("origin", "http://evil.example")];
    assert_eq!(raw(port, "POST", url, &cross, "{}").await?.0, 403);
    let form = [HOST, ("content-type", "text/plain")];
    assert_eq!(raw(port, "POST", url, &form, "{}").await?.0, 415);
    assert_eq!(store.len(), before);
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

/// An upstream answering with the trailers it got, as `name=value` lines.
async fn trailer_upstream() -> Result<u16, BoxError> {
    use http_body_util::BodyExt;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let collected = req.into_body().collect().await;
                        let text = collected
                            .ok()
                            .and_then(|c| c.trailers().cloned())
                            .map(|t| {
                                t.iter()
                                    .map(|(k, v)| {
                                        format!("{k}={}", String::from_utf8_lossy(v.as_bytes()))
                                    })
                                    .collect::<Vec<_>>()
                                    .join("\n")
                            })
                            .unwrap_or_default();
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(Bytes::from(text)),
                        ))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(port)
}

#[tokio::test]
async fn replay_with_trailers_reaches_the_upstream() -> TestResult {
    let upstream = trailer_upstream().await?;
    let store = Inspector::default();
    let up = Upstream::parse(&upstream.to_string(), EndpointKind::Http)?;
    let fwd = HttpForwarder::new("web", up, HttpOptions::default(), Some(store.clone()))?;
    store.record(exchange("00000000000000bb", "web", 3));
    let api = InspectApi::new(store.clone(), ApiOptions::default());
    api.add_endpoint(info("web", &fwd.upstream().to_string()), Some(fwd));
    let port = start(&api).await?;
    let url = "/api/requests/http/00000000000000bb/replay";
    let edit = r#"{"trailers":[["x-checksum","abc"]],"body":"payload"}"#;
    let (s, b) = raw(port, "POST", url, &[HOST, JSON], edit).await?;
    let v: Value = serde_json::from_str(&b)?;
    assert_eq!(s, 200, "{b}");
    let id = v["id"].as_str().ok_or("no id")?;
    let replayed = store.get(id).ok_or("not recorded")?;
    let answer = replayed
        .response
        .as_ref()
        .map(|r| r.body.clone())
        .unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&answer), "x-checksum=abc");
    Ok(())
}
