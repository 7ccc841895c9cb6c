//! `rate-limit` through the real loader and the in-process harness, on virtual time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{Connection, Policy};

mod common;
use common::{load, load_err};

fn policy(capacity: u64, extra: &str) -> Policy {
    load(&format!(
        "on_http_request:\n  - actions:\n      - type: rate-limit\n        config: {{name: api, algorithm: sliding_window, capacity: {capacity}, rate: 60s, bucket_key: [conn.client_ip]{extra}}}\n"
    ))
}

fn conn_from(ip: [u8; 4], clock: &Arc<ManualClock>) -> Connection {
    let test_conn = TestConn {
        client: SocketAddr::from((ip, 50000)),
        ..TestConn::default()
    };
    harness::connection(
        &test_conn,
        harness::endpoint("https://app.example.com"),
        clock.clone(),
    )
}

async fn send_method(policy: &Policy, conn: &Connection, method: &str) -> Outcome {
    let req = harness::request(method, "https://app.example.com/api", &[]);
    harness::exchange(
        policy,
        conn,
        req,
        bytes::Bytes::new(),
        &UpstreamReply::default(),
    )
    .await
}

async fn send(policy: &Policy, conn: &Connection) -> Outcome {
    send_method(policy, conn, "GET").await
}

fn result(out: &Outcome) -> serde_json::Value {
    common::result_of(out, "rate_limit")
}

fn assert_passed(out: &Outcome) {
    assert_eq!(out.status, Some(StatusCode::OK));
    assert!(out.upstream.is_some(), "request should reach the upstream");
    assert_eq!(result(out)["limited"], json!(false));
}

fn assert_limited(out: &Outcome) {
    assert_eq!(out.status, Some(StatusCode::TOO_MANY_REQUESTS));
    assert!(
        out.upstream.is_none(),
        "a limited request must not reach the upstream"
    );
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_2800");
    assert_eq!(result(out)["limited"], json!(true));
}

#[tokio::test]
async fn capacity_passes_then_429_with_retry_after() {
    let clock = Arc::new(ManualClock::new());
    let p = policy(3, "");
    let conn = conn_from([203, 0, 113, 7], &clock);
    for _ in 0..3 {
        let out = send(&p, &conn).await;
        assert_passed(&out);
        assert_eq!(result(&out)["bucket_key"], json!("203.0.113.7"));
    }
    let out = send(&p, &conn).await;
    assert_limited(&out);
    // Next window starts in 60s (the wait is capped at the window).
    assert_eq!(out.headers["retry-after"], "60");
    let r = result(&out);
    assert_eq!(r["error"]["code"], json!("ERR_SLUICE_2800"));
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    // Refused requests are not counted, and do not reset anything.
    for _ in 0..5 {
        assert_limited(&send(&p, &conn).await);
    }
}

#[tokio::test]
async fn capacity_returns_as_the_window_slides() {
    let clock = Arc::new(ManualClock::new());
    let p = policy(3, "");
    let conn = conn_from([203, 0, 113, 7], &clock);
    for _ in 0..3 {
        assert_passed(&send(&p, &conn).await);
    }
    // A fixed window would reset at 60s; the sliding estimate still weighs the last window
    // fully there: 3 * (1 - 0/60) + 1 > 3.
    clock.advance(Duration::from_secs(60));
    assert_limited(&send(&p, &conn).await);
    // At 79s: 3 * (1 - 19/60) = 2.05, + 1 > 3.
    clock.advance(Duration::from_secs(19));
    let out = send(&p, &conn).await;
    assert_limited(&out);
    assert_eq!(out.headers["retry-after"], "1");
    // At 80s: 3 * (1 - 20/60) = 2, so exactly one more fits.
    clock.advance(Duration::from_secs(1));
    assert_passed(&send(&p, &conn).await);
    assert_limited(&send(&p, &conn).await);
    // Two full windows later the whole capacity is back.
    clock.advance(Duration::from_secs(120));
    for _ in 0..3 {
        assert_passed(&send(&p, &conn).await);
    }
    assert_limited(&send(&p, &conn).await);
}

#[tokio::test]
async fn bucket_keys_are_independent() {
    let clock = Arc::new(ManualClock::new());
    let p = policy(2, "");
    let a = conn_from([203, 0, 113, 7], &clock);
    let b = conn_from([198, 51, 100, 9], &clock);
    for _ in 0..2 {
        assert_passed(&send(&p, &a).await);
    }
    assert_limited(&send(&p, &a).await);
    for _ in 0..2 {
        let out = send(&p, &b).await;
        assert_passed(&out);
        assert_eq!(result(&out)["bucket_key"], json!("198.51.100.9"));
    }
    assert_limited(&send(&p, &b).await);
    // A second connection from the same client shares its bucket.
    assert_limited(&send(&p, &conn_from([203, 0, 113, 7], &clock)).await);
}

