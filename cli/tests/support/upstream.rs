//! Upstreams started in-process: an HTTP echo (HTTP/1.1 or h2c) and a websocket echo.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// What the echo's `/sse` waits on before its second event; set by the test.
pub type Gate = Arc<Mutex<Option<oneshot::Receiver<()>>>>;

/// What an echo upstream saw: each request's `METHOD path?query` as its head arrived, and
/// the connections open to it now.
#[derive(Debug, Default)]
pub struct Seen {
    requests: Mutex<Vec<String>>,
    open: std::sync::atomic::AtomicUsize,
}

impl Seen {
    /// The requests so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Connections open to the upstream now.
    pub fn open_connections(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Counts a connection open while it lives.
struct OpenConn(Arc<Seen>);

impl Drop for OpenConn {
    fn drop(&mut self) {
        self.0
            .open
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The size of the body `/big` streams.
pub const BIG: usize = 5 * 1024 * 1024;

/// The body `/big` streams: 5 MiB of a repeating pattern.
pub fn big_body() -> Vec<u8> {
    (0..BIG)
        .map(|i| b"sluice-edge-0123456789\n"[i % 23])
        .collect()
}

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
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        use std::future::Future;
        if let Some(b) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if let Some(g) = self.gate.as_mut() {
            if Pin::new(g).poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.gate = None;
        }
        Poll::Ready(self.last.take().map(|b| Ok(Frame::data(b))))
    }
}

/// A body that yields ready chunks one frame at a time (a streamed, chunked response).
struct Chunks(VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

/// Echo upstream: answers with JSON describing the request (method, version, path, headers,
/// body). `/big` streams 5 MiB in 64 KiB chunks; `/error-header` also sets `sluice-error-code`
/// and `ngrok-error-code` as a misbehaving upstream would; `/hop` also answers with hop-by-hop headers; `/sse` streams
/// one event, waits for the test's gate, then a second event.
async fn echo(
    req: Request<Incoming>,
    gate: Gate,
    seen: Arc<Seen>,
) -> Result<Response<BoxBody>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    if let Ok(mut r) = seen.requests.lock() {
        r.push(format!("{} {}", req.method(), req.uri()));
    }
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
        resp = resp
            .header("sluice-error-code", "ERR_SLUICE_9999")
            .header("ngrok-error-code", "ERR_NGROK_9999");
    }
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

/// Starts the echo upstream on a free port, speaking HTTP/1.1, or HTTP/2 without TLS (h2c,
/// prior knowledge) when `h2c`.
async fn start(h2c: bool) -> (SocketAddr, Gate, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("echo addr");
    let gate: Gate = Arc::new(Mutex::new(None));
    let seen = Arc::new(Seen::default());
    let (g, sn) = (gate.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (g, sn) = (g.clone(), sn.clone());
            sn.open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let open = OpenConn(sn.clone());
            tokio::spawn(async move {
                let _open = open;
                let io = TokioIo::new(stream);
                let svc = service_fn(move |r| echo(r, g.clone(), sn.clone()));
                let _ = if h2c {
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, svc)
                        .await
                } else {
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await
                };
            });
        }
    });
    (addr, gate, seen)
}

/// Starts the HTTP/1.1 echo upstream; the gate holds back `/sse`'s second event.
pub async fn start_echo() -> (SocketAddr, Gate) {
    let (addr, gate, _) = start(false).await;
    (addr, gate)
}

/// Starts the HTTP/1.1 echo upstream, with what it sees.
pub async fn start_echo_seen() -> (SocketAddr, Arc<Seen>) {
    let (addr, _, seen) = start(false).await;
    (addr, seen)
}

/// Starts the echo upstream speaking h2c.
pub async fn start_echo_h2c() -> SocketAddr {
    start(true).await.0
}

/// A websocket echo upstream.
pub async fn start_ws_echo() -> SocketAddr {
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
