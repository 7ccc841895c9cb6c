//! `restrict-ips` through the real loader and the in-process harness.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use sluice_policy::cel::value::to_json;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{LoadOptions, Policy, load_policy};

mod common;

fn load(yaml: &str) -> Result<Policy, String> {
    load_policy(
        "t.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .map_err(|e| e.to_string())
}

fn policy(phase: &str, config: &str) -> Policy {
    load(&format!(
        "{phase}:\n  - actions:\n      - type: restrict-ips\n        config: {config}\n"
    ))
    .expect("loads")
}

fn load_err(config: &str) -> String {
    load(&format!(
        "on_http_request:\n  - actions:\n      - type: restrict-ips\n        config: {config}\n"
    ))
    .expect_err("must not load")
}

fn conn_from(client: &str) -> TestConn {
    let ip: std::net::IpAddr = client.parse().expect("test IP");
    TestConn {
        client: SocketAddr::new(ip, 40000),
        ..TestConn::default()
    }
}

async fn send(policy: &Policy, client: &str, headers: &[(&str, &str)]) -> Outcome {
    let conn = harness::connection(
        &conn_from(client),
        harness::endpoint("https://app.example.com"),
        Arc::new(ManualClock::new()),
    );
    let req = harness::request("GET", "https://app.example.com/x", headers);
    harness::exchange(policy, &conn, req, Bytes::new(), &UpstreamReply::default()).await
}

fn result(out: &Outcome) -> serde_json::Value {
    common::result_of(out, "restrict_ips")
}

fn assert_allowed(out: &Outcome, matched: &str) {
    assert_eq!(out.status, Some(StatusCode::OK));
    assert!(out.upstream.is_some());
    assert_eq!(
        result(out),
        json!({"action": "allow", "matched_cidr": matched})
    );
}

fn assert_denied(out: &Outcome, matched: &str) {
    assert_eq!(out.status, Some(StatusCode::FORBIDDEN));
    assert!(out.upstream.is_none());
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3205");
    let r = result(out);
    assert_eq!(r["action"], json!("deny"));
    assert_eq!(r["matched_cidr"], json!(matched));
    assert_eq!(r["error"]["code"], json!("ERR_SLUICE_3205"));
}

#[tokio::test]
async fn tcp_connect_closes_denied_connections() {
    let p = policy("on_tcp_connect", "{allow: [198.51.100.0/24]}");
    let clock = Arc::new(ManualClock::new());
    let ep = || harness::endpoint("tcp://1.tcp.example.com:20000");
    let mut denied = harness::connection(&conn_from("203.0.113.7"), ep(), clock.clone());
    assert!(harness::tcp_connect(&p, &mut denied).await);
    let r = to_json(&denied.results["restrict_ips"]);
    assert_eq!(r["action"], json!("deny"));
    assert_eq!(r["error"]["code"], json!("ERR_SLUICE_3205"));
    let mut allowed = harness::connection(&conn_from("198.51.100.20"), ep(), clock);
    assert!(!harness::tcp_connect(&p, &mut allowed).await);
    assert_eq!(
        to_json(&allowed.results["restrict_ips"]),
        json!({"action": "allow", "matched_cidr": "198.51.100.0/24"})
    );
}

#[tokio::test]
async fn deny_only_allows_everything_else() {
    let p = policy("on_http_request", "{deny: [10.0.0.0/8, 192.0.2.1]}");
    assert_denied(&send(&p, "10.1.2.3", &[]).await, "10.0.0.0/8");
    assert_denied(&send(&p, "192.0.2.1", &[]).await, "192.0.2.1/32");
    assert_allowed(&send(&p, "192.0.2.2", &[]).await, "");
    assert_allowed(&send(&p, "203.0.113.7", &[]).await, "");
}

#[tokio::test]
async fn allow_and_deny_combine() {
    let p = policy(
        "on_http_request",
        "{allow: [10.0.0.0/8], deny: [10.0.0.0/24]}",
    );
    assert_allowed(&send(&p, "10.1.0.5", &[]).await, "10.0.0.0/8");
    assert_denied(&send(&p, "10.0.0.5", &[]).await, "10.0.0.0/24");
    assert_denied(&send(&p, "192.168.1.1", &[]).await, "");
}

#[tokio::test]
async fn ipv6_and_mapped_ipv4() {
    let p = policy(
        "on_http_request",
        "{allow: ['2001:db8::/32', 10.0.0.0/8], deny: ['2001:db8:dead::1']}",
    );
    assert_allowed(&send(&p, "2001:db8::1", &[]).await, "2001:db8::/32");
    assert_denied(&send(&p, "2001:db9::1", &[]).await, "");
    assert_denied(
        &send(&p, "2001:db8:dead::1", &[]).await,
        "2001:db8:dead::1/128",
    );
    assert_allowed(&send(&p, "::ffff:10.9.8.7", &[]).await, "10.0.0.0/8");
    assert_denied(&send(&p, "::ffff:11.9.8.7", &[]).await, "");
    let p = policy("on_http_request", "{deny: [10.9.8.7]}");
    assert_denied(&send(&p, "::ffff:10.9.8.7", &[]).await, "10.9.8.7/32");
}

#[tokio::test]
async fn forwarded_headers_are_ignored() {
    let spoof = [
        ("x-forwarded-for", "10.0.0.1"),
        ("x-real-ip", "10.0.0.1"),
        ("forwarded", "for=10.0.0.1"),
    ];
    let p = policy("on_http_request", "{allow: [10.0.0.0/8]}");
    assert_denied(&send(&p, "203.0.113.7", &spoof).await, "");
    let p = policy("on_http_request", "{deny: [203.0.113.0/24]}");
    assert_denied(&send(&p, "203.0.113.7", &spoof).await, "203.0.113.0/24");
}

#[tokio::test]
async fn enforce_false_reports_and_continues() {
    let p = policy(
        "on_http_request",
        "{deny: [203.0.113.0/24], enforce: false}",
    );
    let out = send(&p, "203.0.113.7", &[]).await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert!(out.upstream.is_some());
    let r = result(&out);
    assert_eq!(r["action"], json!("deny"));
    assert_eq!(r["error"]["code"], json!("ERR_SLUICE_3205"));
}

#[tokio::test]
async fn response_phase_replaces_the_response() {
    let p = policy("on_http_response", "{deny: [203.0.113.7]}");
    let out = send(&p, "203.0.113.7", &[]).await;
    assert_eq!(out.status, Some(StatusCode::FORBIDDEN));
    assert!(
        out.upstream.is_some(),
        "the upstream was called before the response phase"
    );
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3205");
    assert_eq!(
        send(&p, "203.0.113.8", &[]).await.status,
        Some(StatusCode::OK)
    );
}

#[tokio::test]
async fn templated_entries() {
    let yaml = r#"on_http_request:
  - actions:
      - type: set-vars
        config: {vars: [{nets: ["198.51.100.0/24", "2001:db8::/32"]}, {one: 203.0.113.0}]}
      - type: restrict-ips
        config: {allow: ["${vars.nets}", "${vars.one}/24"]}
"#;
    let p = load(yaml).expect("loads");
    assert_allowed(&send(&p, "198.51.100.9", &[]).await, "198.51.100.0/24");
    assert_allowed(&send(&p, "2001:db8::5", &[]).await, "2001:db8::/32");
    assert_allowed(&send(&p, "203.0.113.7", &[]).await, "203.0.113.0/24");
    assert_denied(&send(&p, "192.0.2.1", &[]).await, "");
}

#[test]
fn load_errors_name_the_entry() {
    let e = load_err("{allow: [10.0.0.0/8, 10.0.0.300/8]}");
    assert!(
        e.contains("on_http_request[0].actions[0].config.allow[1]"),
        "{e}"
    );
    assert!(
        e.contains("allow entry 1") && e.contains("ERR_SLUICE_2204"),
        "{e}"
    );
    let e = load_err("{deny: ['2001:db8::/129']}");
    assert!(e.contains("config.deny[0]"), "{e}");
    let e = load_err("{deny: [example.com]}");
    assert!(e.contains("config.deny[0]"), "{e}");
    let e = load_err("{enforce: true}");
    assert!(
        e.contains("on_http_request[0].actions[0].config") && e.contains("allow"),
        "{e}"
    );
    // Loaded with no edge config at hand (see restrict_ips_named.rs for the rest).
    let e = load_err("{ip_policies: [ipp_123]}");
    assert!(e.contains("config.ip_policies"), "{e}");
    assert!(e.contains("loaded without one"), "{e}");
    let e = load_err("{allow: [10.0.0.0/8], other: 1}");
    assert!(e.contains("other"), "{e}");
    let e = load_err("{allow: ['${nope.x}']}");
    assert!(e.contains("config.allow[0]"), "{e}");
}
