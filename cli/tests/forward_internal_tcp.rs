//! `forward-internal` in `on_tcp_connect`, end to end with real processes: a real `sluice
//! edge`, public `sluice tcp|tls` agents whose policies hand each connection to internal
//! endpoints bound by other `sluice tcp|tls` agents (`tcp://db.internal:5432`,
//! `tls://app.internal`). Covers the hop (the public agent's upstream never sees a byte), the
//! fallback with `on_error: continue`, and the closes for a missing target, another protocol
//! and a loop.

mod support;
mod tls_endpoint_common;

use std::time::Duration;

use support::agent::{AgentProc, TunnelEdge, host_port};
use support::scratch_dir;
use tls_endpoint_common::{cert, exchange, upstream, write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A policy handing every connection to `targets` in turn (each with `on_error`).
fn forward(targets: &[(&str, &str)]) -> String {
    let mut text = String::from("on_tcp_connect:\n  - actions:\n");
    for (url, on_error) in targets {
        text.push_str(&format!(
            "      - type: forward-internal\n        config: {{url: \"{url}\", on_error: {on_error}}}\n"
        ));
    }
    text
}

/// Starts `sluice KIND UPSTREAM --url URL [--traffic-policy-file POLICY]` on `edge`; waits for
/// its URL.
async fn agent(
    edge: &TunnelEdge,
    kind: &str,
    upstream: &str,
    url: Option<&str>,
    policy: Option<&str>,
) -> (AgentProc, String) {
    let mut args = vec![kind.to_owned(), upstream.to_owned()];
    if let Some(u) = url {
        args.extend(["--url".to_owned(), u.to_owned()]);
    }
    if let Some(p) = policy {
        let path = write(&scratch_dir(), "policy.yml", p);
        args.extend(["--traffic-policy-file".to_owned(), path]);
    }
    args.extend(edge.agent_flags());
    let mut a = AgentProc::spawn(&args);
    let got = a.url().await;
    (a, got)
}

/// Sends `ping\n` to the TCP endpoint `url` and reads until the edge or upstream closes.
async fn ping(url: &str) -> String {
    let (_, port) = host_port(url);
    let work = async {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let _ = tcp.write_all(b"ping\n").await;
        let mut out = Vec::new();
        let _ = tcp.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    tokio::time::timeout(Duration::from_secs(15), work)
        .await
        .expect("the connection ends")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_are_handed_to_internal_endpoints() {
    let edge = TunnelEdge::start(true).await;
    let (db_port, db_lines) = upstream("db", None).await;
    let (public_port, public_lines) = upstream("public", None).await;
    let public = format!("127.0.0.1:{public_port}");
    let (_db, db_url) = agent(
        &edge,
        "tcp",
        &format!("127.0.0.1:{db_port}"),
        Some("tcp://db.internal:5432"),
        None,
    )
    .await;
    assert_eq!(db_url, "tcp://db.internal:5432");

    // The primary is not bound: `continue` goes on to the next action, which reaches the db.
    let policy = forward(&[
        ("tcp://primary.internal:5432", "continue"),
        ("tcp://db.internal:5432", "halt"),
    ]);
    let (_gw, gw_url) = agent(&edge, "tcp", &public, None, Some(&policy)).await;
    assert_eq!(ping(&gw_url).await, "db:ping\n");
    assert_eq!(db_lines.lock().map(|l| l.len()).unwrap_or(0), 1);

    // Halting failures close the connection: a missing target, another protocol's URL, and
    // a loop (a.internal -> b.internal -> a.internal).
    let to = |url: &str| forward(&[(url, "halt")]);
    let (_a, _) = agent(
        &edge,
        "tcp",
        &public,
        Some("tcp://a.internal:1"),
        Some(&to("tcp://b.internal:1")),
    )
    .await;
    let (_b, _) = agent(
        &edge,
        "tcp",
        &public,
        Some("tcp://b.internal:1"),
        Some(&to("tcp://a.internal:1")),
    )
    .await;
    for target in [
        "tcp://missing.internal:1",
        "tls://db.internal",
        "tcp://a.internal:1",
    ] {
        let (_g, url) = agent(&edge, "tcp", &public, None, Some(&to(target))).await;
        assert_eq!(ping(&url).await, "", "{target}");
    }
    assert!(
        public_lines.lock().map(|l| l.is_empty()).unwrap_or(false),
        "a public agent's own upstream was reached"
    );
    let metrics = edge.metrics().await;
    assert!(
        metrics.contains("sluice_forward_internal_total{endpoint=\""),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_are_handed_to_internal_endpoints_unopened() {
    let edge = TunnelEdge::start(false).await;
    let (crt, key, der) = cert("pub-tls.localhost", "internal-app");
    let (app_port, _) = upstream("app", Some((crt, key))).await;
    let (public_port, public_lines) = upstream("public", None).await;
    let (_app, app_url) = agent(
        &edge,
        "tls",
        &format!("tls://127.0.0.1:{app_port}"),
        Some("tls://app.internal"),
        None,
    )
    .await;
    assert_eq!(app_url, "tls://app.internal");
    let policy = forward(&[("tls://app.internal", "halt")]);
    let (_gw, _) = agent(
        &edge,
        "tls",
        &format!("127.0.0.1:{public_port}"),
        Some("tls://pub-tls.localhost"),
        Some(&policy),
    )
    .await;
    // The client's TLS reaches the internal endpoint's upstream unopened.
    let (seen, reply) = exchange(edge.https, "pub-tls.localhost", None)
        .await
        .expect("forwarded");
    assert_eq!(seen, der, "not the internal upstream's certificate");
    assert_eq!(reply, "app:ping\n");
    assert!(public_lines.lock().map(|l| l.is_empty()).unwrap_or(false));
    // A tls:// endpoint cannot hand a connection to a tcp:// one.
    let policy = forward(&[("tcp://db.internal:1", "halt")]);
    let (_bad, _) = agent(
        &edge,
        "tls",
        &format!("127.0.0.1:{public_port}"),
        Some("tls://bad-tls.localhost"),
        Some(&policy),
    )
    .await;
    assert!(
        exchange(edge.https, "bad-tls.localhost", None)
            .await
            .is_err()
    );
}
