//! End-to-end tests of `sluice edge` listeners and connection handling: HTTPS (development CA,
//! configured exact and wildcard certificates, HTTP/2 by ALPN), the admin listener, reload,
//! hop-by-hop headers, websockets, server-sent events, header limits and timeouts, and
//! `tcp_connection_closed.v0` events. The real binary on loopback ports, real clients; waits
//! are bounded polls, never sleeps that a result depends on.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// A body that sends `first`, waits for `gate`, then sends `last` and ends.
struct Gated {
    first: Option<Bytes>,
    gate: Option<oneshot::Receiver<()>>,
    last: Option<Bytes>,
}

impl hyper::body::Body for Gated {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        use std::future::Future;
        if let Some(b) = self.first.take() {
            return std::task::Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if let Some(g) = self.gate.as_mut() {
            if std::pin::Pin::new(g).poll(cx).is_pending() {
                return std::task::Poll::Pending;
            }
            self.gate = None;
        }
        std::task::Poll::Ready(self.last.take().map(|b| Ok(Frame::data(b))))
    }
}

type Gate = Arc<Mutex<Option<oneshot::Receiver<()>>>>;

/// Echo upstream: JSON describing the request; `/hop` also answers with hop-by-hop headers;
/// `/sse` streams one event, waits for the test's gate, then a second event.
async fn echo(
    req: Request<Incoming>,
    gate: Gate,
) -> Result<Response<BoxBody>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    if path == "/sse" {
        let g = gate.lock().ok().and_then(|mut g| g.take());
        let body = Gated {
            first: Some(Bytes::from_static(b"data: one\n\n")),
            gate: g,
            last: Some(Bytes::from_static(b"data: two\n\n")),
        };
        return Ok(Response::builder()
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(BodyExt::boxed(body))
            .unwrap_or_default());
    }
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in req.headers() {
        headers
            .entry(k.as_str().to_string())
            .or_default()
            .push(v.to_str().unwrap_or("").to_string());
    }
    let json = serde_json::json!({
        "method": req.method().to_string(),
        "version": format!("{:?}", req.version()),
        "path": req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        "headers": headers,
    });
    let mut resp = Response::builder().header("content-type", "application/json");
    if path == "/hop" {
        resp = resp
            .header("keep-alive", "timeout=99")
            .header("proxy-thing", "1")
            .header("x-end-to-end", "kept");
    }
    Ok(resp
        .body(BodyExt::boxed(Full::new(Bytes::from(json.to_string()))))
        .unwrap_or_default())
}

async fn start_echo() -> (SocketAddr, Gate) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("echo addr");
    let gate: Gate = Arc::new(Mutex::new(None));
    let g = gate.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let g = g.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        TokioIo::new(stream),
                        service_fn(move |r| echo(r, g.clone())),
                    )
                    .await;
            });
        }
    });
    (addr, gate)
}

/// A websocket echo upstream.
async fn start_ws_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind ws");
    let addr = listener.local_addr().expect("ws addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
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
        "sluice-edge-serve-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes a file whole (rename), so a watcher never reads half of it.
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write tmp");
    std::fs::rename(&tmp, path).expect("rename");
}

/// A running `sluice edge`, killed on drop.
struct Edge {
    child: Child,
    http: u16,
    https: u16,
    admin: u16,
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
    fn render(&self, config: &str) -> String {
        config
            .replace("{HTTP}", &self.http.to_string())
            .replace("{HTTPS}", &self.https.to_string())
            .replace("{ADMIN}", &self.admin.to_string())
            .replace("{DIR}", &self.dir.display().to_string())
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("edge.yml")
    }

