//! End-to-end tests of the edge's HTTP/2 limits: the request header limit is the same 1 MiB as
//! HTTP/1 (a header list over it is answered `431` on its stream, and the connection goes on),
//! and request bodies get flow-control windows large enough for uploads over real networks.

mod support;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpStream;

use support::{Edge, read_reply, start_echo, tls_connect};

/// A GET with `n` headers of 50 000 bytes each.
fn big_request(n: usize) -> Request<Empty<Bytes>> {
    let filler = "a".repeat(50_000);
    let mut req = Request::builder().uri("https://app.localhost/big-headers");
    for i in 0..n {
        req = req.header(format!("x-filler-{i}"), filler.as_str());
    }
    req.body(Empty::new()).expect("request")
}

/// A TLS connection to the edge's https listener offering only `h2`.
async fn tls_to_edge(edge: &Edge) -> tokio_rustls::client::TlsStream<TcpStream> {
    let ca_pem = std::fs::read(edge.dir.join("state").join("ca.pem")).expect("dev CA");
    let ca = CertificateDer::from_pem_slice(&ca_pem).expect("dev CA certificate");
    tls_connect(edge.https, "app.localhost", &[ca], b"h2")
        .await
        .expect("TLS to the edge")
}

fn https_config(echo: std::net::SocketAddr) -> String {
    format!(
        r#"version: 1
listeners:
  https: 127.0.0.1:{{HTTPS}}
state_dir: state
endpoints:
  - url: https://app.localhost
    upstream:
      url: http://{echo}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_request_headers_have_the_http1_limit() {
    let (echo, _) = start_echo().await;
    let edge = Edge::start(&https_config(echo)).await;
    let stream = tls_to_edge(&edge).await;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);

    // 200 KB of headers: over Pingora's HTTP/2 default (64 KiB), under the edge's 1 MiB.
    let r = read_reply(sender.send_request(big_request(4)).await.expect("request")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.version, http::Version::HTTP_2);
    assert_eq!(
        r.json()["headers"]["x-filler-3"][0].as_str().map(str::len),
        Some(50_000)
    );

    // 1.2 MB of headers: refused on its stream with 431.
    let r = read_reply(sender.send_request(big_request(24)).await.expect("request")).await;
    assert_eq!(r.status, 431);

    // The connection still serves.
    let req = Request::builder()
        .uri("https://app.localhost/after")
        .body(Empty::new())
        .expect("request");
    let r = read_reply(sender.send_request(req).await.expect("request")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_request_bodies_get_a_one_mib_window() {
    let (echo, _) = start_echo().await;
    let edge = Edge::start(&https_config(echo)).await;
    let stream = tls_to_edge(&edge).await;
    // (A send buffer above the window, so that only the edge's window limits the capacity.)
    let (client, conn) = h2::client::Builder::new()
        .max_send_buffer_size(4 << 20)
        .handshake::<_, Bytes>(stream)
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    let mut client = client.ready().await.expect("h2 ready");
    let req = Request::builder()
        .method("POST")
        .uri("https://app.localhost/upload")
        .body(())
        .expect("request");
    let (_response, mut body) = client.send_request(req, false).expect("open stream");
    // Before a single body byte is sent, the window the edge advertises is all the capacity
    // there is: h2's default would stop at 65 535 bytes here.
    let want = 1 << 20;
    body.reserve_capacity(want);
    let granted = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while body.capacity() < want {
            match std::future::poll_fn(|cx| body.poll_capacity(cx)).await {
                Some(Ok(_)) => {}
                other => panic!("stream capacity: {other:?}"),
            }
        }
        body.capacity()
    })
    .await
    .unwrap_or_else(|_| panic!("only {} bytes of window granted", body.capacity()));
    assert_eq!(granted, want);
    body.send_data(Bytes::from_static(b"done"), true)
        .expect("end the body");
}
