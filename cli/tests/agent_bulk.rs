//! 1 GiB through a tunnel, streamed and checked with SHA-256 at both ends (never held in
//! memory): downloaded over an HTTP endpoint and over a TCP endpoint.

mod support;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use support::agent::{AgentProc, TunnelEdge, host_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BLOCK: usize = 1 << 20;
const BLOCKS: u64 = 1024;
const TOTAL: u64 = BLOCK as u64 * BLOCKS;

/// The 1 MiB base block: a deterministic pseudo-random pattern.
fn base_block() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..BLOCK)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Block `n`: the base block with its number in the first 8 bytes.
fn block(base: &[u8], n: u64) -> Bytes {
    let mut b = base.to_vec();
    b[..8].copy_from_slice(&n.to_be_bytes());
    Bytes::from(b)
}

/// The SHA-256 of the whole stream, computed block by block.
fn expected_digest() -> Vec<u8> {
    let base = base_block();
    let mut h = Sha256::new();
    for n in 0..BLOCKS {
        h.update(block(&base, n));
    }
    h.finalize().to_vec()
}

/// A body producing the stream one block per frame.
struct Blocks {
    base: Vec<u8>,
    next: u64,
}

impl hyper::body::Body for Blocks {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.next == BLOCKS {
            return Poll::Ready(None);
        }
        let b = block(&self.base, self.next);
        self.next += 1;
        Poll::Ready(Some(Ok(Frame::data(b))))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(TOTAL)
    }
}

/// An HTTP upstream answering every request with the stream.
async fn http_source() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|_req| async {
                    let body = Blocks {
                        base: base_block(),
                        next: 0,
                    };
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(body))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    port
}

/// A TCP upstream writing the stream to every connection, then closing.
async fn tcp_source() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let base = base_block();
                for n in 0..BLOCKS {
                    if stream.write_all(&block(&base, n)).await.is_err() {
                        return;
                    }
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

const LIMIT: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_over_http() {
    let edge = TunnelEdge::start(false).await;
    let source = http_source().await;
    let mut args = vec![
        "http".to_owned(),
        source.to_string(),
        "--inspect=false".into(),
    ];
    args.extend(edge.agent_flags());
    let mut agent = AgentProc::spawn(&args);
    let url = agent.url().await;
    let (host, port) = host_port(&url);
    let want = expected_digest();
    let download = async {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .uri("/big")
            .header("host", host.as_str())
            .body(Empty::<Bytes>::new())
            .expect("request");
        let resp = sender.send_request(req).await.expect("response");
        assert_eq!(resp.status().as_u16(), 200);
        let mut body = resp.into_body();
        let mut h = Sha256::new();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("body frame").into_data() {
                n += data.len() as u64;
                h.update(&data);
            }
        }
        (n, h.finalize().to_vec())
    };
    let (n, got) = tokio::time::timeout(LIMIT, download)
        .await
        .expect("1 GiB within the time limit");
    assert_eq!(n, TOTAL);
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_over_tcp() {
    let edge = TunnelEdge::start(true).await;
    let source = tcp_source().await;
    let mut args = vec!["tcp".to_owned(), format!("127.0.0.1:{source}")];
    args.extend(edge.agent_flags());
    let mut agent = AgentProc::spawn(&args);
    let url = agent.url().await;
    let (_, port) = host_port(&url);
    let want = expected_digest();
    let download = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let mut h = Sha256::new();
        let mut n = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let k = stream.read(&mut buf).await.expect("read");
            if k == 0 {
                break;
            }
            n += k as u64;
            h.update(&buf[..k]);
        }
        (n, h.finalize().to_vec())
    };
    let (n, got) = tokio::time::timeout(LIMIT, download)
        .await
        .expect("1 GiB within the time limit");
    assert_eq!(n, TOTAL);
    assert_eq!(got, want);
}