#[tokio::test]
async fn several_keys_make_one_bucket_per_combination() {
    let clock = Arc::new(ManualClock::new());
    let p = load(
        "on_http_request:\n  - actions:\n      - type: rate-limit\n        config:\n          name: combo\n          algorithm: sliding_window\n          capacity: 1\n          rate: 10m\n          bucket_key: [conn.client_ip, req.method]\n",
    );
    let conn = conn_from([203, 0, 113, 7], &clock);
    let out = send_method(&p, &conn, "GET").await;
    assert_passed(&out);
    assert_eq!(result(&out)["bucket_key"], json!("203.0.113.7,GET"));
    assert_limited(&send_method(&p, &conn, "GET").await);
    let out = send_method(&p, &conn, "POST").await;
    assert_passed(&out);
    assert_eq!(result(&out)["bucket_key"], json!("203.0.113.7,POST"));
    assert_limited(&send_method(&p, &conn, "POST").await);
}

#[tokio::test]
async fn each_action_has_its_own_counts() {
    let clock = Arc::new(ManualClock::new());
    let yaml = "on_http_request:\n  - actions:\n      - type: rate-limit\n        config: {name: a, algorithm: sliding_window, capacity: 1, rate: 60s, bucket_key: [conn.client_ip]}\n";
    let (p1, p2) = (load(yaml), load(yaml));
    let conn = conn_from([203, 0, 113, 7], &clock);
    assert_passed(&send(&p1, &conn).await);
    assert_limited(&send(&p1, &conn).await);
    assert_passed(&send(&p2, &conn).await);
}

#[tokio::test]
async fn enforce_false_passes_but_reports_limited() {
    let clock = Arc::new(ManualClock::new());
    let p = policy(1, ", enforce: false");
    let conn = conn_from([203, 0, 113, 7], &clock);
    let first = send(&p, &conn).await;
    assert_passed(&first);
    assert!(result(&first).get("error").is_none());
    for _ in 0..3 {
        let out = send(&p, &conn).await;
        assert_eq!(out.status, Some(StatusCode::OK));
        assert!(out.upstream.is_some());
        assert!(out.headers.get("retry-after").is_none());
        let r = result(&out);
        assert_eq!(r["limited"], json!(true));
        assert_eq!(r["error"]["code"], json!("ERR_SLUICE_2800"));
    }
}

#[tokio::test]
async fn later_rules_see_the_result() {
    let clock = Arc::new(ManualClock::new());
    let p = load(
        "on_http_request:\n  - actions:\n      - type: rate-limit\n        config: {name: a, enforce: false, algorithm: sliding_window, capacity: 1, rate: 60s, bucket_key: [conn.client_ip]}\n  - expressions: [actions.ngrok.rate_limit.limited]\n    actions:\n      - type: custom-response\n        config: {status_code: 418}\n",
    );
    let conn = conn_from([203, 0, 113, 7], &clock);
    assert_eq!(send(&p, &conn).await.status, Some(StatusCode::OK));
    assert_eq!(send(&p, &conn).await.status, Some(StatusCode::IM_A_TEAPOT));
}

