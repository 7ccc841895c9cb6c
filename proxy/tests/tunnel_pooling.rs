//! Pooled endpoints: agents of one account binding the same URL with pooling share it, per
//! request (HTTP) or per connection (TCP, and HTTPS endpoints whose on_tcp_connect runs before
//! the handshake); without pooling the second bind is refused.

mod tunnel_common;

use std::collections::HashSet;
use std::sync::Arc;

use sluice_tunnel::{BindRequest, Protocol};
use tunnel_common::{agent, eventually, get, round_trip, serve_echo, start_edge, temp_dir};

fn pooled(protocol: Protocol, url: &str) -> BindRequest {
    let mut r = BindRequest::new(protocol).with_url(url);
    r.pooling_enabled = true;
    r
}

/// Which agents answered `n` requests for `host`.
async fn answered_by(port: u16, host: &str, n: usize) -> HashSet<String> {
    let mut ids = HashSet::new();
    for _ in 0..n {
        let resp = get(port, host).await;
        let id = resp
            .split("agent=")
            .nth(1)
            .map(str::to_string)
            .unwrap_or_else(|| format!("no agent: {resp}"));
        ids.insert(id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_http_endpoint_balances_and_survives_members() {
    let dir = temp_dir("pool-http");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "pool-a").await.expect("a"));
    let b = Arc::new(agent(&edge, "tok-a", "pool-b").await.expect("b"));
    let url = "http://pool.localhost";
    let ba = a.bind(pooled(Protocol::Http, url)).await.expect("a binds");
    let bb = b.bind(pooled(Protocol::Http, url)).await.expect("b joins");
    assert_eq!(ba.url, bb.url);
    serve_echo(a.clone(), "a");
    serve_echo(b.clone(), "b");

    // Without pooling, a third agent of the account is refused; so is another account even
    // with pooling.
    let c = agent(&edge, "tok-a", "pool-c").await.expect("c");
    let err = c
        .bind(BindRequest::new(Protocol::Http).with_url(url))
        .await
        .expect_err("no pooling");
    let refusal = err.as_bind_refusal().expect("refusal");
    assert_eq!(refusal.code, "ERR_SLUICE_334");
    assert!(
        refusal.message.contains("already bound"),
        "{}",
        refusal.message
    );
    let d = agent(&edge, "tok-b", "pool-d").await.expect("d");
    let err = d
        .bind(pooled(Protocol::Http, url))
        .await
        .expect_err("other account");
    assert_eq!(
        err.as_bind_refusal().expect("refusal").code,
        "ERR_SLUICE_334"
    );

    // Both members answer.
    let ids = answered_by(edge.http, "pool.localhost", 20).await;
    assert_eq!(
        ids,
        HashSet::from(["a".to_string(), "b".to_string()]),
        "{ids:?}"
    );

    // One leaves: everything goes to the other.
    a.close();
    eventually("a is out of the pool", || async {
        answered_by(edge.http, "pool.localhost", 10).await == HashSet::from(["b".to_string()])
    })
    .await;
    let ids = answered_by(edge.http, "pool.localhost", 20).await;
    assert_eq!(ids, HashSet::from(["b".to_string()]), "{ids:?}");

    // The last one leaves: the endpoint is offline.
    b.close();
    eventually("the endpoint is offline", || async {
        let resp = get(edge.http, "pool.localhost").await;
        resp.starts_with("http/1.1 404") && resp.contains("err_sluice_3200")
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_tcp_endpoint_balances_connections() {
    let dir = temp_dir("pool-tcp");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "pool-a").await.expect("a"));
    let b = Arc::new(agent(&edge, "tok-a", "pool-b").await.expect("b"));
    let url = format!("tcp://localhost:{}", edge.granted);
    a.bind(pooled(Protocol::Tcp, &url)).await.expect("a binds");
    // Without pooling on the second bind: refused.
    let err = b
        .bind(BindRequest::new(Protocol::Tcp).with_url(url.clone()))
        .await
        .expect_err("no pooling");
    assert_eq!(
        err.as_bind_refusal().expect("refusal").code,
        "ERR_SLUICE_334"
    );
    b.bind(pooled(Protocol::Tcp, &url)).await.expect("b joins");
    let seen_a = serve_echo(a.clone(), "a");
    let seen_b = serve_echo(b.clone(), "b");
    for i in 0..10u8 {
        let back = round_trip(edge.granted, &[i; 100])
            .await
            .expect("round trip");
        assert_eq!(back, vec![i; 100]);
    }
    assert_eq!(seen_a.count(&url) + seen_b.count(&url), 10);
    assert!(seen_a.count(&url) > 0 && seen_b.count(&url) > 0);

    // One leaves: the port stays open for the other.
    a.close();
    eventually("a is out of the pool", || async {
        let before = seen_b.count(&url);
        round_trip(edge.granted, b"x")
            .await
            .is_ok_and(|v| v == b"x")
            && seen_b.count(&url) > before
    })
    .await;
    for _ in 0..4 {
        assert_eq!(
            round_trip(edge.granted, b"y").await.expect("b answers"),
            b"y"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An HTTPS endpoint with `on_tcp_connect` rules runs them before the handshake, on the
/// member its request then goes to: the pool still alternates (one pick per connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_https_endpoint_with_connect_rules_balances() {
    let dir = temp_dir("pool-https");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "spool-a").await.expect("a"));
    let b = Arc::new(agent(&edge, "tok-a", "spool-b").await.expect("b"));
    let policy = "on_tcp_connect:\n  - actions:\n      - type: terminate-tls\n";
    for s in [&a, &b] {
        s.bind(pooled(Protocol::Https, "https://spool.localhost").with_traffic_policy(policy))
            .await
            .expect("bind");
    }
    serve_echo(a.clone(), "a");
    serve_echo(b.clone(), "b");
    let ca = dir.join("state").join("ca.pem");
    let port = edge.https;
    let ids = tokio::task::spawn_blocking(move || {
        let mut ids = HashSet::new();
        for _ in 0..10 {
            let out = std::process::Command::new("curl")
                .args(["-sS", "--max-time", "20", "--cacert"])
                .arg(&ca)
                .args(["--resolve", &format!("spool.localhost:{port}:127.0.0.1")])
                .arg(format!("https://spool.localhost:{port}/"))
                .output()
                .expect("curl");
            ids.insert(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        ids
    })
    .await
    .expect("curl ran");
    assert_eq!(
        ids,
        HashSet::from(["agent=a".to_string(), "agent=b".to_string()]),
        "{ids:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
