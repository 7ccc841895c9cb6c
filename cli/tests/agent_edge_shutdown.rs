//! The edge's graceful stop with a TCP endpoint bound by a real `sluice tcp` agent: on SIGTERM
//! the endpoint's port stops accepting at once, a connection already open keeps working until
//! its client closes it, and then the edge exits 0.

mod support;

use std::time::Duration;

use support::agent::{AgentProc, TunnelEdge, host_port, poll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP echo server on a free loopback port.
async fn echo_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}

async fn round_trip(tcp: &mut TcpStream, msg: &[u8]) {
    tcp.write_all(msg).await.expect("write");
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut back))
        .await
        .expect("echo within 10 s")
        .expect("read echo");
    assert_eq!(back, msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_tcp_endpoints_to_new_connections_and_drains_open_ones() {
    let echo = echo_upstream().await;
    let mut edge = TunnelEdge::start(true).await;
    let mut args = vec!["tcp".to_owned(), format!("127.0.0.1:{echo}")];
    args.extend(edge.agent_flags());
    let mut agent = AgentProc::spawn(&args);
    let (url, _) = agent.forwarding(1).await.remove(0);
    let (_, port) = host_port(&url);

    let mut open = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect through the tunnel");
    round_trip(&mut open, b"before the signal").await;

    edge.signal(libc::SIGTERM);
    // The endpoint's port is closed while the drain waits for the open connection.
    poll(
        "the TCP endpoint refuses new connections",
        Duration::from_secs(10),
        || async {
            TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
    round_trip(&mut open, b"during the drain").await;
    assert!(
        edge.wait_exit(Duration::from_millis(200)).await.is_none(),
        "the edge must wait for the open connection"
    );

    drop(open);
    let status = edge
        .wait_exit(Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("the edge did not exit\n{}", edge.stderr()));
    assert!(status.success(), "{status}\n{}", edge.stderr());
}
