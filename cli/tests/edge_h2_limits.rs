//! End-to-end test of the request header limit over HTTP/2: the same 1 MiB as HTTP/1 (a
//! header list over it is answered `431` on its stream, and the connection goes on).

mod support;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpStream;

use support::{Edge, read_reply, start_echo};

/// A GET with `n` headers of 50 000 bytes each.
fn big_request(n: usize) -> Request<Empty<Bytes>> {
    let filler = "a".repeat(50_000);
    let mut req = Request::builder().uri("https://app.localhost/big-headers");
    for i in 0..n {
        req = req.header(format!("x-filler-{i}"), filler.as_str());
    }
    req.body(Empty::new()).expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_request_headers_have_the_http1_limit() {
    let (echo, _) = start_echo().await;
    let config = format!(
        r#"version: 1
listeners:
  https: 127.0.0.1:{{HTTPS}}
state_dir: state
endpoints:
  - url: https://app.localhost
    upstream:
      url: http://{echo}
"#
    );
    let edge = Edge::start(&config).await;
    let ca_pem = std::fs::read(edge.dir.join("state").join("ca.pem")).expect("dev CA");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&ca_pem).expect("dev CA certificate"))
        .expect("root");
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", edge.https))
        .await
        .expect("connect edge");
    let name = rustls::pki_types::ServerName::try_from("app.localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .expect("TLS to the edge");
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
