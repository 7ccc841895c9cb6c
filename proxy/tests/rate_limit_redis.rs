//! `rate-limit` counting in a real Redis (the edge's `rate_limit.redis`): two built policies
//! stand for two edges, each with its own store (its own connection) to one `redis-server`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{Connection, LoadOptions, Policy, load_policy};
use sluice_proxy::rate_limit_redis::{CALL_TIMEOUT, RETRY_AFTER, RedisWindows, shared_counters};

mod redis_support;
use redis_support::{Redis, free_port, redis_available};

/// An edge's store for `url`.
fn edge_store(url: &str) -> Arc<RedisWindows> {
    RedisWindows::new(url).expect("redis URL")
}

/// A policy loaded as an edge loads an account's agent policy: `rate-limit` named `name`.
fn policy(store: &Arc<RedisWindows>, scope: &str, name: &str, capacity: u64) -> Policy {
    let text = format!(
        "on_http_request:\n  - actions:\n      - type: rate-limit\n        config: {{name: {name}, algorithm: sliding_window, capacity: {capacity}, rate: 60s, bucket_key: [conn.client_ip]}}\n"
    );
    load_policy(
        "traffic-policy",
        &text,
        &sluice_modules::builtin_registry(),
        LoadOptions {
            shared_counters: shared_counters(&Some(store.clone()), scope),
            ..LoadOptions::default()
        },
    )
    .expect("policy loads")
}

fn conn(url: &str, clock: &Arc<ManualClock>) -> Connection {
    let test_conn = TestConn {
        client: SocketAddr::from(([203, 0, 113, 7], 50000)),
        ..TestConn::default()
    };
    harness::connection(&test_conn, harness::endpoint(url), clock.clone())
}

async fn send(policy: &Policy, conn: &Connection) -> Outcome {
    let url = format!("{}/api", conn.endpoint.url);
    let req = harness::request("GET", &url, &[]);
    harness::exchange(
        policy,
        conn,
        req,
        bytes::Bytes::new(),
        &UpstreamReply::default(),
    )
    .await
}

/// Sends one request and returns its status, failing if it took longer than `within`.
async fn status_within(policy: &Policy, conn: &Connection, within: Duration) -> StatusCode {
    let start = Instant::now();
    let out = send(policy, conn).await;
    let took = start.elapsed();
    assert!(took < within, "a request took {took:?} (limit {within:?})");
    out.status.expect("a status")
}

async fn status(policy: &Policy, conn: &Connection) -> StatusCode {
    status_within(policy, conn, Duration::from_secs(2)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_edges_share_one_limit() {
    if !redis_available("two_edges_share_one_limit") {
        return;
    }
    let redis = Redis::start().await;
    let clock = Arc::new(ManualClock::new());
    let (store_a, store_b) = (edge_store(&redis.url()), edge_store(&redis.url()));
    let edge_a = policy(&store_a, "account:acme", "api", 3);
    let edge_b = policy(&store_b, "account:acme", "api", 3);
    let c = conn("https://app.example.com", &clock);
    assert_eq!(status(&edge_a, &c).await, StatusCode::OK);
    assert_eq!(status(&edge_b, &c).await, StatusCode::OK);
    assert_eq!(status(&edge_a, &c).await, StatusCode::OK);
    // The 4th across the two edges: edge B alone has seen one.
    let out = send(&edge_b, &c).await;
    assert_eq!(out.status, Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_2800");
    assert!(out.headers.contains_key("retry-after"));
    assert_eq!(status(&edge_a, &c).await, StatusCode::TOO_MANY_REQUESTS);
    assert!(store_a.is_up() && store_b.is_up());
    // Two windows later the estimate is empty again, on both edges.
    clock.advance(Duration::from_secs(120));
    assert_eq!(status(&edge_b, &c).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_endpoints_never_share_a_count() {
    if !redis_available("accounts_and_endpoints_never_share_a_count") {
        return;
    }
    let redis = Redis::start().await;
    let clock = Arc::new(ManualClock::new());
    let store = edge_store(&redis.url());
    // Two accounts, one action name "x", one URL (a name that moved between accounts).
    let acct_a = policy(&store, "account:a", "x", 1);
    let acct_b = policy(&store, "account:b", "x", 1);
    let c = conn("https://app.example.com", &clock);
    assert_eq!(status(&acct_a, &c).await, StatusCode::OK);
    assert_eq!(status(&acct_b, &c).await, StatusCode::OK);
    assert_eq!(status(&acct_a, &c).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(status(&acct_b, &c).await, StatusCode::TOO_MANY_REQUESTS);
    // One account, two endpoints with the same policy: a count each.
    let one = conn("https://one.example.com", &clock);
    let two = conn("https://two.example.com", &clock);
    assert_eq!(status(&acct_a, &one).await, StatusCode::OK);
    assert_eq!(status(&acct_a, &two).await, StatusCode::OK);
    assert_eq!(status(&acct_a, &one).await, StatusCode::TOO_MANY_REQUESTS);
    // The edge config's endpoints are a scope of their own.
    let config = policy(&store, "config", "x", 1);
    assert_eq!(status(&config, &c).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_midway_falls_back_to_local_counts_without_hanging() {
    if !redis_available("redis_killed_midway_falls_back_to_local_counts_without_hanging") {
        return;
    }
    let mut redis = Redis::start().await;
    let clock = Arc::new(ManualClock::new());
    let store = edge_store(&redis.url());
    let edge = policy(&store, "account:acme", "api", 3);
    let c = conn("https://app.example.com", &clock);
    assert_eq!(status(&edge, &c).await, StatusCode::OK);
    assert_eq!(status(&edge, &c).await, StatusCode::OK);
    redis.kill();
    // Answered promptly, counted on this edge alone from zero: 3 more, then 429.
    let prompt = CALL_TIMEOUT * 5;
    for _ in 0..3 {
        assert_eq!(status_within(&edge, &c, prompt).await, StatusCode::OK);
    }
    assert!(!store.is_up(), "the outage is visible");
    assert_eq!(
        status_within(&edge, &c, prompt).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Back: after the retry pause the edge counts in Redis again (its counts survived there
    // only if Redis kept them; this one starts empty).
    redis.restart().await;
    tokio::time::sleep(RETRY_AFTER + Duration::from_millis(100)).await;
    let start = Instant::now();
    loop {
        let s = status(&edge, &c).await;
        if store.is_up() {
            assert_eq!(s, StatusCode::OK, "an empty Redis admits");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the store never reconnected"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_never_answers_does_not_hold_requests() {
    // A listener that accepts and never replies: every call must give up on its own.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let clock = Arc::new(ManualClock::new());
    let store = edge_store(&format!("redis://127.0.0.1:{port}"));
    let edge = policy(&store, "account:acme", "api", 2);
    let c = conn("https://app.example.com", &clock);
    let prompt = CALL_TIMEOUT * 5;
    assert_eq!(status_within(&edge, &c, prompt).await, StatusCode::OK);
    assert_eq!(status_within(&edge, &c, prompt).await, StatusCode::OK);
    assert_eq!(
        status_within(&edge, &c, prompt).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert!(!store.is_up());
    held.abort();
    // Nothing listens on a fresh port either: refused at once, counted locally.
    let refused = edge_store(&format!("redis://127.0.0.1:{}", free_port()));
    let edge = policy(&refused, "account:acme", "api", 1);
    assert_eq!(status_within(&edge, &c, prompt).await, StatusCode::OK);
    assert!(!refused.is_up());
}
