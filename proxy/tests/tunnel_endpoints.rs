//! Agent-backed endpoints: an in-process edge with a tunnel listener, an agent written with
//! `sluice_tunnel::SessionBuilder`, and a plain HTTP client through the edge.

mod tunnel_common;

use std::sync::Arc;
use std::time::Duration;

use sluice_tunnel::{BindRequest, ClientSession, Protocol};
use tokio::io::AsyncWriteExt;
use tunnel_common::{agent, get, read_head, start_edge, temp_dir};

const POLICY: &str = "on_http_response:\n  - actions:\n      - type: add-headers\n        config:\n          headers:\n            x-edge: tunneled\n";

/// Answers every stream with a small HTTP response, or closes it unanswered when the
/// endpoint's name starts with `fail`.
fn serve_agent(client: Arc<ClientSession>) {
    tokio::spawn(async move {
        while let Some((header, mut stream)) = client.accept().await {
            tokio::spawn(async move {
                if read_head(&mut stream).await.is_none() {
                    return;
                }
                if header.endpoint_url.contains("://fail.") {
                    let _ = stream.shutdown().await;
                    return;
                }
                let body = format!("hello from {}", header.endpoint_url);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(resp.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_backed_endpoints() {
    let dir = temp_dir("e2e");
    let edge = start_edge(&dir).await;

    // Bad token.
    assert!(agent(&edge, "tok-wrong", "x").await.is_err());

    let a = Arc::new(agent(&edge, "tok-a", "agent-a").await.expect("agent a"));
    let bound = a
        .bind(
            BindRequest::new(Protocol::Http)
                .with_url("http://demo.localhost")
                .with_traffic_policy(POLICY),
        )
        .await
        .expect("bind demo");
    assert_eq!(bound.url, format!("http://demo.localhost:{}", edge.http));
    let random = a
        .bind(BindRequest::new(Protocol::Http))
        .await
        .expect("random bind");
    let host = random
        .url
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap_or("")
        .to_string();
    assert!(
        host.ends_with(".localhost") && host.len() == 6 + ".localhost".len(),
        "{host}"
    );
    a.bind(BindRequest::new(Protocol::Http).with_url("http://fail.localhost"))
        .await
        .expect("bind fail");
    serve_agent(a.clone());

    // Invalid policy: the loader's line:col text.
    let bad = BindRequest::new(Protocol::Http)
        .with_url("http://bad.localhost")
        .with_traffic_policy("on_http_request:\n  - actions:\n      - type: nope\n");
    let err = a.bind(bad).await.expect_err("invalid policy");
    let refusal = err.as_bind_refusal().expect("refusal");
    assert_eq!(refusal.code, "ERR_SLUICE_POLICY_INVALID");
    assert!(
        refusal.message.contains("traffic-policy:3:"),
        "{}",
        refusal.message
    );

    // Another account cannot take the name.
    let b = agent(&edge, "tok-b", "agent-b").await.expect("agent b");
    let err = b
        .bind(BindRequest::new(Protocol::Http).with_url("http://demo.localhost"))
        .await
        .expect_err("taken");
    let refusal = err.as_bind_refusal().expect("refusal");
    assert_eq!(refusal.code, "ERR_SLUICE_334");
    assert!(
        refusal.message.contains("already bound"),
        "{}",
        refusal.message
    );

    // Through the edge, with the policy applied.
    let resp = get(edge.http, "demo.localhost").await;
    assert!(resp.starts_with("http/1.1 200"), "{resp}");
    assert!(resp.contains("x-edge: tunneled"), "{resp}");
    assert!(resp.contains("hello from http://demo.localhost"), "{resp}");
    let resp = get(edge.http, &host).await;
    assert!(resp.starts_with("http/1.1 200"), "{resp}");

    // The agent closes the stream without answering: 502 with 8012.
    let resp = get(edge.http, "fail.localhost").await;
    assert!(resp.starts_with("http/1.1 502"), "{resp}");
    assert!(resp.contains("err_sluice_8012"), "{resp}");

    // The agent goes away: 3200 within a second.
    a.close();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let resp = get(edge.http, "demo.localhost").await;
    assert!(resp.starts_with("http/1.1 404"), "{resp}");
    assert!(resp.contains("err_sluice_3200"), "{resp}");

    // Now the other account may bind it.
    b.bind(BindRequest::new(Protocol::Http).with_url("http://demo.localhost"))
        .await
        .expect("free again");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_session_of_the_same_agent_takes_over() {
    let dir = temp_dir("takeover");
    let edge = start_edge(&dir).await;
    let old = agent(&edge, "tok-a", "laptop").await.expect("old");
    old.bind(BindRequest::new(Protocol::Http).with_url("http://app.localhost"))
        .await
        .expect("bind");
    // Same account, another client id: refused.
    let other = agent(&edge, "tok-a", "desktop").await.expect("other");
    let err = other
        .bind(BindRequest::new(Protocol::Http).with_url("http://app.localhost"))
        .await
        .expect_err("taken");
    assert!(err.to_string().contains("already bound"), "{err}");
    // Same account and client id (the laptop woke up): takes over, the old session ends.
    let new = Arc::new(agent(&edge, "tok-a", "laptop").await.expect("new"));
    new.bind(BindRequest::new(Protocol::Http).with_url("http://app.localhost"))
        .await
        .expect("takeover");
    tokio::time::timeout(Duration::from_secs(5), old.closed())
        .await
        .expect("old session closed");
    serve_agent(new.clone());
    let resp = get(edge.http, "app.localhost").await;
    assert!(resp.contains("hello from http://app.localhost"), "{resp}");
    let _ = std::fs::remove_dir_all(&dir);
}
