//! Clients: HTTP/1.1 through hyper, and raw bytes on a TCP connection.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response, read whole.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// HTTP version.
    pub version: http::Version,
    /// Headers.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (the echo upstream's description of the request).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Reads a response whole.
pub async fn read_reply(resp: Response<Incoming>) -> Reply {
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

/// An HTTP/1.1 client connection.
pub type H1 = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Opens an HTTP/1.1 connection to the edge.
pub async fn h1_conn(port: u16) -> H1 {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect edge");
    h1_over(stream).await
}

/// Speaks HTTP/1.1 over `io` (a TCP or TLS connection already made); its connection task runs
/// in the background.
pub async fn h1_over<T>(io: T) -> H1
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// One request on `sender`.
pub async fn h1_request(
    sender: &mut H1,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
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
    sender.ready().await.expect("connection ready");
    let resp = sender.send_request(req).await.expect("send request");
    read_reply(resp).await
}

/// A GET without a body on `sender`.
pub async fn h1_send(sender: &mut H1, host: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    h1_request(sender, "GET", host, path, headers, "").await
}

/// One request on a fresh HTTP/1.1 connection.
pub async fn send(
    port: u16,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut s = h1_conn(port).await;
    h1_request(&mut s, method, host, path, headers, body).await
}

/// A GET on a fresh HTTP/1.1 connection.
pub async fn get(port: u16, host: &str, path: &str) -> Reply {
    send(port, "GET", host, path, &[], "").await
}

/// Writes a raw request and reads until the edge closes the connection (bounded by 10 s).
pub async fn raw(port: u16, request: &str) -> Vec<u8> {
    raw_bytes(port, request.as_bytes()).await
}

/// [`raw`] with any bytes.
pub async fn raw_bytes(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect edge");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the edge did not close the connection");
    out
}

/// Reads `body` until what arrived contains `needle` (e.g. a server-sent event), each frame
/// within 10 s; returns what was read.
pub async fn read_until(body: &mut Incoming, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    while !got.windows(needle.len()).any(|w| w == needle) {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("the next frame in time")
            .expect("stream open")
            .expect("frame");
        if let Ok(d) = frame.into_data() {
            got.extend_from_slice(&d);
        }
    }
    got
}