    /// Starts the edge on `config` (`{HTTP}`, `{HTTPS}`, `{ADMIN}`, `{DIR}` filled in) in
    /// `dir`, returning once every listener the config names accepts connections.
    async fn start_in(dir: PathBuf, config: &str) -> Edge {
        let (http, https, admin) = (free_port(), free_port(), free_port());
        let path = dir.join("edge.yml");
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("stderr file");
        let mut edge = Edge {
            child: Command::new(env!("CARGO_BIN_EXE_sluice"))
                .arg("--version")
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn sluice"),
            http,
            https,
            admin,
            dir,
        };
        let _ = edge.child.wait();
        std::fs::write(&path, edge.render(config)).expect("write config");
        edge.child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("edge")
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn sluice edge");
        let mut ports = Vec::new();
        for (key, port) in [
            ("{HTTP}", edge.http),
            ("{HTTPS}", edge.https),
            ("{ADMIN}", edge.admin),
        ] {
            if config.contains(key) {
                ports.push(port);
            }
        }
        for port in ports {
            let mut up = false;
            for _ in 0..200 {
                if let Ok(Some(status)) = edge.child.try_wait() {
                    panic!("sluice edge exited early: {status}\n{}", edge.stderr());
                }
                if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(up, "sluice edge did not listen on {port} within 10 s");
        }
        edge
    }

    async fn start(config: &str) -> Edge {
        Edge::start_in(scratch_dir(), config).await
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("event is JSON"))
            .collect()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }
}

/// Polls `f` every 50 ms for up to 10 s until it returns `Some`.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

