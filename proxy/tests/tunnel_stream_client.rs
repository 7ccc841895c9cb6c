//! A tunnel stream must never carry a request of another client: the stream's header names
//! the client it was opened for, and the agent tells its upstream (PROXY protocol) and its
//! inspector that address. (Pingora 0.9 never hands out a pooled stream of a custom connector
//! again: its pool checks the stream's file descriptor against the peer address, and a virtual
//! stream has none. So each request opens its own stream today; this pins the rule for the day
//! streams are kept for the next request.)

mod tunnel_common;

use std::sync::Arc;

use sluice_tunnel::{BindRequest, ClientSession, Protocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tunnel_common::{agent, start_edge, temp_dir};

/// Answers every request on every stream, keeping the stream open, with the client address
/// the stream's header gives.
fn serve_client_addr(client: Arc<ClientSession>) {
    tokio::spawn(async move {
        while let Some((header, mut stream)) = client.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.clear();
                    let body = header.client_addr.to_string();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// One keep-alive request on `conn`; the response body.
async fn ask(conn: &mut TcpStream) -> String {
    conn.write_all(b"GET / HTTP/1.1\r\nhost: who.localhost\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_tunnel_stream_serves_only_the_client_it_was_opened_for() {
    let dir = temp_dir("stream-client");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "agent-a").await.expect("agent"));
    a.bind(BindRequest::new(Protocol::Http).with_url("http://who.localhost"))
        .await
        .expect("bind");
    serve_client_addr(a.clone());

    // Client one asks twice on one connection, then client two (another connection) asks
    // while client one's stream waits idle in the pool; then client one again.
    let mut one = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("one");
    let mut two = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("two");
    let (one_addr, two_addr) = (
        one.local_addr().expect("addr").to_string(),
        two.local_addr().expect("addr").to_string(),
    );
    assert_eq!(ask(&mut one).await, one_addr);
    assert_eq!(ask(&mut one).await, one_addr);
    assert_eq!(
        ask(&mut two).await,
        two_addr,
        "client two got another client's stream"
    );
    assert_eq!(ask(&mut one).await, one_addr);
    assert_eq!(ask(&mut two).await, two_addr);
}
