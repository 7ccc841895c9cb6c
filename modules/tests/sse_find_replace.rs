//! `sse-find-replace` with other response actions, through the real loader and the in-process
//! harness: the event stream is rewritten before compress-response compresses it, and a
//! stream the upstream already compressed is passed through untouched.

use std::io::Read as _;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{LoadOptions, Policy, load_policy};

const POLICY: &str = "on_http_response:
  - actions:
      - type: compress-response
        config: {algorithms: [gzip]}
on_event_stream_message:
  - actions:
      - type: sse-find-replace
        config:
          replacements:
            - {from: secret, to: '***'}
";

const STREAM: &str = "data: a secret\n\ndata: another secret\n\n";

fn policy() -> Policy {
    load_policy(
        "t.yml",
        POLICY,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect("loads")
}

async fn send(upstream_headers: &[(&'static str, &'static str)], body: Bytes) -> Outcome {
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        Arc::new(ManualClock::new()),
    );
    let req = harness::request(
        "GET",
        "https://app.example.com/events",
        &[("accept-encoding", "gzip")],
    );
    let mut headers = HeaderMap::new();
    for (name, value) in upstream_headers {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    let reply = UpstreamReply {
        status: StatusCode::OK,
        headers,
        body,
        trailers: HeaderMap::new(),
    };
    harness::exchange(&policy(), &conn, req, Bytes::new(), &reply).await
}

fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut out)
        .expect("gzip");
    out
}

fn gzip(text: &str) -> Bytes {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).expect("gzip");
    Bytes::from(enc.finish().expect("gzip"))
}

#[tokio::test]
async fn the_stream_is_rewritten_then_compressed() {
    let out = send(
        &[("content-type", "text/event-stream")],
        Bytes::from_static(STREAM.as_bytes()),
    )
    .await;
    assert_eq!(out.headers["content-encoding"], "gzip");
    assert_eq!(gunzip(&out.body), "data: a ***\n\ndata: another ***\n\n");
}

#[tokio::test]
async fn a_stream_the_upstream_compressed_is_not_parsed() {
    let body = gzip(STREAM);
    let out = send(
        &[
            ("content-type", "text/event-stream"),
            ("content-encoding", "gzip"),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(out.body, body);
    assert_eq!(gunzip(&out.body), STREAM);
}
