//! `rate-limit` with shared counters (what the edge's `rate_limit.redis` gives), against an
//! in-process store that counts like Redis's script would, and one that always fails: the
//! action's side of the contract without a Redis server (`proxy/tests/rate_limit_redis.rs`
//! runs a real one).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use http::StatusCode;
use sluice_policy::harness::{self, ManualClock, TestConn, UpstreamReply};
use sluice_policy::{
    Connection, LoadOptions, Policy, SharedCounters, SharedCountersError, SharedWindows,
    WindowCounts, WindowHit, load_policy,
};

/// Fixed-window counters in a map, decided with the exact estimate.
#[derive(Debug, Default)]
struct MapStore {
    counts: Mutex<HashMap<String, u64>>,
    keys: Mutex<BTreeSet<String>>,
}

#[async_trait]
impl SharedWindows for MapStore {
    async fn admit(&self, hit: WindowHit<'_>) -> Result<WindowCounts, SharedCountersError> {
        let mut counts = self.counts.lock().expect("lock");
        self.keys.lock().expect("lock").insert(hit.key.to_string());
        let curr_key = format!("{}:{}", hit.key, hit.index);
        let prev_key = format!("{}:{}", hit.key, hit.index.saturating_sub(1));
        let curr = counts.get(&curr_key).copied().unwrap_or(0);
        let prev = counts.get(&prev_key).copied().unwrap_or(0);
        let w = hit.window.as_nanos();
        let used = u128::from(prev) * (w - hit.offset_nanos) + u128::from(curr + 1) * w;
        let admitted = used <= u128::from(hit.capacity) * w;
        if admitted {
            *counts.entry(curr_key).or_insert(0) += 1;
        }
        Ok(WindowCounts {
            admitted,
            prev,
            curr,
        })
    }
}

/// A store that never answers.
#[derive(Debug)]
struct Down;

#[async_trait]
impl SharedWindows for Down {
    async fn admit(&self, _: WindowHit<'_>) -> Result<WindowCounts, SharedCountersError> {
        Err(SharedCountersError("down".into()))
    }
}

fn policy(store: Arc<dyn SharedWindows>, scope: &str, name: &str, capacity: u64) -> Policy {
    let text = format!(
        "on_http_request:\n  - actions:\n      - type: rate-limit\n        config: {{name: {name}, algorithm: sliding_window, capacity: {capacity}, rate: 60s, bucket_key: [conn.client_ip]}}\n"
    );
    load_policy(
        "t.yml",
        &text,
        &sluice_modules::builtin_registry(),
        LoadOptions {
            shared_counters: Some(SharedCounters {
                store,
                scope: Arc::from(scope),
            }),
            ..LoadOptions::default()
        },
    )
    .expect("policy loads")
}

fn conn(url: &str, ip: [u8; 4], clock: &Arc<ManualClock>) -> Connection {
    let test_conn = TestConn {
        client: SocketAddr::from((ip, 50000)),
        ..TestConn::default()
    };
    harness::connection(&test_conn, harness::endpoint(url), clock.clone())
}

async fn status(policy: &Policy, conn: &Connection) -> StatusCode {
    let req = harness::request("GET", &format!("{}/", conn.endpoint.url), &[]);
    harness::exchange(
        policy,
        conn,
        req,
        bytes::Bytes::new(),
        &UpstreamReply::default(),
    )
    .await
    .status
    .expect("a status")
}

#[tokio::test]
async fn two_policies_on_one_store_share_the_count() {
    let store = Arc::new(MapStore::default());
    let clock = Arc::new(ManualClock::new());
    let a = policy(store.clone(), "account:acme", "api", 2);
    let b = policy(store.clone(), "account:acme", "api", 2);
    let c = conn("https://app.example.com", [192, 0, 2, 1], &clock);
    assert_eq!(status(&a, &c).await, StatusCode::OK);
    assert_eq!(status(&b, &c).await, StatusCode::OK);
    assert_eq!(status(&a, &c).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(status(&b, &c).await, StatusCode::TOO_MANY_REQUESTS);
    // Another client is another bucket.
    let other = conn("https://app.example.com", [192, 0, 2, 2], &clock);
    assert_eq!(status(&b, &other).await, StatusCode::OK);
    assert_eq!(store.keys.lock().expect("lock").len(), 2);
}

#[tokio::test]
async fn scope_endpoint_name_and_config_each_make_their_own_key() {
    let store = Arc::new(MapStore::default());
    let clock = Arc::new(ManualClock::new());
    let c = conn("https://app.example.com", [192, 0, 2, 1], &clock);
    let policies = [
        policy(store.clone(), "account:a", "x", 1),
        policy(store.clone(), "account:b", "x", 1),
        policy(store.clone(), "account:a", "y", 1),
        policy(store.clone(), "account:a", "x", 2),
        policy(store.clone(), "config", "x", 1),
    ];
    for p in &policies {
        assert_eq!(status(p, &c).await, StatusCode::OK);
    }
    let elsewhere = conn("https://other.example.com", [192, 0, 2, 1], &clock);
    assert_eq!(status(&policies[0], &elsewhere).await, StatusCode::OK);
    let keys = store.keys.lock().expect("lock").clone();
    assert_eq!(keys.len(), 6, "{keys:?}");
    for k in &keys {
        assert!(k.starts_with("sluice:rl:{") && k.ends_with('}'), "{k}");
        assert!(!k.contains("192.0.2.1"), "bucket values are hashed: {k}");
    }
}

#[tokio::test]
async fn a_failing_store_counts_on_this_edge() {
    let clock = Arc::new(ManualClock::new());
    let p = policy(Arc::new(Down), "account:acme", "api", 2);
    let c = conn("https://app.example.com", [192, 0, 2, 1], &clock);
    assert_eq!(status(&p, &c).await, StatusCode::OK);
    assert_eq!(status(&p, &c).await, StatusCode::OK);
    assert_eq!(status(&p, &c).await, StatusCode::TOO_MANY_REQUESTS);
}
