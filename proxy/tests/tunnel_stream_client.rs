//! Tunnel streams kept between requests: the edge keeps a request's stream for the same
//! client connection's next request (Pingora cannot reuse a virtual stream itself; see
//! `proxy/src/tunnel/connect.rs`). A kept stream must never carry a request of another client
//! (its header names the client it was opened for, and the agent tells its upstream and
//! inspector that address), must not be kept when the exchange says the connection closes,
//! and a kept stream the agent closed must not fail the next request.

mod tunnel_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sluice_tunnel::{BindRequest, ClientSession, Protocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tunnel_common::{agent, start_edge, temp_dir};

/// Answers every request on every stream with the client address the stream's header gives,
/// keeping the stream open; counts the streams. `GET /close` is answered with
/// `connection: close` and the stream closed; after `GET /die-next` the stream's next request
/// is read and the stream closed without an answer (an agent closing a kept stream just as
/// a request goes out).
fn serve_client_addr(client: Arc<ClientSession>) -> Streams {
    let streams = Streams::default();
    let counted = streams.clone();
    tokio::spawn(async move {
        while let Some((header, mut stream)) = client.accept().await {
            counted.opened.fetch_add(1, Ordering::SeqCst);
            let closed = counted.closed.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut die_next = false;
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => {
                                closed.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    if die_next {
                        return;
                    }
                    let close = buf.starts_with(b"GET /close ");
                    die_next = buf.starts_with(b"GET /die-next ");
                    buf.clear();
                    let body = header.client_addr.to_string();
                    let connection = if close { "connection: close\r\n" } else { "" };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\n{connection}content-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(resp.as_bytes()).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    streams
}

/// How many streams the agent was given, and how many the edge closed.
#[derive(Clone, Default)]
struct Streams {
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Streams {
    fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }
}

/// One keep-alive request for `path` on `conn`; the response body.
async fn ask_path(conn: &mut TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nhost: who.localhost\r\n\r\n");
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            assert!(head.starts_with("HTTP/1.1 200"), "{text}");
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .expect("content-length");
            if body.len() >= len {
                return body[..len].to_string();
            }
        }
    }
}

async fn ask(conn: &mut TcpStream) -> String {
    ask_path(conn, "/").await
}

/// A client connection to the edge's http listener, and its address as the agent sees it.
async fn client(edge: &tunnel_common::Edge) -> (TcpStream, String) {
    let conn = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect to the edge");
    let addr = conn.local_addr().expect("addr").to_string();
    (conn, addr)
}

/// An edge with one agent serving `who.localhost`; the agent's stream count.
async fn edge_with_agent(name: &str) -> (tunnel_common::Edge, Arc<ClientSession>, Streams) {
    let dir = temp_dir(name);
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "agent-a").await.expect("agent"));
    a.bind(BindRequest::new(Protocol::Http).with_url("http://who.localhost"))
        .await
        .expect("bind");
    let streams = serve_client_addr(a.clone());
    (edge, a, streams)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_tunnel_stream_serves_only_the_client_it_was_opened_for() {
    let (edge, _agent, streams) = edge_with_agent("stream-client").await;

    // Client one asks twice on one connection, then client two (another connection) asks
    // while client one's stream waits idle in the pool; then client one again.
    let (mut one, one_addr) = client(&edge).await;
    let (mut two, two_addr) = client(&edge).await;
    assert_eq!(ask(&mut one).await, one_addr);
    assert_eq!(ask(&mut one).await, one_addr);
    assert_eq!(
        ask(&mut two).await,
        two_addr,
        "client two got another client's stream"
    );
    assert_eq!(ask(&mut one).await, one_addr);
    assert_eq!(ask(&mut two).await, two_addr);
    assert_eq!(
        streams.opened(),
        2,
        "five requests on two client connections take one stream each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_exchange_closes_the_connection_is_not_kept() {
    let (edge, _agent, streams) = edge_with_agent("stream-close").await;
    let (mut one, addr) = client(&edge).await;
    assert_eq!(ask_path(&mut one, "/close").await, addr);
    // The agent closed that stream: the next request on the same client connection opens
    // another one (and is answered).
    assert_eq!(ask(&mut one).await, addr);
    assert_eq!(ask(&mut one).await, addr);
    assert_eq!(streams.opened(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_stream_the_agent_closes_as_the_request_goes_out_is_retried_on_a_new_one() {
    let (edge, _agent, streams) = edge_with_agent("stream-retry").await;
    let (mut one, addr) = client(&edge).await;
    assert_eq!(ask_path(&mut one, "/die-next").await, addr);
    // This request goes out on the kept stream, which the agent closes unanswered.
    assert_eq!(ask(&mut one).await, addr);
    assert_eq!(streams.opened(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_stream_closes_with_its_client_connection() {
    let (edge, _agent, streams) = edge_with_agent("stream-gone").await;
    let (mut one, addr) = client(&edge).await;
    assert_eq!(ask(&mut one).await, addr);
    assert_eq!(streams.closed.load(Ordering::SeqCst), 0, "kept open");
    drop(one);
    // Well before the kept streams' idle limit (10 s).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    while streams.closed.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the kept stream outlived its client connection"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
