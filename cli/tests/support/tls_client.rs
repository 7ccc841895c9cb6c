//! TLS clients of the edge's https listener: a rustls connection trusting given roots, one
//! HTTP/1.1 GET over it, and an HTTP/2 connection over it.

use std::sync::Arc;

use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A TLS connection to 127.0.0.1:`port` for `name`, trusting only `roots`, offering `alpn`.
/// The TCP connection has Nagle off, as browsers and curl do (with it on, each HTTP/2
/// flow-control window of an upload would wait for a delayed ACK).
pub async fn tls_connect(
    port: u16,
    name: &str,
    roots: &[CertificateDer<'static>],
    alpn: &[u8],
) -> std::io::Result<TlsStream<TcpStream>> {
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
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let server_name = ServerName::try_from(name.to_string()).expect("server name");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
}

/// One `GET /` over TLS to 127.0.0.1:`port` for `host`, trusting the CA in `ca_pem`.
pub async fn https_get(port: u16, host: &str, ca_pem: &std::path::Path) -> super::Reply {
    use rustls::pki_types::pem::PemObject;
    let ca = CertificateDer::from_pem_slice(&std::fs::read(ca_pem).expect("read CA"))
        .expect("CA certificate");
    let tls = tls_connect(port, host, &[ca], b"http/1.1")
        .await
        .expect("TLS handshake");
    let mut sender = super::h1_over(tls).await;
    super::h1_request(&mut sender, "GET", host, "/", &[], "").await
}

/// An HTTP/2 connection (ALPN h2) to 127.0.0.1:`port` for `name`, trusting only `ca`.
pub async fn h2_tls<B>(port: u16, name: &str, ca: &CertificateDer<'static>) -> SendRequest<B>
where
    B: hyper::body::Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tls = tls_connect(port, name, std::slice::from_ref(ca), b"h2")
        .await
        .expect("TLS to the edge");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    sender
}
