//! Bulk transfers without holding the body anywhere: a deterministic byte stream (the same
//! for upstream and client), an upstream that serves it (`GET /bytes/N`) or hashes an upload
//! (`POST /sha256`), SHA-256 as lowercase hex, and a sampler of a process's resident memory.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Size of one chunk of the stream.
pub const CHUNK: usize = 64 * 1024;

/// Chunk `i` of the stream, `len` bytes: a fixed pattern with `i` stamped in its first eight
/// bytes, so a lost, repeated or reordered chunk changes the hash.
pub fn chunk(i: u64, len: usize) -> Bytes {
    const PATTERN: &[u8] = b"sluice bulk transfer: 0123456789abcdefghijklmnopqrstuvwxyz\n";
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let take = (len - out.len()).min(PATTERN.len());
        out.extend_from_slice(&PATTERN[..take]);
    }
    let stamp = i.to_le_bytes();
    let n = stamp.len().min(len);
    out[..n].copy_from_slice(&stamp[..n]);
    Bytes::from(out)
}

/// A body of `total` stream bytes, made chunk by chunk as it is sent (exact size, so it goes
/// with a `content-length`), hashing what it yields when asked to.
pub struct Generated {
    next: u64,
    left: u64,
    hash: Option<Arc<std::sync::Mutex<ring::digest::Context>>>,
}

impl Generated {
    /// `total` bytes of the stream.
    pub fn new(total: u64) -> Self {
        Generated {
            next: 0,
            left: total,
            hash: None,
        }
    }

    /// Also feeds every byte it yields into `hash`.
    pub fn hashed(total: u64, hash: Arc<std::sync::Mutex<ring::digest::Context>>) -> Self {
        Generated {
            hash: Some(hash),
            ..Generated::new(total)
        }
    }
}

impl hyper::body::Body for Generated {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let len = (self.left as usize).min(CHUNK);
        let c = chunk(self.next, len);
        self.next += 1;
        self.left -= len as u64;
        if let Some(h) = &self.hash {
            h.lock().expect("hash").update(&c);
        }
        Poll::Ready(Some(Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// A new SHA-256 context, shareable with a [`Generated`] body.
pub fn sha256() -> Arc<std::sync::Mutex<ring::digest::Context>> {
    Arc::new(std::sync::Mutex::new(ring::digest::Context::new(
        &ring::digest::SHA256,
    )))
}

/// Lowercase hex of a finished hash.
pub fn hex(ctx: ring::digest::Context) -> String {
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 (hex) of the first `total` bytes of the stream, computed here.
pub fn expected_sha256(total: u64) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let (mut i, mut left) = (0u64, total);
    while left > 0 {
        let len = (left as usize).min(CHUNK);
        ctx.update(&chunk(i, len));
        i += 1;
        left -= len as u64;
    }
    hex(ctx)
}

/// Reads a body to its end, hashing it as it comes; returns (bytes read, SHA-256 hex).
pub async fn hash_body<B>(mut body: B) -> (u64, String)
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("body frame");
        if let Some(d) = frame.data_ref() {
            n += d.len() as u64;
            ctx.update(d);
        }
    }
    (n, hex(ctx))
}

type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

async fn bulk(req: Request<Incoming>) -> Result<Response<BoxBody>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    if let Some(n) = path
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse::<u64>().ok())
    {
        return Ok(Response::builder()
            .header("content-type", "application/octet-stream")
            .body(BodyExt::boxed(Generated::new(n)))
            .unwrap_or_default());
    }
    if path == "/sha256" {
        let (n, hash) = hash_body(req.into_body()).await;
        return Ok(Response::builder()
            .header("content-type", "text/plain")
            .body(BodyExt::boxed(Full::new(Bytes::from(format!(
                "{n} {hash}"
            )))))
            .unwrap_or_default());
    }
    Ok(Response::builder()
        .status(404)
        .body(BodyExt::boxed(Full::new(Bytes::new())))
        .unwrap_or_default())
}

/// Starts the bulk upstream (HTTP/1.1) on a free port: `GET /bytes/N` streams N bytes of the
/// stream; `POST /sha256` answers `"<bytes> <sha256 hex>"` of the request body.
pub async fn start_bulk() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind bulk");
    let addr = listener.local_addr().expect("bulk addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(bulk))
                    .await;
            });
        }
    });
    addr
}

/// Resident memory of process `pid` (`VmRSS` in `/proc/<pid>/status`), in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Samples a process's resident memory every 10 ms on its own thread, keeping the peak.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(rss_bytes(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(rss) = rss_bytes(pid) {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the peak seen, in bytes.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
