//! End-to-end test of bulk transfers through the edge: 1 GiB down and 1 GiB up, over HTTP/1.1
//! and over HTTP/2 with TLS, streamed (generated and hashed on the fly at both ends) and
//! checked by SHA-256, while the edge's resident memory is sampled: a proxy that buffered
//! bodies would break the bound.

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpStream;

use support::{
    Edge, Generated, RssSampler, eventually, expected_sha256, h2_tls, hash_body, hex, sha256,
    start_bulk,
};

/// Bytes each way.
const GIB: u64 = 1 << 30;
/// The edge's resident memory must stay under this while transferring (a buffering proxy
/// would hold a large part of the 1 GiB body).
const RSS_BOUND: u64 = 200 << 20;

type Hash = Arc<Mutex<ring::digest::Context>>;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Runs `transfer` while sampling the edge's memory; (peak RSS, seconds) for the report.
async fn measured<F: Future<Output = ()>>(edge: &Edge, transfer: F) -> (u64, f64) {
    let sampler = RssSampler::start(edge.pid());
    let started = Instant::now();
    transfer.await;
    let secs = started.elapsed().as_secs_f64();
    (sampler.finish(), secs)
}

/// Checks a download's response: 1 GiB, announced by length, hashing to `expected`.
async fn check_download(resp: hyper::Response<Incoming>, expected: &str) {
    assert_eq!(resp.status(), 200);
    let length = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert_eq!(length, Some(GIB.to_string()));
    let (n, got) = hash_body(resp.into_body()).await;
    assert_eq!(n, GIB);
    assert_eq!(got, expected);
}

/// Checks an upload's response: the upstream received exactly what was sent.
async fn check_upload(resp: hyper::Response<Incoming>, sent: Hash) {
    assert_eq!(resp.status(), 200);
    let reply = support::read_reply(resp).await;
    let sent = Arc::try_unwrap(sent)
        .ok()
        .expect("the body is done with the hash")
        .into_inner()
        .expect("hash");
    assert_eq!(
        String::from_utf8_lossy(&reply.body),
        format!("{GIB} {}", hex(sent))
    );
}

fn download_request<B>(uri: String, body: B) -> Request<B> {
    Request::builder()
        .uri(uri)
        .header("host", "bulk.localhost")
        .body(body)
        .expect("request")
}

fn upload_request(uri: String, sent: &Hash) -> Request<Generated> {
    Request::builder()
        .method("POST")
        .uri(uri)
        .header("host", "bulk.localhost")
        .header("content-type", "application/octet-stream")
        .body(Generated::hashed(GIB, sent.clone()))
        .expect("request")
}

async fn h1<B>(port: u16) -> hyper::client::conn::http1::SendRequest<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect edge");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_down_and_up_streamed_with_bounded_edge_memory() {
    let bulk = start_bulk().await;
    let config = format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
  https: 127.0.0.1:{{HTTPS}}
state_dir: state
events:
  output: events.jsonl
endpoints:
  - url: http://bulk.localhost
    upstream:
      url: http://{bulk}
  - url: https://bulk.localhost
    upstream:
      url: http://{bulk}
"#
    );
    let edge = Edge::start(&config).await;
    let ca_pem = std::fs::read(edge.dir.join("state").join("ca.pem")).expect("dev CA");
    let ca = CertificateDer::from_pem_slice(&ca_pem).expect("dev CA certificate");
    let expected = tokio::task::spawn_blocking(|| expected_sha256(GIB))
        .await
        .expect("expected hash");
    let rss_before = support::rss_bytes(edge.pid()).unwrap_or(0);
    let mut report = vec![format!("edge RSS before: {:.1} MiB", mib(rss_before))];
    let mut peaks = Vec::new();

    // HTTP/1.1 download: the upstream generates 1 GiB; the client hashes it as it arrives.
    let (peak, secs) = measured(&edge, async {
        let mut s = h1(edge.http).await;
        let req = download_request(format!("/bytes/{GIB}"), Empty::<Bytes>::new());
        check_download(s.send_request(req).await.expect("download"), &expected).await;
    })
    .await;
    report.push(format!(
        "HTTP/1.1 download: peak {:.1} MiB, {secs:.1} s",
        mib(peak)
    ));
    peaks.push(peak);

    // HTTP/1.1 upload: the client generates 1 GiB, hashing what it sends; the upstream
    // hashes what it receives and answers "<bytes> <sha256>".
    let (peak, secs) = measured(&edge, async {
        let sent = sha256();
        let mut s = h1(edge.http).await;
        let req = upload_request("/sha256".to_string(), &sent);
        check_upload(s.send_request(req).await.expect("upload"), sent).await;
    })
    .await;
    report.push(format!(
        "HTTP/1.1 upload: peak {:.1} MiB, {secs:.1} s",
        mib(peak)
    ));
    peaks.push(peak);

    // The same over HTTP/2 with TLS (the edge speaks HTTP/1.1 to the upstream).
    let (peak, secs) = measured(&edge, async {
        let mut s = h2_tls(edge.https, "bulk.localhost", &ca).await;
        let req = download_request(
            format!("https://bulk.localhost/bytes/{GIB}"),
            Empty::<Bytes>::new(),
        );
        check_download(s.send_request(req).await.expect("h2 download"), &expected).await;
    })
    .await;
    report.push(format!(
        "HTTP/2+TLS download: peak {:.1} MiB, {secs:.1} s",
        mib(peak)
    ));
    peaks.push(peak);
    let (peak, secs) = measured(&edge, async {
        let sent = sha256();
        let mut s = h2_tls(edge.https, "bulk.localhost", &ca).await;
        let req = upload_request("https://bulk.localhost/sha256".to_string(), &sent);
        check_upload(s.send_request(req).await.expect("h2 upload"), sent).await;
    })
    .await;
    report.push(format!(
        "HTTP/2+TLS upload: peak {:.1} MiB, {secs:.1} s",
        mib(peak)
    ));
    peaks.push(peak);

    let report = report.join("; ");
    eprintln!("{report}");
    assert!(peaks.iter().all(|p| *p < RSS_BOUND), "{report}");
    // The edge recorded every exchange with its size.
    eventually("four bulk events", || {
        let n = edge
            .events()
            .iter()
            .filter(|e| e["object"]["http"]["request"]["host"] == "bulk.localhost")
            .count();
        async move { (n == 4).then_some(()) }
    })
    .await;
}
