//! `request-body-find-replace` and `response-body-find-replace` through the real loader and
//! the in-process harness (which applies the installed body transforms).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use sluice_policy::Policy;
use sluice_policy::cel::value::to_json;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};

mod common;
use common::{load, load_err};

fn request_policy(replacements: &str) -> Policy {
    load(&format!(
        "on_http_request:\n  - actions:\n      - type: request-body-find-replace\n        config: {{replacements: [{replacements}]}}\n"
    ))
}

fn response_policy(replacements: &str) -> Policy {
    load(&format!(
        "on_http_response:\n  - actions:\n      - type: response-body-find-replace\n        config: {{replacements: [{replacements}]}}\n"
    ))
}

fn reply(body: &str) -> UpstreamReply {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/plain"));
    headers.insert(
        "content-length",
        HeaderValue::from_str(&body.len().to_string()).expect("number"),
    );
    UpstreamReply {
        status: StatusCode::OK,
        headers,
        body: Bytes::from(body.to_string()),
        trailers: HeaderMap::new(),
    }
}

async fn send(
    policy: &Policy,
    headers: &[(&str, &str)],
    body: &[u8],
    reply: &UpstreamReply,
) -> Outcome {
    let clock = Arc::new(ManualClock::new());
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        clock,
    );
    let req = harness::request("POST", "https://app.example.com/submit", headers);
    harness::exchange(policy, &conn, req, Bytes::copy_from_slice(body), reply).await
}

#[tokio::test]
async fn request_body_is_rewritten_in_order_with_captures() {
    let p = request_policy(
        r#"{from: "(\\w+)@example\\.com", to: "$1@example.org"}, {from: "org", to: "net"}"#,
    );
    let body = b"to=a@example.com&cc=b@example.com";
    let len = body.len().to_string();
    let out = send(
        &p,
        &[("content-length", &len)],
        body,
        &UpstreamReply::default(),
    )
    .await;
    let up = out.upstream.as_ref().expect("forwarded");
    assert_eq!(
        up.body,
        Bytes::from_static(b"to=a@example.net&cc=b@example.net")
    );
    assert!(
        !up.headers.contains_key("content-length"),
        "a stale content-length must not be forwarded"
    );
    assert_eq!(
        out.exchange
            .results()
            .get("request_body_find_replace")
            .map(to_json),
        Some(json!({"replacements": [{"replacement_index": 0}, {"replacement_index": 1}]}))
    );
}

#[tokio::test]
async fn empty_to_deletes_and_interpolation_works() {
    let p = request_policy(
        r#"{from: "password=[^&]*&?", to: ""}, {from: "${req.headers['x-secret'][0]}", to: "${req.url.path}"}"#,
    );
    let out = send(
        &p,
        &[("x-secret", "token42")],
        b"user=bob&password=hunter2&k=token42",
        &UpstreamReply::default(),
    )
    .await;
    let up = out.upstream.as_ref().expect("forwarded");
    assert_eq!(up.body, Bytes::from_static(b"user=bob&k=/submit"));
}

#[tokio::test]
async fn non_utf8_bodies_are_rewritten_bytewise() {
    let p = request_policy(r#"{from: "abc", to: "xyz"}"#);
    let out = send(&p, &[], b"\xff\xfeabc\x00", &UpstreamReply::default()).await;
    let up = out.upstream.as_ref().expect("forwarded");
    assert_eq!(up.body, Bytes::from_static(b"\xff\xfexyz\x00"));
}

#[tokio::test]
async fn response_body_is_rewritten_and_length_dropped() {
    let p = response_policy(r#"{from: "http://internal:8080", to: "https://app.example.com"}"#);
    let upstream = reply("see http://internal:8080/a and http://internal:8080/b");
    let out = send(&p, &[], b"", &upstream).await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert_eq!(
        out.body,
        Bytes::from_static(b"see https://app.example.com/a and https://app.example.com/b")
    );
    assert!(!out.headers.contains_key("content-length"));
    assert_eq!(out.headers["content-type"], "text/plain");
    assert_eq!(
        out.exchange
            .results()
            .get("response_body_find_replace")
            .map(to_json),
        Some(json!({"replacements": [{"replacement_index": 0}]}))
    );
}

#[tokio::test]
async fn policy_made_responses_are_rewritten_directly() {
    let p = load(
        "on_http_request:\n  - actions:\n      - type: custom-response\n        config: {status_code: 200, body: 'Hello, World!'}\non_http_response:\n  - actions:\n      - type: response-body-find-replace\n        config: {replacements: [{from: 'World', to: 'sluice'}]}\n",
    );
    let out = send(&p, &[], b"", &UpstreamReply::default()).await;
    assert!(out.upstream.is_none());
    assert_eq!(out.body, Bytes::from_static(b"Hello, sluice!"));
}

#[tokio::test]
async fn too_large_bodies_fail() {
    let p = request_policy(r#"{from: "a", to: "b"}"#);
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let out = send(&p, &[], &big, &UpstreamReply::default()).await;
    let up = out.upstream.as_ref().expect("forwarded");
    // The harness forwards a transform error's text in place of the body.
    assert_eq!(
        up.body,
        Bytes::from_static(b"body exceeds the 10485760-byte limit for buffering")
    );

    // Exactly at the limit is fine.
    let limit = vec![b'a'; 10 * 1024 * 1024];
    let out = send(&p, &[], &limit, &UpstreamReply::default()).await;
    let up = out.upstream.as_ref().expect("forwarded");
    assert_eq!(up.body.len(), limit.len());
    assert!(up.body.iter().all(|b| *b == b'b'));
}

#[tokio::test]
async fn invalid_interpolated_regex_is_a_500() {
    let p = response_policy(r#"{from: "${req.headers['x-re'][0]}", to: "x"}"#);
    let out = send(&p, &[("x-re", "[z-a]")], b"", &reply("body")).await;
    assert_eq!(out.status, Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3901");
}

#[tokio::test]
async fn load_errors_carry_the_path() {
    let err = load_err(
        "on_http_request:\n  - actions:\n      - type: request-body-find-replace\n        config: {replacements: [{from: a, to: b}, {from: '(', to: b}]}\n",
    );
    assert!(
        err.contains("on_http_request[0].actions[0].config.replacements[1].from"),
        "{err}"
    );
    assert!(err.contains("ERR_SLUICE_2233"), "{err}");

    let err = load_err(
        "on_http_response:\n  - actions:\n      - type: response-body-find-replace\n        config: {replacements: []}\n",
    );
    assert!(err.contains("config.replacements"), "{err}");

    let err = load_err(
        "on_http_request:\n  - actions:\n      - type: request-body-find-replace\n        config: {replacements: [{to: b}]}\n",
    );
    assert!(err.contains("from"), "{err}");

    let err = load_err(
        "on_http_response:\n  - actions:\n      - type: request-body-find-replace\n        config: {replacements: [{from: a}]}\n",
    );
    assert!(err.contains("ERR_SLUICE_2202"), "{err}");
}
