//! `sse-find-replace` end to end: a real `sluice edge`, a real `sluice http` agent connected to
//! it over the tunnel, and a real upstream streaming `text/event-stream` messages with pauses.
//! Each message must reach the client rewritten while the upstream still holds the stream
//! open: the upstream sends the next message only once the client saw the previous one, and
//! the arrival times show nothing waited for the end of the stream.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use support::agent::{TunnelEdge, host_port, write_file};
use support::{h1_conn, read_until};

const POLICY: &str = "on_event_stream_message:
  - actions:
      - type: sse-find-replace
        config:
          replacements:
            - {from: 'sk-[a-z0-9]+', to: '[redacted]'}
";

/// How long the upstream pauses before each message.
const PAUSE: Duration = Duration::from_millis(300);

/// An SSE upstream: for each request, sends message `i` (after [`PAUSE`]) once `go` yields,
/// then ends the stream after the third.
async fn sse_upstream(mut go: mpsc::Receiver<()>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let _ = stream
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                  Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
            )
            .await;
        for i in 1..=3 {
            if go.recv().await.is_none() {
                return;
            }
            tokio::time::sleep(PAUSE).await;
            let message = format!("id: {i}\ndata: token {i} is sk-secret{i}\n\n");
            if stream.write_all(message.as_bytes()).await.is_err() {
                return;
            }
            let _ = stream.flush().await;
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_rewritten_one_by_one_through_edge_and_agent() {
    let edge = TunnelEdge::start(false).await;
    let (go, go_rx) = mpsc::channel(3);
    let upstream = sse_upstream(go_rx).await;
    let policy = write_file(&edge.dir.join("agent"), "sse.yml", POLICY);
    let mut agent = edge.http_agent(
        &upstream.to_string(),
        &["--traffic-policy-file", &policy.display().to_string()],
    );
    let (host, _) = host_port(&agent.url().await);

    let mut s = h1_conn(edge.http).await;
    s.ready().await.expect("ready");
    let req = Request::builder()
        .uri("/stream")
        .header("host", &host)
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .expect("request");
    go.send(()).await.expect("upstream waits");
    let resp = s.send_request(req).await.expect("sse request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();

    let start = Instant::now();
    let mut got = Vec::new();
    let mut arrivals = Vec::new();
    for i in 1..=3 {
        if i > 1 {
            // The upstream sends this message only now: the previous one was not held back.
            go.send(()).await.expect("upstream waits");
        }
        let expected = format!("data: token {i} is [redacted]\n\n");
        let seen_before = got.len();
        let more = read_until(&mut body, expected.as_bytes()).await;
        got.extend_from_slice(&more);
        arrivals.push(start.elapsed());
        let text = String::from_utf8_lossy(&got[seen_before..]).into_owned();
        assert!(
            !text.contains("sk-secret"),
            "message {i} not rewritten: {text:?}"
        );
    }
    let rest = body.collect().await.expect("end of stream").to_bytes();
    got.extend_from_slice(&rest);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "id: 1\ndata: token 1 is [redacted]\n\n\
         id: 2\ndata: token 2 is [redacted]\n\n\
         id: 3\ndata: token 3 is [redacted]\n\n"
    );
    // Each message came about one pause after it was released, not all at the end.
    for pair in arrivals.windows(2) {
        assert!(
            pair[1] - pair[0] >= PAUSE,
            "messages arrived together: {arrivals:?}"
        );
    }
    agent.kill();
}
