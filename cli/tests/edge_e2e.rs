//! End-to-end tests of `sluice edge`: the real binary on loopback ports, a hyper echo upstream
//! started here, and a real HTTP/1.1 client.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

const BIG: usize = 5 * 1024 * 1024;

/// The body `/big` streams: 5 MiB of a repeating pattern.
fn big_body() -> Vec<u8> {
    (0..BIG)
        .map(|i| b"sluice-edge-0123456789\n"[i % 23])
        .collect()
}

type EchoBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// An echo upstream: answers with JSON describing the request. `/big` streams 5 MiB in 64 KiB
/// chunks; `/error-header` also sets `sluice-error-code` as a misbehaving upstream would.
async fn echo(req: Request<Incoming>) -> Result<Response<EchoBody>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    if path == "/big" {
        let body = Chunks(
            big_body()
                .chunks(64 * 1024)
                .map(Bytes::copy_from_slice)
                .collect(),
        );
        return Ok(Response::builder()
            .header("content-type", "text/plain")
            .body(BodyExt::boxed(body))
            .unwrap_or_default());
    }
    let method = req.method().to_string();
    let version = format!("{:?}", req.version());
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in req.headers() {
        headers
            .entry(k.as_str().to_string())
            .or_default()
            .push(v.to_str().unwrap_or("").to_string());
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json = serde_json::json!({
        "method": method,
        "version": version,
        "path": pq,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut resp = Response::builder().header("content-type", "application/json");
    if path == "/error-header" {
        resp = resp.header("sluice-error-code", "ERR_SLUICE_9999");
    }
    Ok(resp
        .body(BodyExt::boxed(Full::new(Bytes::from(json.to_string()))))
        .unwrap_or_default())
}

/// A body that yields ready chunks one frame at a time (a streamed, chunked response).
struct Chunks(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

/// Starts the echo upstream on a free port.
async fn start_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("echo addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(echo))
                    .await;
            });
        }
    });
    addr
}

