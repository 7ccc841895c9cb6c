//! TCP endpoints bound by agents: bytes both ways through the tunnel, half-close,
//! `on_tcp_connect`, port grants and the port range, and the port closing with the session.

mod tunnel_common;

use std::sync::Arc;

use sluice_tunnel::{BindRequest, Protocol};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tunnel_common::{agent, eventually, round_trip, serve_echo, start_edge, temp_dir};

const DENY_LOOPBACK: &str = "on_tcp_connect:\n  - actions:\n      - type: restrict-ips\n        config:\n          deny: [\"127.0.0.0/8\"]\n";

/// Deterministic bytes that are not periodic over short spans.
fn payload(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_endpoint_echoes_through_the_agent() {
    let dir = temp_dir("tcp-echo");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "tcp-a").await.expect("agent"));
    let url = format!("tcp://localhost:{}", edge.granted);
    let bound = a
        .bind(BindRequest::new(Protocol::Tcp).with_url(url.clone()))
        .await
        .expect("bind granted port");
    assert_eq!(bound.url, url);
    let seen = serve_echo(a.clone(), "a");

    // 8 MiB there and back; the echo ends only after our half-close reached it.
    let data = payload(8 * 1024 * 1024);
    let back = round_trip(edge.granted, &data).await.expect("round trip");
    assert_eq!(back.len(), data.len());
    assert_eq!(checksum(&back), checksum(&data));
    assert_eq!(seen.count(&url), 1);

    // A port the authtoken does not grant.
    let other = tunnel_common::free_port();
    let err = a
        .bind(BindRequest::new(Protocol::Tcp).with_url(format!("tcp://localhost:{other}")))
        .await
        .expect_err("port not granted");
    let refusal = err.as_bind_refusal().expect("refusal");
    assert_eq!(
        refusal.code, "ERR_SLUICE_BIND_FORBIDDEN",
        "{}",
        refusal.message
    );

    // The session ends: the port stops accepting.
    a.close();
    eventually("the port closes", || async {
        match TcpStream::connect(("127.0.0.1", edge.granted)).await {
            Err(_) => true,
            Ok(mut s) => {
                let mut b = [0u8; 1];
                matches!(s.read(&mut b).await, Ok(0) | Err(_))
            }
        }
    })
    .await;
    eventually("connections are refused", || async {
        TcpStream::connect(("127.0.0.1", edge.granted))
            .await
            .is_err()
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_bind_without_url_gets_a_port_in_the_range() {
    let dir = temp_dir("tcp-range");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-any", "tcp-any").await.expect("agent"));
    let bound = a
        .bind(BindRequest::new(Protocol::Tcp))
        .await
        .expect("bind any port");
    assert!(bound.url.starts_with("tcp://localhost:"), "{}", bound.url);
    let port = port_of(&bound.url);
    assert!(
        (edge.range.0..=edge.range.1).contains(&port),
        "{port} not in {:?}",
        edge.range
    );
    serve_echo(a.clone(), "any");
    let back = round_trip(port, b"ping").await.expect("round trip");
    assert_eq!(back, b"ping");

    // alice may bind only her one port, and it is not in the range: she gets that one.
    let b = agent(&edge, "tok-a", "tcp-a").await.expect("agent a");
    let bound = b
        .bind(BindRequest::new(Protocol::Tcp))
        .await
        .expect("bind granted port");
    assert_eq!(port_of(&bound.url), edge.granted);
    // bob may bind no port at all.
    let c = agent(&edge, "tok-b", "tcp-b").await.expect("agent b");
    let err = c
        .bind(BindRequest::new(Protocol::Tcp))
        .await
        .expect_err("no port for bob");
    let refusal = err.as_bind_refusal().expect("refusal");
    assert_eq!(refusal.code, "ERR_SLUICE_BIND_PORT_UNAVAILABLE");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_tcp_connect_closes_before_the_agent() {
    let dir = temp_dir("tcp-policy");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "tcp-a").await.expect("agent"));
    let url = format!("tcp://localhost:{}", edge.granted);
    a.bind(
        BindRequest::new(Protocol::Tcp)
            .with_url(url.clone())
            .with_traffic_policy(DENY_LOOPBACK),
    )
    .await
    .expect("bind");
    let seen = serve_echo(a.clone(), "a");
    let back = round_trip(edge.granted, b"hello").await;
    assert!(
        matches!(&back, Ok(b) if b.is_empty()) || back.is_err(),
        "{back:?}"
    );
    assert_eq!(seen.count(&url), 0, "the agent was reached");

    // The closed connection is in the events, closed by the policy.
    let events = dir.join("events.jsonl");
    eventually("the connection event", || async {
        std::fs::read_to_string(&events).is_ok_and(|t| {
            t.lines().any(|l| {
                l.contains("tcp_connection_closed.v0") && l.contains("\"closed_by_policy\":true")
            })
        })
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_unbind_closes_the_port_and_the_same_agent_takes_it_over() {
    let dir = temp_dir("tcp-unbind");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "laptop").await.expect("agent"));
    let url = format!("tcp://localhost:{}", edge.granted);
    a.bind(BindRequest::new(Protocol::Tcp).with_url(url.clone()))
        .await
        .expect("bind");
    serve_echo(a.clone(), "a");
    assert_eq!(round_trip(edge.granted, b"1").await.expect("echo"), b"1");
    a.unbind(&url).await.expect("unbind");
    eventually("the port is closed", || async {
        TcpStream::connect(("127.0.0.1", edge.granted))
            .await
            .is_err()
    })
    .await;
    // Bound again right away (the old listener is gone or going).
    a.bind(BindRequest::new(Protocol::Tcp).with_url(url.clone()))
        .await
        .expect("bind again");
    assert_eq!(round_trip(edge.granted, b"2").await.expect("echo"), b"2");

    // A newer session of the same agent takes the port over; it never stops listening.
    let b = Arc::new(agent(&edge, "tok-a", "laptop").await.expect("new session"));
    let seen = serve_echo(b.clone(), "b");
    b.bind(BindRequest::new(Protocol::Tcp).with_url(url.clone()))
        .await
        .expect("takeover");
    tokio::time::timeout(std::time::Duration::from_secs(5), a.closed())
        .await
        .expect("old session closed");
    assert_eq!(round_trip(edge.granted, b"3").await.expect("echo"), b"3");
    assert_eq!(seen.count(&url), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
