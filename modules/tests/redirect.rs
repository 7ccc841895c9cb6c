//! `redirect` through the real loader and the in-process harness.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use sluice_policy::Policy;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};

mod common;
use common::{load, load_err};

/// A policy with one `redirect` whose config is the given flow mapping body.
fn policy(config: &str) -> Policy {
    load(&format!(
        "on_http_request:\n  - actions:\n      - type: redirect\n        config: {{{config}}}\n"
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

fn location(out: &Outcome) -> &str {
    out.headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a location header")
}

fn result(out: &Outcome) -> serde_json::Value {
    common::result_of(out, "redirect")
}

#[tokio::test]
async fn capture_groups_build_the_location() {
    let p = policy(
        r#"from: "^https://app.example.com/blog/(\\d+)/([a-z-]+)$", to: "https://blog.example.com/${2}/$1""#,
    );
    let out = send(&p, "https://app.example.com/blog/42/hello-world", &[]).await;
    assert_eq!(out.status, Some(StatusCode::FOUND));
    assert_eq!(location(&out), "https://blog.example.com/hello-world/42");
    assert!(out.upstream.is_none(), "a redirect is not forwarded");
    assert_eq!(
        result(&out),
        json!({
            "matches": ["https://app.example.com/blog/42/hello-world", "42", "hello-world"],
            "url": "https://blog.example.com/hello-world/42"
        })
    );
}

#[tokio::test]
async fn match_is_unanchored_and_replaces_only_the_match() {
    // The documented pitfall: only `/old` is replaced, so the new URL is glued after the host.
    let p = policy(r#"from: "/old", to: "https://new.example.com/blog""#);
    let out = send(&p, "https://app.example.com/old/page?x=1", &[]).await;
    assert_eq!(out.status, Some(StatusCode::FOUND));
    assert_eq!(
        location(&out),
        "https://app.example.comhttps://new.example.com/blog/page?x=1"
    );
}

#[tokio::test]
async fn only_the_first_match_is_replaced_and_query_is_part_of_the_url() {
    let p = policy(r#"from: "a=1", to: "a=2", status_code: 301"#);
    let out = send(&p, "https://app.example.com/p?a=1&b=a=1", &[]).await;
    assert_eq!(out.status, Some(StatusCode::MOVED_PERMANENTLY));
    assert_eq!(location(&out), "https://app.example.com/p?a=2&b=a=1");
}

#[tokio::test]
async fn no_redirect_when_nothing_matches_or_url_is_unchanged() {
    let p = policy(r#"from: "^http://", to: "https://""#);
    let out = send(&p, "https://app.example.com/x", &[]).await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert!(out.upstream.is_some());
    assert_eq!(result(&out)["url"], json!("https://app.example.com/x"));

    // Matches, but the replacement gives back the same URL.
    let p = policy(r#"from: "/x$", to: "/x""#);
    let out = send(&p, "https://app.example.com/x", &[]).await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert!(out.upstream.is_some());
}

#[tokio::test]
async fn without_from_the_whole_url_is_replaced_with_headers() {
    let p = policy(
        r#"to: "https://www.example.com/", status_code: 308, headers: {cache-control: "no-store", x-from: "${req.url.path}"}"#,
    );
    let out = send(&p, "https://app.example.com/anything?q=1", &[]).await;
    assert_eq!(out.status, Some(StatusCode::PERMANENT_REDIRECT));
    assert_eq!(location(&out), "https://www.example.com/");
    assert_eq!(out.headers["cache-control"], "no-store");
    assert_eq!(out.headers["x-from"], "/anything");
}

#[tokio::test]
async fn interpolated_values_are_url_escaped() {
    let p = policy(
        r#"from: "^https://app.example.com/weather$", to: "https://weather.example.com/${req.headers['x-city'][0]}?u=$$1""#,
    );
    let out = send(
        &p,
        "https://app.example.com/weather",
        &[("x-city", "San Francisco/$1")],
    )
    .await;
    assert_eq!(out.status, Some(StatusCode::FOUND));
    // Space and `/` escaped; the `$` of the value is literal, not a capture reference.
    assert_eq!(
        location(&out),
        "https://weather.example.com/San%20Francisco%2F$1?u=$1"
    );
}

#[tokio::test]
async fn templated_from_is_compiled_per_request() {
    let p = policy(r#"from: "${req.headers['x-old'][0]}{1}/", to: "new/""#);
    let out = send(
        &p,
        "https://app.example.com/legacy/a",
        &[("x-old", "legacy")],
    )
    .await;
    assert_eq!(location(&out), "https://app.example.com/new/a");
    let out = send(&p, "https://app.example.com/other/a", &[("x-old", "other")]).await;
    assert_eq!(location(&out), "https://app.example.com/new/a");
    // Values are URL-escaped (`(` becomes `%28`), but an empty one leaves `{1}/`, which is
    // not a regex: a runtime error.
    let out = send(&p, "https://app.example.com/(/a", &[("x-old", "(")]).await;
    assert_eq!(out.status, Some(StatusCode::OK));
    let out = send(&p, "https://app.example.com/x", &[("x-old", "")]).await;
    assert_eq!(out.status, Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3901");
    assert_eq!(result(&out)["error"]["code"], json!("ERR_SLUICE_3901"));
}

#[tokio::test]
async fn status_code_must_be_3xx() {
    let err = load_err(
        "on_http_request:\n  - actions:\n      - type: redirect\n        config: {to: 'https://x.example.com', status_code: 200}\n",
    );
    assert!(
        err.contains("on_http_request[0].actions[0].config.status_code"),
        "{err}"
    );
    assert!(err.contains("3xx"), "{err}");
    assert!(err.contains("ERR_SLUICE_2215"), "{err}");
}

#[tokio::test]
async fn invalid_static_regex_is_a_load_error() {
    let err = load_err(
        "on_http_request:\n  - actions:\n      - type: redirect\n        config: {from: '/(unclosed', to: '/x'}\n",
    );
    assert!(
        err.contains("on_http_request[0].actions[0].config.from"),
        "{err}"
    );
    assert!(err.contains("ERR_SLUICE_2233"), "{err}");
}

#[tokio::test]
async fn to_is_required_and_headers_are_capped() {
    let err = load_err(
        "on_http_request:\n  - actions:\n      - type: redirect\n        config: {from: '/a'}\n",
    );
    assert!(err.contains("to"), "{err}");
    let headers: Vec<String> = (0..11).map(|i| format!("x-h{i}: v")).collect();
    let err = load_err(&format!(
        "on_http_request:\n  - actions:\n      - type: redirect\n        config: {{to: '/x', headers: {{{}}}}}\n",
        headers.join(", ")
    ));
    assert!(err.contains("config.headers"), "{err}");
    assert!(err.contains("ERR_SLUICE_2218"), "{err}");
}

#[tokio::test]
async fn redirect_ends_the_phase() {
    let p = load(
        "on_http_request:\n  - actions:\n      - type: redirect\n        config: {to: 'https://www.example.com/'}\n  - actions:\n      - type: custom-response\n        config: {status_code: 418}\n",
    );
    let out = send(&p, "https://app.example.com/", &[]).await;
    assert_eq!(out.status, Some(StatusCode::FOUND));
    assert_eq!(out.exchange.fired.len(), 1);
}