/// Starts the echo upstream speaking HTTP/2 without TLS (h2c, prior knowledge).
async fn start_echo_h2c() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("echo addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service_fn(echo))
                        .await;
            });
        }
    });
    addr
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn scratch_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-edge-e2e-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A running `sluice edge`, killed on drop.
struct Edge {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Edge {
    /// Writes `config` (with `{PORT}` and `{DIR}` filled in) and starts the edge on it,
    /// returning once its port accepts connections.
    async fn start(config: &str) -> Edge {
        let dir = scratch_dir();
        let port = free_port();
        let text = config
            .replace("{PORT}", &port.to_string())
            .replace("{DIR}", &dir.display().to_string());
        let path = dir.join("edge.yml");
        std::fs::write(&path, text).expect("write config");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("edge")
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sluice edge");
        let mut edge = Edge { child, port, dir };
        for _ in 0..200 {
            if let Ok(Some(status)) = edge.child.try_wait() {
                panic!("sluice edge exited early: {status}");
            }
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return edge;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sluice edge did not listen on {port} within 10 s");
    }

    fn events(&self) -> String {
        std::fs::read_to_string(self.dir.join("events.jsonl")).unwrap_or_default()
    }
}

struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One request on a fresh HTTP/1.1 connection.
async fn send(
    port: u16,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect edge");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let resp = sender.send_request(req).await.expect("send request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

fn config(echo: SocketAddr, down: u16) -> String {
    format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{PORT}}
events:
  output: {{DIR}}/events.jsonl
endpoints:
  - url: http://app.localhost:{{PORT}}
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: add-headers
              config:
                headers:
                  x-endpoint: exact
            - type: log
              config:
                metadata:
                  marker: edge-e2e-log
  - url: http://*.localhost:{{PORT}}
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: add-headers
              config:
                headers:
                  x-endpoint: wide
  - url: http://*.deep.localhost:{{PORT}}
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: add-headers
              config:
                headers:
                  x-endpoint: deep
  - url: http://teapot.example:{{PORT}}
    upstream:
      url: http://127.0.0.1:{down}
    traffic_policy:
      on_http_request:
        - actions:
            - type: custom-response
              config:
                status_code: 418
                body: short and stout
  - url: http://down.example:{{PORT}}
    upstream:
      url: http://127.0.0.1:{down}
  - url: http://gz.example:{{PORT}}
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_response:
        - actions:
            - type: compress-response
              config:
                algorithms: [gzip]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_routes_runs_policies_and_reports_errors() {
    let echo = start_echo().await;
    let down = free_port();
    let edge = Edge::start(&config(echo, down)).await;
    let port = edge.port;

    // Routing: exact beats wildcard; the most specific wildcard wins. add-headers reaches the
    // upstream, and the forwarding headers are added (X-Forwarded-For appended).
    let r = send(
        port,
        "GET",
        "app.localhost",
        "/a?b=c",
        &[("x-forwarded-for", "198.51.100.1")],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["path"], "/a?b=c");
    assert_eq!(j["headers"]["x-endpoint"][0], "exact");
    assert_eq!(
        j["headers"]["x-forwarded-for"][0],
        "198.51.100.1, 127.0.0.1"
    );
    assert_eq!(j["headers"]["x-forwarded-proto"][0], "http");
    assert_eq!(j["headers"]["x-forwarded-host"][0], "app.localhost");
    let r = send(
        port,
        "GET",
        &format!("other.localhost:{port}"),
        "/",
        &[],
        "",
    )
    .await;
    assert_eq!(r.json()["headers"]["x-endpoint"][0], "wide");
    let r = send(port, "GET", "x.deep.localhost", "/", &[], "").await;
    assert_eq!(r.json()["headers"]["x-endpoint"][0], "deep");
    let r = send(port, "GET", "deep.localhost", "/", &[], "").await;
    assert_eq!(r.json()["headers"]["x-endpoint"][0], "wide");
    assert_eq!(r.json()["headers"]["x-forwarded-for"][0], "127.0.0.1");

    // A request body goes through.
    let r = send(
        port,
        "POST",
        "app.localhost",
        "/post",
        &[],
        "hello upstream",
    )
    .await;
    assert_eq!(r.json()["method"], "POST");
    assert_eq!(r.json()["body"], "hello upstream");

    // custom-response answers at the edge; the (down) upstream is never called.
    let r = send(port, "GET", "teapot.example", "/", &[], "").await;
    assert_eq!(r.status, 418);
    assert_eq!(&r.body[..], b"short and stout");

    // Unknown host: 404 with the code header; HTML for browsers.
    let r = send(port, "GET", "nope.example", "/", &[], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3200"));
    assert!(String::from_utf8_lossy(&r.body).contains("ERR_SLUICE_3200"));
    let r = send(
        port,
        "GET",
        "nope.example",
        "/",
        &[("accept", "text/html")],
        "",
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(String::from_utf8_lossy(&r.body).contains("<html>"));

    // Upstream down: 502 with the code header.
    let r = send(port, "GET", "down.example", "/", &[], "").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3005"));

    // An upstream cannot set the edge's error header.
    let r = send(port, "GET", "app.localhost", "/error-header", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("sluice-error-code"), None);

    // compress-response streams a 5 MiB body as gzip that decodes to the original.
    let r = send(
        port,
        "GET",
        "gz.example",
        "/big",
        &[("accept-encoding", "gzip")],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.header("content-length").is_none());
    assert!(r.body.len() < BIG / 10, "compressed size {}", r.body.len());
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut decoded)
        .expect("gunzip");
    assert_eq!(decoded.len(), BIG);
    assert!(decoded == big_body(), "decoded body differs");
    // Without Accept-Encoding it passes through unchanged.
    let r = send(port, "GET", "gz.example", "/big", &[], "").await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body.len(), BIG);

    // Events: one JSON line per request, with the log action's metadata.
    let mut found = false;
    for _ in 0..100 {
        let events = edge.events();
        if events.contains("edge-e2e-log") {
            found = true;
            for line in events.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("event is JSON");
                assert!(
                    v["event_type"] == "http_request_complete.v0"
                        || v["event_type"] == "tcp_connection_closed.v0",
                    "{v}"
                );
            }
            assert!(events.contains("ERR_SLUICE_3200"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "no event with the log metadata: {}", edge.events());
}

#[test]
fn invalid_config_exits_1_with_line_and_column() {
    let dir = scratch_dir();
    let path = dir.join("edge.yml");
    std::fs::write(
        &path,
        "version: 1\nlisteners:\n  http: 127.0.0.1:1\nendpoints:\n  - url: http://a.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n      colour: blue\n  - url: http://b.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["edge", "--config"])
        .arg(&path)
        .output()
        .expect("run sluice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("edge.yml:8:"), "{stderr}");
    assert!(stderr.contains("colour"), "{stderr}");

    // A policy error inside the config is located too.
    std::fs::write(
        &path,
        "version: 1\nlisteners:\n  http: 127.0.0.1:1\nendpoints:\n  - url: http://a.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n    traffic_policy:\n      on_http_request:\n        - expressions: [\"req.nope == 1\"]\n          actions:\n            - type: deny\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["edge", "--config"])
        .arg(&path)
        .output()
        .expect("run sluice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("edge.yml:10:"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes a raw request and reads until the edge closes the connection (bounded by 5 s).
async fn raw(port: u16, request: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect edge");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the edge did not close the connection");
    out
}

fn body_config(echo: SocketAddr, echo_h2c: SocketAddr) -> String {
    let ep = |host: &str, policy: &str| {
        format!(
            "  - url: http://{host}:{{PORT}}\n    upstream:\n      url: http://{echo}\n    traffic_policy:\n{policy}"
        )
    };
    let mut c = String::from(
        "version: 1\nlisteners:\n  http: 127.0.0.1:{PORT}\nevents:\n  output: {DIR}/events.jsonl\nendpoints:\n",
    );
    c += &ep(
        "hook.example",
        "      on_http_request:\n        - actions:\n            - type: verify-webhook\n              config:\n                provider: gitlab\n                secret: s3cret\n",
    );
    c += &ep(
        "lax.example",
        "      on_http_request:\n        - actions:\n            - type: verify-webhook\n              config:\n                provider: gitlab\n                secret: s3cret\n                enforce: false\n",
    );
    c += &ep(
        "rb.example",
        "      on_http_request:\n        - actions:\n            - type: request-body-find-replace\n              config:\n                replacements:\n                  - from: cat\n                    to: dog\n",
    );
    c += &ep(
        "resp.example",
        "      on_http_response:\n        - actions:\n            - type: response-body-find-replace\n              config:\n                replacements:\n                  - from: '\"GET\"'\n                    to: '\"TEG\"'\n",
    );
    c += &ep(
        "swap.example",
        "      on_http_response:\n        - actions:\n            - type: custom-response\n              config:\n                status_code: 203\n                body: replaced at the edge\n",
    );
    c += &ep(
        "close.example",
        "      on_http_request:\n        - actions:\n            - type: close-connection\n",
    );
    c += &format!(
        "  - url: http://h2c.example:{{PORT}}\n    upstream:\n      url: http://{echo_h2c}\n      protocol: http2\n"
    );
    c += &ep(
        "tcpdeny.example",
        "      on_tcp_connect:\n        - actions:\n            - type: restrict-ips\n              config:\n                deny: [127.0.0.0/8]\n",
    );
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_bodies_response_phase_and_closing() {
    let echo = start_echo().await;
    let echo_h2c = start_echo_h2c().await;
    let edge = Edge::start(&body_config(echo, echo_h2c)).await;
    let port = edge.port;

    // verify-webhook reads the whole body in the request phase; it is still forwarded.
    let r = send(
        port,
        "POST",
        "hook.example",
        "/hook",
        &[("x-gitlab-token", "s3cret")],
        "{\"event\":1}",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["body"], "{\"event\":1}");
    let r = send(
        port,
        "POST",
        "hook.example",
        "/hook",
        &[("x-gitlab-token", "wrong")],
        "{}",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3204"));
    // A body past what the edge can hold for an action: the action sees TooLarge; when it lets
    // the request through anyway, the edge cannot forward a half-read body and answers 413.
    let big = "x".repeat(200 * 1024);
    let r = send(
        port,
        "POST",
        "lax.example",
        "/hook",
        &[("x-gitlab-token", "s3cret")],
        &big,
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3904"));
    // Within the limit it goes through with enforce: false too.
    let r = send(
        port,
        "POST",
        "lax.example",
        "/hook",
        &[("x-gitlab-token", "s3cret")],
        "small",
    )
    .await;
    assert_eq!(r.json()["body"], "small");

    // Request body rewritten as it streams (also across a 300 KiB body).
    let r = send(port, "POST", "rb.example", "/", &[], "a cat and a cat").await;
    assert_eq!(r.json()["body"], "a dog and a dog");
    let long = "cat ".repeat(75 * 1024);
    let r = send(port, "POST", "rb.example", "/", &[], &long).await;
    let got = r.json()["body"].as_str().unwrap_or("").to_string();
    assert_eq!(got.len(), long.len(), "rewritten body length");
    assert!(got == "dog ".repeat(75 * 1024), "rewritten body differs");

    // Response body rewritten from the upstream's.
    let r = send(port, "GET", "resp.example", "/x", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["method"], "TEG");

    // A response-phase custom-response replaces the upstream's response.
    let r = send(port, "GET", "swap.example", "/", &[], "").await;
    assert_eq!(r.status, 203);
    assert_eq!(&r.body[..], b"replaced at the edge");

    // close-connection (request phase) and restrict-ips (on_tcp_connect): no response at all.
    let out = raw(port, "GET / HTTP/1.1\r\nHost: close.example\r\n\r\n").await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    let out = raw(port, "GET / HTTP/1.1\r\nHost: tcpdeny.example\r\n\r\n").await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));

    // upstream.protocol: http2 speaks h2c to the upstream; the body streams through.
    let r = send(port, "POST", "h2c.example", "/h2", &[], "over h2c").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], "HTTP/2.0");
    assert_eq!(r.json()["body"], "over h2c");
    assert_eq!(r.json()["headers"]["x-forwarded-for"][0], "127.0.0.1");

    // Keep-alive: requests for two endpoints on one connection, all answered (the connection's
    // policy state is carried from request to request).
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect edge");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    for (host, path) in [
        ("resp.example", "/one"),
        ("rb.example", "/two"),
        ("resp.example", "/three"),
    ] {
        let req = Request::builder()
            .uri(path)
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .expect("request");
        sender.ready().await.expect("connection kept alive");
        let resp = sender.send_request(req).await.expect("keep-alive request");
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let j: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(j["path"], path);
    }
}
