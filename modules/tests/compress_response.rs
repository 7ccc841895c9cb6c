//! `compress-response` driven through the real loader and the in-process harness.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{LoadOptions, Policy, load_policy};

mod common;

/// A compressible upstream body.
const BODY: &str = "hello hello hello compressible world, hello hello hello compressible world\n";

fn policy(config: &str) -> Policy {
    let yaml =
        format!("on_http_response:\n  - actions:\n      - type: compress-response\n{config}");
    load_policy(
        "t.yml",
        &yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect("loads")
}

fn default_policy() -> Policy {
    policy("")
}

fn upstream(status: u16, headers: &[(&str, &str)], body: &str) -> UpstreamReply {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            http::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    UpstreamReply {
        status: StatusCode::from_u16(status).expect("status"),
        headers: map,
        body: Bytes::copy_from_slice(body.as_bytes()),
        trailers: HeaderMap::new(),
    }
}

fn text_upstream() -> UpstreamReply {
    let len = BODY.len().to_string();
    upstream(
        200,
        &[("content-type", "text/plain"), ("content-length", &len)],
        BODY,
    )
}

async fn send_as(
    p: &Policy,
    method: &str,
    headers: &[(&str, &str)],
    reply: &UpstreamReply,
) -> Outcome {
    let clock = Arc::new(ManualClock::new());
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        clock,
    );
    let req = harness::request(method, "https://app.example.com/x", headers);
    harness::exchange(p, &conn, req, Bytes::new(), reply).await
}

async fn send(p: &Policy, headers: &[(&str, &str)], reply: &UpstreamReply) -> Outcome {
    send_as(p, "GET", headers, reply).await
}

fn header(out: &Outcome, name: http::header::HeaderName) -> Option<&str> {
    out.headers.get(name).and_then(|v| v.to_str().ok())
}