#[tokio::test]
async fn a_failing_bucket_key_is_a_500() {
    let clock = Arc::new(ManualClock::new());
    let p = load(
        "on_http_request:\n  - actions:\n      - type: rate-limit\n        config: {name: a, algorithm: sliding_window, capacity: 5, rate: 60s, bucket_key: [\"req.headers['x-api-key'][0]\"]}\n",
    );
    let conn = conn_from([203, 0, 113, 7], &clock);
    let out = send(&p, &conn).await;
    assert_eq!(out.status, Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert!(out.upstream.is_none());
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_2253");
    let req = harness::request("GET", "https://app.example.com/", &[("x-api-key", "k1")]);
    let out = harness::exchange(
        &p,
        &conn,
        req,
        bytes::Bytes::new(),
        &UpstreamReply::default(),
    )
    .await;
    assert_passed(&out);
    assert_eq!(result(&out)["bucket_key"], json!("k1"));
}

/// A policy with one rate-limit action whose config is `config` (flow-style YAML map body).
fn with_config(config: &str) -> String {
    format!(
        "on_http_request:\n  - actions:\n      - type: rate-limit\n        config: {{{config}}}\n"
    )
}

const BASE: &str = "name: api, algorithm: sliding_window, rate: 60s, bucket_key: [conn.client_ip]";

#[test]
fn load_errors_name_the_field() {
    let at = "on_http_request[0].actions[0].config";
    let cases: Vec<(String, String, &str)> = vec![
        (format!("{BASE}, capacity: 0"), format!("{at}.capacity"), "between 1 and 2000000000"),
        (format!("{BASE}, capacity: 2000000001"), format!("{at}.capacity"), "between 1 and 2000000000"),
        (
            "name: api, algorithm: sliding_window, capacity: 5, rate: 61s, bucket_key: [conn.client_ip]".into(),
            format!("{at}.rate"),
            "multiple of 10s",
        ),
        (
            "name: api, algorithm: sliding_window, capacity: 5, rate: 50s, bucket_key: [conn.client_ip]".into(),
            format!("{at}.rate"),
            "between 60s and 24h",
        ),
        (
            "name: api, algorithm: sliding_window, capacity: 5, rate: 25h, bucket_key: [conn.client_ip]".into(),
            format!("{at}.rate"),
            "between 60s and 24h",
        ),
        (
            "name: api, algorithm: sliding_window, capacity: 5, rate: soon, bucket_key: [conn.client_ip]".into(),
            format!("{at}.rate"),
            "not a duration",
        ),
        (
            "name: api, algorithm: fixed, capacity: 5, rate: 60s, bucket_key: [conn.client_ip]".into(),
            format!("{at}.algorithm"),
            "sliding_window",
        ),
        (
            format!(
                "name: api, algorithm: sliding_window, capacity: 5, rate: 60s, bucket_key: [{}]",
                ["conn.client_ip"; 11].join(", ")
            ),
            format!("{at}.bucket_key"),
            "at most 10",
        ),
        (
            "name: api, algorithm: sliding_window, capacity: 5, rate: 60s, bucket_key: []".into(),
            format!("{at}.bucket_key"),
            "at least one",
        ),
        (
            "name: api, algorithm: sliding_window, capacity: 5, rate: 60s, bucket_key: [conn.client_ip, nope.x]".into(),
            format!("{at}.bucket_key[1]"),
            "unknown variable `nope`",
        ),
        (
            "name: api, algorithm: sliding_window, capacity: 5, rate: 60s, bucket_key: ['${conn.client_ip}']".into(),
            format!("{at}.bucket_key[0]"),
            "not `${…}` templates",
        ),
        (format!("{BASE}, capacity: 5, burst: 2"), format!("{at}.burst"), "unknown field `burst`"),
        (format!("{BASE}, capacity: 5, name: ''").replacen("name: api, ", "", 1), format!("{at}.name"), "must not be empty"),
        (
            format!("{BASE}, capacity: 5").replacen("name: api", &format!("name: {}", "n".repeat(1024)), 1),
            format!("{at}.name"),
            "fewer than 1024",
        ),
        (
            "name: api, algorithm: sliding_window, rate: 60s, bucket_key: [conn.client_ip]".into(),
            at.to_string(),
            "missing required field `capacity`",
        ),
    ];
    for (config, path, message) in cases {
        let err = load_err(&with_config(&config));
        assert!(
            err.contains(&format!("{path}: ")) && err.contains(message),
            "config {{{config}}}: expected {path:?} and {message:?} in:\n{err}"
        );
    }
}

#[test]
fn accepts_valid_configs_and_only_the_request_phase() {
    for rate in ["60s", "90s", "1m30s", "10m", "24h", "2h"] {
        load(&with_config(&format!(
            "name: api, algorithm: sliding_window, capacity: 2000000000, rate: {rate}, bucket_key: [conn.client_ip, \"getReqHeader('x-api-key')\"]"
        )));
    }
    load(&with_config(&format!(
        "{}, capacity: 1",
        BASE.replacen("name: api", &format!("name: {}", "n".repeat(1023)), 1)
    )));
    let err = load_err(&format!(
        "on_http_response:\n  - actions:\n      - type: rate-limit\n        config: {{{BASE}, capacity: 1}}\n"
    ));
    assert!(err.contains("on_http_response[0].actions[0]"), "{err}");
    assert!(err.contains("ERR_SLUICE_2202"), "{err}");
    let err = load_err("on_http_request:\n  - actions:\n      - type: rate-limit\n");
    assert!(err.contains("missing `config`"), "{err}");
}
