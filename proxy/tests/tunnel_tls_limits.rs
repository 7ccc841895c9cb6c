//! ngrok's limits on TLS endpoints at the https listener: a ClientHello split over several TLS
//! records still routes by SNI, a client that sends no ClientHello is closed after 3 s, and a
//! handshake has 60 s.

mod tunnel_common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_tunnel::{BindRequest, Protocol};
use sluice_wire::sni::client_hello;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tunnel_common::{agent, eventually, start_edge, temp_dir};

/// `record` split into records of at most `size` handshake bytes each.
fn split(record: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in record[5..].chunks(size) {
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&u16::try_from(chunk.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hello_over_several_records_routes_by_sni() {
    let dir = temp_dir("tls-split");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "split-a").await.expect("agent"));
    a.bind(BindRequest::new(Protocol::Tls).with_url("tls://split.localhost"))
        .await
        .expect("bind");
    let received = Arc::new(Mutex::new(Vec::new()));
    let r = received.clone();
    let client = a.clone();
    tokio::spawn(async move {
        while let Some((_, mut stream)) = client.accept().await {
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut v) = r.lock() {
                        v.extend_from_slice(&buf[..n]);
                    }
                }
            });
        }
    });
    // Sent in pieces, a record at a time, as a slow client would.
    let hello = split(&client_hello("split.localhost"), 9);
    let mut tcp = TcpStream::connect(("127.0.0.1", edge.https))
        .await
        .expect("connect");
    for piece in hello.chunks(14) {
        tcp.write_all(piece).await.expect("write");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eventually("the agent has the whole ClientHello", || {
        let got = received.lock().map(|v| v.clone()).unwrap_or_default();
        let want = hello.clone();
        async move { got == want }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_after_three_seconds() {
    let dir = temp_dir("tls-silent");
    let edge = start_edge(&dir).await;
    let a = agent(&edge, "tok-a", "silent-a").await.expect("agent");
    a.bind(BindRequest::new(Protocol::Tls).with_url("tls://quiet.localhost"))
        .await
        .expect("bind");
    for bytes in [&b""[..], &client_hello("quiet.localhost")[..20]] {
        let mut tcp = TcpStream::connect(("127.0.0.1", edge.https))
            .await
            .expect("connect");
        tcp.write_all(bytes).await.expect("write");
        let start = Instant::now();
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await;
        let waited = start.elapsed();
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "still open: {read:?}"
        );
        assert!(
            waited >= Duration::from_millis(2500) && waited < Duration::from_secs(7),
            "closed after {waited:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client that sends its ClientHello and then stops mid-handshake keeps its connection for
/// ngrok's 60 s handshake limit (the edge used to give up after 10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_is_kept_past_ten_seconds() {
    let dir = temp_dir("tls-stalled");
    let edge = start_edge(&dir).await;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("stall.localhost").expect("name");
    let mut client = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut first_flight = Vec::new();
    client.write_tls(&mut first_flight).expect("ClientHello");
    let mut tcp = TcpStream::connect(("127.0.0.1", edge.https))
        .await
        .expect("connect");
    tcp.write_all(&first_flight).await.expect("write");
    // The edge answers its part of the handshake, then waits for the client's.
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(11) {
        match tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => panic!("closed after {:?}", start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