fn result(out: &Outcome) -> serde_json::Value {
    common::result_of(out, "compress")
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

#[tokio::test]
async fn gzip_chosen_by_q_values_and_round_trips() {
    let p = default_policy();
    let out = send(
        &p,
        &[("accept-encoding", "br;q=0.5, gzip;q=1.0, *;q=0")],
        &text_upstream(),
    )
    .await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert_eq!(header(&out, CONTENT_ENCODING), Some("gzip"));
    assert_ne!(&out.body[..], BODY.as_bytes());
    assert_eq!(gunzip(&out.body), BODY.as_bytes());
    let r = result(&out);
    assert_eq!(r["negotiated_algorithm"], "gzip");
    assert_eq!(r["already_compressed"], false);
}

#[tokio::test]
async fn brotli_when_preferred() {
    let p = default_policy();
    let out = send(
        &p,
        &[("accept-encoding", "gzip;q=0.2, br")],
        &text_upstream(),
    )
    .await;
    assert_eq!(header(&out, CONTENT_ENCODING), Some("br"));
    let mut decoded = Vec::new();
    brotli::Decompressor::new(&out.body[..], 4096)
        .read_to_end(&mut decoded)
        .expect("valid brotli");
    assert_eq!(decoded, BODY.as_bytes());
    assert_eq!(result(&out)["negotiated_algorithm"], "br");
}

#[tokio::test]
async fn deflate_is_zlib_format() {
    let p = default_policy();
    let out = send(&p, &[("accept-encoding", "deflate")], &text_upstream()).await;
    assert_eq!(header(&out, CONTENT_ENCODING), Some("deflate"));
    let mut decoded = Vec::new();
    flate2::read::ZlibDecoder::new(&out.body[..])
        .read_to_end(&mut decoded)
        .expect("valid zlib");
    assert_eq!(decoded, BODY.as_bytes());
    assert_eq!(result(&out)["negotiated_algorithm"], "deflate");
}

#[tokio::test]
async fn configured_order_breaks_ties() {
    let p = policy("        config: {algorithms: [br, gzip]}\n");
    let out = send(
        &p,
        &[("accept-encoding", "gzip, br, deflate")],
        &text_upstream(),
    )
    .await;
    assert_eq!(header(&out, CONTENT_ENCODING), Some("br"));
    // deflate is not configured, so a client that only takes deflate gets identity.
    let out = send(&p, &[("accept-encoding", "deflate")], &text_upstream()).await;
    assert_eq!(header(&out, CONTENT_ENCODING), None);
    assert_eq!(&out.body[..], BODY.as_bytes());
}

#[tokio::test]
async fn no_accept_encoding_leaves_response_unchanged() {
    let p = default_policy();
    let out = send(&p, &[], &text_upstream()).await;
    assert_eq!(header(&out, CONTENT_ENCODING), None);
    assert_eq!(header(&out, VARY), None);
    assert_eq!(header(&out, CONTENT_LENGTH), Some(&*BODY.len().to_string()));
    assert_eq!(&out.body[..], BODY.as_bytes());
    let r = result(&out);
    assert_eq!(r["negotiated_algorithm"], "");
    assert_eq!(r["already_compressed"], false);
}

#[tokio::test]
async fn already_encoded_upstream_is_left_alone() {
    let p = default_policy();
    let reply = upstream(200, &[("content-encoding", "br")], "not really brotli");
    let out = send(&p, &[("accept-encoding", "gzip")], &reply).await;
    assert_eq!(header(&out, CONTENT_ENCODING), Some("br"));
    assert_eq!(&out.body[..], b"not really brotli");
    let r = result(&out);
    assert_eq!(r["already_compressed"], true);
    assert_eq!(r["negotiated_algorithm"], "");
}

#[tokio::test]
async fn vary_added_and_content_length_removed() {
    let p = default_policy();
    let out = send(&p, &[("accept-encoding", "gzip")], &text_upstream()).await;
    assert_eq!(header(&out, VARY), Some("Accept-Encoding"));
    assert_eq!(header(&out, CONTENT_LENGTH), None);
    assert_eq!(header(&out, http::header::CONTENT_TYPE), Some("text/plain"));

    // An existing Vary keeps its value and gains Accept-Encoding.
    let reply = upstream(200, &[("vary", "Origin")], BODY);
    let out = send(&p, &[("accept-encoding", "gzip")], &reply).await;
    assert_eq!(header(&out, VARY), Some("Origin, Accept-Encoding"));
}

#[tokio::test]
async fn no_content_and_head_are_untouched() {
    let p = default_policy();
    let out = send(&p, &[("accept-encoding", "gzip")], &upstream(204, &[], "")).await;
    assert_eq!(out.status, Some(StatusCode::NO_CONTENT));
    assert_eq!(header(&out, CONTENT_ENCODING), None);
    assert_eq!(header(&out, VARY), None);
    assert!(out.body.is_empty());
    assert_eq!(result(&out)["negotiated_algorithm"], "");

    let out = send_as(&p, "HEAD", &[("accept-encoding", "gzip")], &text_upstream()).await;
    assert_eq!(header(&out, CONTENT_ENCODING), None);
}

#[tokio::test]
async fn custom_response_body_is_compressed() {
    let yaml = "on_http_request:\n  - actions:\n      - type: custom-response\n        config: {status_code: 200, body: 'Hello, World! Hello, World! Hello, World!'}\non_http_response:\n  - actions:\n      - type: compress-response\n";
    let p = load_policy(
        "t.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect("loads");
    let out = send(
        &p,
        &[("accept-encoding", "gzip")],
        &UpstreamReply::default(),
    )
    .await;
    assert!(out.upstream.is_none());
    assert_eq!(header(&out, CONTENT_ENCODING), Some("gzip"));
    assert_eq!(header(&out, CONTENT_LENGTH), None);
    assert_eq!(
        gunzip(&out.body),
        b"Hello, World! Hello, World! Hello, World!"
    );
}

#[tokio::test]
async fn compress_algorithm_emits_unix_compress_magic() {
    let p = policy("        config: {algorithms: [compress]}\n");
    let out = send(&p, &[("accept-encoding", "compress")], &text_upstream()).await;
    assert_eq!(header(&out, CONTENT_ENCODING), Some("compress"));
    assert_eq!(&out.body[..2], &[0x1f, 0x9d]);
}

fn load_error(config: &str) -> String {
    let yaml = format!(
        "on_http_response:\n  - actions:\n      - type: compress-response\n        config: {config}\n"
    );
    match load_policy(
        "t.yml",
        &yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    ) {
        Ok(_) => panic!("load should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_algorithm_is_rejected_at_its_index() {
    let err = load_error("{algorithms: [gzip, zstd]}");
    assert!(
        err.contains("on_http_response[0].actions[0].config.algorithms[1]"),
        "{err}"
    );
    assert!(
        err.contains("unknown compression algorithm `zstd`"),
        "{err}"
    );
}

#[test]
fn duplicate_algorithm_is_rejected() {
    let err = load_error("{algorithms: [br, gzip, br]}");
    assert!(
        err.contains("on_http_response[0].actions[0].config.algorithms[2]"),
        "{err}"
    );
    assert!(err.contains("more than once"), "{err}");
}

#[test]
fn unknown_key_and_request_phase_are_rejected() {
    let err = load_error("{algorithm: [gzip]}");
    assert!(err.contains("algorithm"), "{err}");
    let yaml = "on_http_request:\n  - actions:\n      - type: compress-response\n";
    assert!(
        load_policy(
            "t.yml",
            yaml,
            &sluice_modules::builtin_registry(),
            LoadOptions::default()
        )
        .is_err()
    );
}