struct Reply {
    status: u16,
    version: http::Version,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn read_reply(resp: Response<Incoming>) -> Reply {
    let status = resp.status().as_u16();
    let version = resp.version();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    Reply {
        status,
        version,
        headers,
        body,
    }
}

type H1 = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn h1_conn(port: u16) -> H1 {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect edge");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

async fn h1_send(sender: &mut H1, host: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::builder().uri(path).header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    sender.ready().await.expect("connection ready");
    let resp = sender
        .send_request(req.body(Full::new(Bytes::new())).expect("request"))
        .await
        .expect("send request");
    read_reply(resp).await
}

async fn get(port: u16, host: &str, path: &str) -> Reply {
    let mut s = h1_conn(port).await;
    h1_send(&mut s, host, path, &[]).await
}

/// A TLS connection to the edge for `name`, trusting only `roots`, offering `alpn`.
async fn tls_connect(
    port: u16,
    name: &str,
    roots: &[CertificateDer<'static>],
    alpn: &[u8],
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, std::io::Error> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(store)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect edge");
    let server_name = ServerName::try_from(name.to_string()).expect("server name");
    connector.connect(server_name, tcp).await
}

async fn https_h1(port: u16, name: &str, roots: &[CertificateDer<'static>]) -> Reply {
    let tls = tls_connect(port, name, roots, b"http/1.1")
        .await
        .unwrap_or_else(|e| panic!("TLS to {name}: {e}"));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    h1_send(&mut sender, name, "/tls", &[]).await
}

fn pem_cert(text: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(text.as_bytes()).expect("PEM certificate")
}

/// A test CA and leaf certificates for `names`, written as PEM files in `dir`.
fn test_pki(dir: &Path) -> CertificateDer<'static> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "sluice test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    for (file, name) in [("exact", "exact.example"), ("wild", "*.wild.example")] {
        let key = KeyPair::generate().expect("leaf key");
        let mut p = CertificateParams::new(vec![name.to_string()]).expect("leaf params");
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.signed_by(&key, &issuer).expect("leaf cert");
        std::fs::write(dir.join(format!("{file}.pem")), cert.pem()).expect("write cert");
        std::fs::write(dir.join(format!("{file}-key.pem")), key.serialize_pem())
            .expect("write key");
    }
    ca_cert.der().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_dev_ca_configured_certs_and_h2() {
    let (echo, _) = start_echo().await;
    let dir = scratch_dir();
    let test_ca = test_pki(&dir);
    let config = format!(
        r#"version: 1
listeners:
  https: 127.0.0.1:{{HTTPS}}
state_dir: state
certificates:
  - names: [exact.example]
    cert_file: exact.pem
    key_file: exact-key.pem
  - names: ["*.wild.example"]
    cert_file: wild.pem
    key_file: wild-key.pem
endpoints:
  - url: https://dev.localhost
    upstream:
      url: http://{echo}
  - url: https://exact.example
    upstream:
      url: http://{echo}
  - url: https://*.wild.example
    upstream:
      url: http://{echo}
"#
    );
    let edge = Edge::start_in(dir, &config).await;
    let ca_path = edge.dir.join("state").join("ca.pem");
    assert!(
        edge.stderr().contains(&ca_path.display().to_string()),
        "the CA path is printed: {}",
        edge.stderr()
    );
    let dev_ca = pem_cert(&std::fs::read_to_string(&ca_path).expect("dev CA file"));

    // No certificate configured: one from the development CA, verified against it.
    let r = https_h1(edge.https, "dev.localhost", std::slice::from_ref(&dev_ca)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["x-forwarded-proto"][0], "https");
    assert_eq!(r.json()["headers"]["host"][0], "dev.localhost");

    // SNI picks the configured certificates (they verify against the test CA only).
    let r = https_h1(edge.https, "exact.example", std::slice::from_ref(&test_ca)).await;
    assert_eq!(r.status, 200);
    let r = https_h1(edge.https, "a.wild.example", std::slice::from_ref(&test_ca)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["host"][0], "a.wild.example");
    // ...and not the dev CA's.
    assert!(
        tls_connect(
            edge.https,
            "exact.example",
            std::slice::from_ref(&dev_ca),
            b"http/1.1"
        )
        .await
        .is_err()
    );
    // The dev CA does not serve configured names' certificates for other names either.
    assert!(
        tls_connect(
            edge.https,
            "dev.localhost",
            std::slice::from_ref(&test_ca),
            b"http/1.1"
        )
        .await
        .is_err()
    );

    // HTTP/2 by ALPN, two streams on one connection.
    let tls = tls_connect(
        edge.https,
        "dev.localhost",
        std::slice::from_ref(&dev_ca),
        b"h2",
    )
    .await
    .expect("TLS h2");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake::<_, _, Full<Bytes>>(
        TokioExecutor::new(),
        TokioIo::new(tls),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    for path in ["/one", "/two"] {
        let req = Request::builder()
            .uri(format!("https://dev.localhost{path}"))
            .body(Full::new(Bytes::new()))
            .expect("request");
        let r = read_reply(sender.send_request(req).await.expect("h2 request")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.version, http::Version::HTTP_2);
        assert_eq!(r.json()["path"], path);
        assert_eq!(r.json()["headers"]["x-forwarded-proto"][0], "https");
    }
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

async fn scrape(port: u16, path: &str) -> (u16, String) {
    let r = get(port, "127.0.0.1", path).await;
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_healthz_and_metrics() {
    let (echo, _) = start_echo().await;
    let config = format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
  admin: 127.0.0.1:{{ADMIN}}
endpoints:
  - url: http://app.localhost
    upstream:
      url: http://{echo}
  - url: http://deny.localhost
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: custom-response
              config:
                status_code: 403
                body: no
"#
    );
    let edge = Edge::start(&config).await;
    let (status, body) = scrape(edge.admin, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (_, before) = scrape(edge.admin, "/metrics").await;
    assert!(before.contains("# TYPE sluice_http_requests_total counter"));
    assert_eq!(metric(&before, "sluice_bytes_in_total"), Some(0.0));

    assert_eq!(get(edge.http, "app.localhost", "/").await.status, 200);
    assert_eq!(get(edge.http, "app.localhost", "/").await.status, 200);
    assert_eq!(get(edge.http, "deny.localhost", "/").await.status, 403);
    assert_eq!(get(edge.http, "nope.localhost", "/").await.status, 404);

    let text = eventually("request counters", || async {
        let (_, text) = scrape(edge.admin, "/metrics").await;
        (metric(
            &text,
            "sluice_http_requests_total{endpoint=\"\",status=\"404\"}",
        ) == Some(1.0)
            && metric(
                &text,
                "sluice_http_requests_total{endpoint=\"ep_1\",status=\"403\"}",
            ) == Some(1.0)
            && metric(
                &text,
                "sluice_http_requests_total{endpoint=\"ep_0\",status=\"200\"}",
            ) == Some(2.0))
        .then_some(text)
    })
    .await;
    assert_eq!(
        metric(
            &text,
            "sluice_policy_responses_total{endpoint=\"ep_1\",status=\"403\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "sluice_http_request_duration_seconds_count{endpoint=\"ep_0\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &text,
            "sluice_http_request_duration_seconds_bucket{endpoint=\"ep_0\",le=\"+Inf\"}"
        ),
        Some(2.0)
    );
    assert!(metric(&text, "sluice_bytes_in_total").unwrap_or(0.0) > 0.0);
    assert!(metric(&text, "sluice_bytes_out_total").unwrap_or(0.0) > 0.0);
    assert!(metric(&text, "sluice_connections_total").unwrap_or(0.0) >= 4.0);

    // An open connection shows in the gauge.
    let mut held = h1_conn(edge.http).await;
    assert_eq!(
        h1_send(&mut held, "app.localhost", "/", &[]).await.status,
        200
    );
    eventually("open connection gauge", || async {
        let (_, text) = scrape(edge.admin, "/metrics").await;
        (metric(&text, "sluice_open_connections").unwrap_or(0.0) >= 1.0).then_some(())
    })
    .await;
    drop(held);
    eventually("gauge back to zero", || async {
        let (_, text) = scrape(edge.admin, "/metrics").await;
        (metric(&text, "sluice_open_connections") == Some(0.0)).then_some(())
    })
    .await;
}

fn reload_config(echo: SocketAddr, version: &str) -> String {
    format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
endpoints:
  - url: http://app.localhost
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: add-headers
              config:
                headers:
                  x-version: {version}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_on_sighup_swaps_policies_and_refuses_invalid_configs() {
    let (echo, _) = start_echo().await;
    let edge = Edge::start(&reload_config(echo, "one")).await;
    let version = |r: Reply| {
        r.json()["headers"]["x-version"][0]
            .as_str()
            .map(str::to_string)
    };
    // A keep-alive connection opened before the reload.
    let mut held = h1_conn(edge.http).await;
    let r = h1_send(&mut held, "app.localhost", "/", &[]).await;
    assert_eq!(version(r).as_deref(), Some("one"));

    write_atomic(
        &edge.config_path(),
        &edge.render(&reload_config(echo, "two")),
    );
    edge.signal(libc::SIGHUP);
    eventually("the new policy", || async {
        (version(get(edge.http, "app.localhost", "/").await).as_deref() == Some("two"))
            .then_some(())
    })
    .await;
    // The connection opened before the reload still serves, with the new policy.
    let r = h1_send(&mut held, "app.localhost", "/", &[]).await;
    assert_eq!(version(r).as_deref(), Some("two"));

    // An invalid config is refused, with line:column, and the running one keeps serving.
    let bad = edge.render(&reload_config(echo, "three")).replace(
        "            - type: add-headers",
        "            - type: add-headerz",
    );
    write_atomic(&edge.config_path(), &bad);
    edge.signal(libc::SIGHUP);
    let stderr = eventually("the refusal on stderr", || async {
        let s = edge.stderr();
        s.contains("refused").then_some(s)
    })
    .await;
    assert!(stderr.contains("edge.yml:11:"), "{stderr}");
    assert!(stderr.contains("add-headerz"), "{stderr}");
    let r = get(edge.http, "app.localhost", "/").await;
    assert_eq!(version(r).as_deref(), Some("two"));
    let r = h1_send(&mut held, "app.localhost", "/", &[]).await;
    assert_eq!(version(r).as_deref(), Some("two"));

    // A change to the file alone (no signal) is picked up too.
    write_atomic(
        &edge.config_path(),
        &edge.render(&reload_config(echo, "four")),
    );
    eventually("the file-change reload", || async {
        (version(get(edge.http, "app.localhost", "/").await).as_deref() == Some("four"))
            .then_some(())
    })
    .await;
}

/// Writes `request` on a raw connection and reads until the edge closes it (bounded).
async fn raw_until_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the edge did not close the connection");
    out
}

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
    let mut got = Vec::new();
    while !got.windows(9).any(|w| w == b"data: one") {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("first event before the upstream finished")
            .expect("stream open")
            .expect("frame");
        if let Ok(d) = frame.into_data() {
            got.extend_from_slice(&d);
        }
    }
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
    let mut raw = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect edge");
    raw.write_all(b"GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
        .await
        .expect("write request");
    let out = raw_until_close(&mut raw).await;
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
