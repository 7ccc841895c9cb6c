//! `http-request` against a loopback service started by the test.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{LoadOptions, Policy, load_policy};
use tokio::net::TcpListener;

mod common;
use common::load_err;

/// A tiny service: `/echo` answers JSON describing the request, `/flaky` fails the first
/// call, `/redirect` sends to `/echo`, `/big` answers 300 KiB, `/hang` never answers.
async fn service() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let flaky = Arc::new(AtomicUsize::new(0));
    let calls = flaky.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let calls = calls.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let calls = calls.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let query = req.uri().query().unwrap_or_default().to_string();
                        let method = req.method().to_string();
                        let token = req
                            .headers()
                            .get("x-token")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let (status, out) = match path.as_str() {
                            "/echo" => (
                                200,
                                format!(
                                    "{{\"method\":\"{method}\",\"query\":\"{query}\",\"token\":\"{token}\",\"body\":\"{}\"}}",
                                    String::from_utf8_lossy(&body)
                                ),
                            ),
                            "/flaky" => {
                                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                                    (500, "try again".to_string())
                                } else {
                                    (200, "ok now".to_string())
                                }
                            }
                            "/redirect" => {
                                return Ok::<_, Infallible>(
                                    hyper::Response::builder()
                                        .status(302)
                                        .header("location", "/echo")
                                        .body(Full::new(Bytes::new()))
                                        .unwrap_or_default(),
                                );
                            }
                            "/big" => (200, "x".repeat(300 * 1024)),
                            "/hang" => {
                                tokio::time::sleep(std::time::Duration::from_secs(120)).await;
                                (200, String::new())
                            }
                            _ => (404, "no".to_string()),
                        };
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from(out)))
                                .unwrap_or_default(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, flaky)
}

fn policy(yaml: &str) -> Policy {
    load_policy(
        "t.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("loads: {e}"))
}

async fn send(p: &Policy) -> Outcome {
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        Arc::new(ManualClock::new()),
    );
    harness::exchange(
        p,
        &conn,
        harness::request("GET", "https://app.example.com/page?id=7", &[]),
        Bytes::new(),
        &UpstreamReply::default(),
    )
    .await
}

#[tokio::test]
async fn answer_is_visible_to_later_rules() {
    let (addr, _) = service().await;
    let p = policy(&format!(
        r#"
on_http_request:
  - actions:
      - type: http-request
        config:
          url: "http://{addr}/echo"
          method: POST
          query_params: [{{key: id, value: "${{req.url.query_params['id'][0]}}"}}]
          headers: {{x-token: "abc"}}
          body: "path=${{req.url.path}}"
  - expressions: ["actions.ngrok.http_request.res.status_code == 200"]
    actions:
      - type: custom-response
        config: {{status_code: 200, body: "${{actions.ngrok.http_request.res.body}}"}}
"#
    ));
    let out = send(&p).await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert_eq!(
        String::from_utf8_lossy(&out.body),
        r#"{"method":"POST","query":"id=7","token":"abc","body":"path=/page"}"#
    );
    assert!(out.upstream.is_none());
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let (addr, _) = service().await;
    let yaml = |n: u32| {
        format!(
            "on_http_request:\n  - actions:\n      - type: http-request\n        config: {{url: \"http://{addr}/redirect\", max_redirects: {n}, on_error: halt}}\n"
        )
    };
    let out = send(&policy(&yaml(1))).await;
    assert_eq!(
        out.status,
        Some(StatusCode::OK),
        "followed to /echo, then forwarded"
    );
    let res = common::result_of(&out, "http_request");
    assert_eq!(res["res"]["status_code"], 200);
    let out = send(&policy(&yaml(0))).await;
    assert_eq!(out.status, Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(
        out.headers
            .get("sluice-error-code")
            .and_then(|v| v.to_str().ok()),
        Some("ERR_SLUICE_3214")
    );
}

#[tokio::test]
async fn retry_condition_sees_the_last_attempt() {
    let (addr, calls) = service().await;
    let p = policy(&format!(
        "on_http_request:\n  - actions:\n      - type: http-request\n        config:\n          url: \"http://{addr}/flaky\"\n          retry_condition: \"last_attempt.res.status_code == 500 && attempts < 3\"\n"
    ));
    let out = send(&p).await;
    let res = common::result_of(&out, "http_request");
    assert_eq!(res["res"]["body"], "ok now");
    assert_eq!(res["attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn failures_continue_by_default_and_halt_on_request() {
    let (addr, _) = service().await;
    // Too large a body: recorded, traffic continues to the upstream.
    let out = send(&policy(&format!(
        "on_http_request:\n  - actions:\n      - type: http-request\n        config: {{url: \"http://{addr}/big\"}}\n"
    )))
    .await;
    assert!(out.upstream.is_some());
    assert_eq!(
        common::result_of(&out, "http_request")["error"]["code"],
        "ERR_SLUICE_3601"
    );
    // A service that never answers, with halt: 500 + timeout code after the 1 s deadline.
    let out = send(&policy(&format!(
        "on_http_request:\n  - actions:\n      - type: http-request\n        config: {{url: \"http://{addr}/hang\", timeout: 1s, on_error: halt}}\n"
    )))
    .await;
    assert_eq!(out.status, Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(
        out.headers
            .get("sluice-error-code")
            .and_then(|v| v.to_str().ok()),
        Some("ERR_SLUICE_3602")
    );
    assert!(out.upstream.is_none());
}

#[test]
fn config_errors_name_their_field() {
    let e = load_err(
        "on_http_request:\n  - actions:\n      - type: http-request\n        config: {url: \"ftp://x\", method: TRACE, timeout: 60s, max_redirects: 11, retry_condition: \"nope > 1\"}\n",
    );
    for want in [
        "config.url: must be an http:// or https:// URL",
        "config.method: must be one of GET",
        "config.timeout: must be a duration from 1s to 30s",
        "config.max_redirects: must be between 0 and 10",
        "config.retry_condition: unknown variable `nope`",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}
