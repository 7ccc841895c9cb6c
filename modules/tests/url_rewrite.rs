//! `url-rewrite` through the real loader and the in-process harness.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use sluice_policy::Policy;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};

mod common;
use common::{load, load_err};

/// A policy with one `url-rewrite` whose config is the given flow mapping body.
fn policy(config: &str) -> Policy {
    load(&format!(
        "on_http_request:\n  - actions:\n      - type: url-rewrite\n        config: {{{config}}}\n"
    ))
}

async fn send(policy: &Policy, url: &str, headers: &[(&str, &str)]) -> Outcome {
    let clock = Arc::new(ManualClock::new());
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        clock,
    );
    let req = harness::request("GET", url, headers);
    harness::exchange(policy, &conn, req, Bytes::new(), &UpstreamReply::default()).await
}

fn upstream_path(out: &Outcome) -> &str {
    &out.upstream.as_ref().expect("forwarded").path_and_query
}

fn upstream_host(out: &Outcome) -> &str {
    out.upstream.as_ref().expect("forwarded").headers["host"]
        .to_str()
        .expect("ascii host")
}

fn result(out: &Outcome) -> serde_json::Value {
    common::result_of(out, "url_rewrite")
}

#[tokio::test]
async fn rewrites_path_and_query_with_captures() {
    let p = policy(r#"from: "/products/([0-9]+)$", to: "/items?id=$1""#);
    let out = send(&p, "https://app.example.com/products/17", &[]).await;
    assert_eq!(
        out.status,
        Some(StatusCode::OK),
        "the client sees no redirect"
    );
    assert!(!out.headers.contains_key("location"));
    assert_eq!(upstream_path(&out), "/items?id=17");
    assert_eq!(upstream_host(&out), "app.example.com");
    assert_eq!(
        result(&out),
        json!({"matches": ["/products/17", "17"], "url": "https://app.example.com/items?id=17"})
    );
}

#[tokio::test]
async fn replaces_every_match() {
    let p = policy(r#"from: "v1", to: "v2""#);
    let out = send(&p, "https://app.example.com/v1/users?api=v1", &[]).await;
    assert_eq!(upstream_path(&out), "/v2/users?api=v2");
    assert_eq!(result(&out)["matches"], json!(["v1", "v1"]));
}

#[tokio::test]
async fn changes_the_host_header_when_the_host_changes() {
    let p = policy(
        r#"from: "^https://app.example.com/api/(.*)", to: "https://api.internal:8443/${1}""#,
    );
    let out = send(&p, "https://app.example.com/api/users?x=1", &[]).await;
    assert_eq!(upstream_path(&out), "/users?x=1");
    assert_eq!(upstream_host(&out), "api.internal:8443");
}

#[tokio::test]
async fn default_port_is_not_written_into_host() {
    let p = policy(r#"from: "app.example.com", to: "other.example.com:443""#);
    let out = send(&p, "https://app.example.com/a", &[]).await;
    assert_eq!(upstream_host(&out), "other.example.com");
    assert_eq!(upstream_path(&out), "/a");
}

#[tokio::test]
async fn without_from_the_url_becomes_to_and_interpolation_is_not_escaped() {
    let p = policy(r#"to: "https://app.example.com/${req.headers['x-target'][0]}""#);
    let out = send(
        &p,
        "https://app.example.com/old",
        &[("x-target", "a/b?c=d")],
    )
    .await;
    assert_eq!(upstream_path(&out), "/a/b?c=d");
    assert_eq!(upstream_host(&out), "app.example.com");
}

#[tokio::test]
async fn no_match_leaves_the_request_alone() {
    let p = policy(r#"from: "/nothing-here", to: "/x""#);
    let out = send(&p, "https://app.example.com/keep?q=1", &[]).await;
    assert_eq!(upstream_path(&out), "/keep?q=1");
    assert_eq!(
        result(&out),
        json!({"matches": [], "url": "https://app.example.com/keep?q=1"})
    );
}

#[tokio::test]
async fn later_rules_see_the_new_url() {
    let p = load(
        "on_http_request:\n  - actions:\n      - type: url-rewrite\n        config: {from: '/old', to: '/new'}\n  - expressions: [\"req.url.path == '/new'\"]\n    actions:\n      - type: add-headers\n        config: {headers: {x-seen: '${req.url.path}'}}\n",
    );
    let out = send(&p, "https://app.example.com/old", &[]).await;
    let up = out.upstream.as_ref().expect("forwarded");
    assert_eq!(up.headers["x-seen"], "/new");
}

#[tokio::test]
async fn invalid_interpolated_regex_is_a_500() {
    let p = policy(r#"from: "${req.headers['x-re'][0]}", to: "/x""#);
    let out = send(&p, "https://app.example.com/a", &[("x-re", "(")]).await;
    assert_eq!(out.status, Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3901");
    assert!(out.upstream.is_none());
}

#[tokio::test]
async fn result_that_is_not_a_url_is_an_error() {
    let p = policy(r#"to: "not a url""#);
    let out = send(&p, "https://app.example.com/a", &[]).await;
    assert_eq!(out.status, Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert!(out.upstream.is_none());
}

#[tokio::test]
async fn load_errors_carry_the_path() {
    let err = load_err(
        "on_http_request:\n  - actions:\n      - type: url-rewrite\n        config: {from: '[a-', to: '/x'}\n",
    );
    assert!(
        err.contains("on_http_request[0].actions[0].config.from"),
        "{err}"
    );
    assert!(err.contains("ERR_SLUICE_2233"), "{err}");
    let err = load_err(
        "on_http_request:\n  - actions:\n      - type: url-rewrite\n        config: {from: '/a', to: '/x', status_code: 301}\n",
    );
    assert!(err.contains("status_code"), "{err}");
    let err = load_err(
        "on_http_response:\n  - actions:\n      - type: url-rewrite\n        config: {to: '/x'}\n",
    );
    assert!(err.contains("ERR_SLUICE_2202"), "{err}");
}
