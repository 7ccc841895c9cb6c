//! Agent sessions over time: the edge dies and comes back (the agent reconnects and rebinds the
//! same URL), the agent dies (the edge answers 3200), and two pooled agents share one URL.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::agent::{TunnelEdge, host_port, poll, text_upstream, try_get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_comes_back_with_the_same_url_after_the_edge_restarts() {
    let mut edge = TunnelEdge::start(false).await;
    let (up, _task) = text_upstream("before and after").await;
    let mut agent = edge.http_agent(&up.to_string(), &[]);
    let url = agent.url().await;
    let (host, port) = host_port(&url);
    let ok = poll("a 200", Duration::from_secs(10), || {
        try_get(port, &host, "/")
    })
    .await;
    assert_eq!(ok.status, 200);

    edge.kill();
    let seen = agent.lines().len();
    let (i, _) = agent
        .wait_line(seen, Duration::from_secs(20), |l| {
            l.starts_with("Session Status") && l.contains("reconnecting")
        })
        .await;
    edge.restart().await;
    agent
        .wait_line(i, Duration::from_secs(40), |l| {
            l.starts_with("Session Status") && l.ends_with("online")
        })
        .await;
    let back = poll(
        "the same URL to answer again",
        Duration::from_secs(40),
        || async { try_get(port, &host, "/").await.filter(|r| r.status == 200) },
    )
    .await;
    assert_eq!(&back.body[..], b"before and after");
    assert_eq!(
        agent
            .lines()
            .iter()
            .filter(|l| l.starts_with("Forwarding"))
            .count(),
        1,
        "{:#?}",
        agent.lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_leaves_3200() {
    let edge = TunnelEdge::start(false).await;
    let (up, _task) = text_upstream("alive").await;
    let mut agent = edge.http_agent(&up.to_string(), &[]);
    let url = agent.url().await;
    let (host, port) = host_port(&url);
    let ok = poll("a 200", Duration::from_secs(10), || {
        try_get(port, &host, "/")
    })
    .await;
    assert_eq!(ok.status, 200);
    agent.kill();
    let start = std::time::Instant::now();
    let gone = poll(
        "3200 after the agent died",
        Duration::from_secs(5),
        || async { try_get(port, &host, "/").await.filter(|r| r.status == 404) },
    )
    .await;
    assert_eq!(gone.header("sluice-error-code"), Some("ERR_SLUICE_3200"));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pooled_agents_share_one_url() {
    let edge = TunnelEdge::start(false).await;
    let (a, _ta) = text_upstream("agent a").await;
    let (b, _tb) = text_upstream("agent b").await;
    let url = format!("http://pool-test.localhost:{}", edge.http);
    let flags = ["--url", url.as_str(), "--pooling-enabled"];
    let mut first = edge.http_agent(&a.to_string(), &flags);
    assert_eq!(first.url().await, url);
    let mut second = edge.http_agent(&b.to_string(), &flags);
    assert_eq!(second.url().await, url);
    let (host, port) = host_port(&url);
    let mut bodies = BTreeSet::new();
    for _ in 0..60 {
        if let Some(r) = try_get(port, &host, "/").await {
            assert_eq!(r.status, 200, "{:?}", r.body);
            bodies.insert(String::from_utf8_lossy(&r.body).into_owned());
        }
        if bodies.len() == 2 {
            break;
        }
    }
    assert_eq!(
        bodies,
        BTreeSet::from(["agent a".to_owned(), "agent b".to_owned()])
    );
}
