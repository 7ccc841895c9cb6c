//! Wildcard TLS endpoint names (`tls://*.example.com`), routed by SNI as HTTP names are routed
//! by Host: an exact name beats a wildcard, the most specific wildcard wins, the bare suffix
//! is not served, and an HTTPS endpoint with a more specific name keeps its connections.

mod tunnel_common;

use std::sync::Arc;
use std::time::Duration;

use sluice_tunnel::{BindRequest, ClientSession, Protocol};
use sluice_wire::sni::client_hello;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tunnel_common::{agent, start_edge, temp_dir};

/// The agent answers each passed-through connection with `agent=<name>` and closes.
fn answer_as(client: Arc<ClientSession>, name: &'static str) {
    tokio::spawn(async move {
        while let Some((_, mut stream)) = client.accept().await {
            tokio::spawn(async move {
                let mut first = [0u8; 16];
                let _ = stream.read(&mut first).await;
                let _ = stream.write_all(format!("agent={name}").as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
}

/// Sends a ClientHello for `sni` to the https port; what came back before the close.
async fn hello(port: u16, sni: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(&client_hello(sni)).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_tls_names_route_most_specific_first() {
    let dir = temp_dir("tls-wildcards");
    let edge = start_edge(&dir).await;
    let wide = Arc::new(agent(&edge, "tok-a", "tls-wide").await.expect("agent"));
    let narrow = Arc::new(agent(&edge, "tok-a", "tls-narrow").await.expect("agent"));
    let exact = Arc::new(agent(&edge, "tok-a", "tls-exact").await.expect("agent"));
    for (session, protocol, url) in [
        (&wide, Protocol::Tls, "tls://*.tw.localhost"),
        (&narrow, Protocol::Tls, "tls://*.deep.tw.localhost"),
        (&exact, Protocol::Tls, "tls://app.tw.localhost"),
        (&exact, Protocol::Https, "https://web.deep.tw.localhost"),
    ] {
        session
            .bind(BindRequest::new(protocol).with_url(url))
            .await
            .unwrap_or_else(|e| panic!("bind {url}: {e}"));
    }
    answer_as(wide.clone(), "wide");
    answer_as(narrow.clone(), "narrow");
    answer_as(exact.clone(), "exact");
    for (sni, who) in [
        ("foo.tw.localhost", "agent=wide"),
        ("a.b.tw.localhost", "agent=wide"),
        ("FOO.Tw.localhost", "agent=wide"),
        ("app.tw.localhost", "agent=exact"),
        ("x.deep.tw.localhost", "agent=narrow"),
        ("deep.tw.localhost", "agent=wide"),
    ] {
        let answer = hello(edge.https, sni).await;
        assert!(answer.contains(who), "{sni}: {answer:?}");
    }
    // The bare suffix, and a name an HTTPS endpoint serves exactly, are not the wildcards':
    // the edge's own TLS answers them.
    for sni in ["tw.localhost", "web.deep.tw.localhost"] {
        let answer = hello(edge.https, sni).await;
        assert!(!answer.contains("agent="), "{sni}: {answer:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
