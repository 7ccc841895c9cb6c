//! Pooled internal endpoints end to end: two real `sluice http` agents bind the same
//! `https://api.internal` with `--pooling-enabled`, a public gateway forwards to it, and both
//! serve; when one leaves, the other serves everything.

mod support;

use std::time::Duration;

use support::agent::{AgentProc, TunnelEdge, poll, text_upstream, try_get, write_file};
use support::scratch_dir;

const GATEWAY: &str = "on_http_request:
  - actions:
      - type: forward-internal
        config: {url: \"https://api.internal\"}
";

/// A pool member answering `body`, and its upstream's task.
async fn member(edge: &TunnelEdge, body: &'static str) -> (AgentProc, tokio::task::JoinHandle<()>) {
    let (port, task) = text_upstream(body).await;
    let mut a = edge.http_agent(
        &port.to_string(),
        &["--url", "https://api.internal", "--pooling-enabled"],
    );
    assert_eq!(a.url().await, "https://api.internal");
    (a, task)
}

/// The bodies of `n` requests through the gateway.
async fn bodies(edge: &TunnelEdge, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = try_get(edge.http, "gw.localhost", "/")
            .await
            .expect("answer");
        out.push(String::from_utf8_lossy(&r.body).into_owned());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_members_of_a_pooled_internal_endpoint_serve() {
    let edge = TunnelEdge::start(false).await;
    let _a = member(&edge, "member-a").await;
    let (mut b, _b_upstream) = member(&edge, "member-b").await;
    let policy = write_file(&scratch_dir(), "gw.yml", GATEWAY);
    let mut gw = edge.http_agent(
        "9",
        &[
            "--url",
            "http://gw.localhost",
            "--traffic-policy-file",
            &policy.display().to_string(),
        ],
    );
    gw.url().await;

    let seen = bodies(&edge, 10).await;
    assert!(seen.iter().any(|b| b == "member-a"), "{seen:?}");
    assert!(seen.iter().any(|b| b == "member-b"), "{seen:?}");
    assert!(
        seen.iter().all(|b| b == "member-a" || b == "member-b"),
        "{seen:?}"
    );

    // One member leaves: the pool's other member serves every request.
    b.kill();
    poll("only member a", Duration::from_secs(15), || async {
        bodies(&edge, 6)
            .await
            .iter()
            .all(|b| b == "member-a")
            .then_some(())
    })
    .await;
}
