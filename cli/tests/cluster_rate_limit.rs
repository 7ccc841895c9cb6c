//! `rate-limit` shared through Redis by two real edges of a cluster (`rate_limit.redis`,
//! `docs/cluster.md`): an agent's limit of 3 holds across the two edges. A real etcd and a real
//! `redis-server` are started on loopback; skipped (with a message) only when either binary is
//! absent.

mod support;

#[path = "../../proxy/tests/redis_support/mod.rs"]
mod redis_support;

use std::time::{Duration, Instant};

use support::agent::{TOKEN, try_get, write_file};
use support::etcd::{Etcd, agent_on, cluster_edge_with, etcd_available, until_status};
use support::{scratch_dir, start_echo};

const POLICY: &str = "on_http_request:\n  - actions:\n      - type: rate-limit\n        config: {name: api, algorithm: sliding_window, capacity: 3, rate: 60s, bucket_key: [conn.client_ip]}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_edges_share_an_agents_rate_limit_in_redis() {
    if !etcd_available("cluster rate limit")
        || !redis_support::redis_available("cluster rate limit")
    {
        return;
    }
    let mut redis = redis_support::Redis::start().await;
    let etcd = Etcd::start().await;
    let ca = scratch_dir();
    let more = format!("rate_limit:\n  redis: {}\n", redis.url());
    let a = cluster_edge_with(&etcd, "a", "10s", &ca, &more).await;
    let b = cluster_edge_with(&etcd, "b", "10s", &ca, &more).await;
    let (echo, _gate) = start_echo().await;
    let policy = write_file(&scratch_dir(), "policy.yml", POLICY);
    let policy = policy.display().to_string();
    let mut agent = agent_on(
        &a,
        TOKEN,
        &echo.to_string(),
        "http://app.localhost",
        &["--traffic-policy-file", &policy],
    );
    agent.url().await;
    // Until the name is served, answers are 404 and the policy does not run: each of these
    // two 200s is one admitted request, the first on A's count, the second on B's.
    until_status(a.http, "app.localhost", 200, Duration::from_secs(10)).await;
    until_status(b.http, "app.localhost", 200, Duration::from_secs(10)).await;
    let status = |port| async move { try_get(port, "app.localhost", "/x").await.map(|r| r.status) };
    assert_eq!(status(a.http).await, Some(200), "the 3rd request");
    assert_eq!(status(b.http).await, Some(429), "the 4th, B's 2nd");
    assert_eq!(status(a.http).await, Some(429), "A's 3rd");
    assert!(b.metrics().await.contains("sluice_rate_limit_redis_up 1"));
    // Redis gone: B answers at once, counting alone (its own count is empty), and says so.
    redis.kill();
    let start = Instant::now();
    assert_eq!(status(b.http).await, Some(200), "counted on B alone");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let health = support::get(b.admin, "127.0.0.1", "/healthz").await;
    let text = String::from_utf8_lossy(&health.body).into_owned();
    assert!(text.starts_with("degraded: Redis is unreachable"), "{text}");
    assert!(b.metrics().await.contains("sluice_rate_limit_redis_up 0"));
    let health = support::get(a.admin, "127.0.0.1", "/healthz").await;
    assert_eq!(&health.body[..], b"ok\n", "A has not called Redis since");
}
