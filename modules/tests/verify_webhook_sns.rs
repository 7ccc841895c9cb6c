//! `verify-webhook` with `provider: sns` through the real loader and the in-process harness:
//! it takes no secret, and a message whose certificate URL is not Amazon SNS's is refused
//! before anything is fetched. (Signed messages against a stand-in certificate server are
//! tested in `modules/src/webhook/tests/sns.rs`, where the test-only fetch override lives.)

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use sluice_policy::harness::{self, ManualClock, TestConn, UpstreamReply};
use sluice_policy::{LoadOptions, Policy, load_policy};

mod common;

fn load(config: &str) -> Result<Policy, String> {
    let yaml = format!(
        "on_http_request:\n  - actions:\n      - type: verify-webhook\n        config: {config}\n"
    );
    load_policy(
        "t.yml",
        &yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn sns_loads_without_a_secret_and_refuses_one() {
    load("{provider: sns}").expect("sns takes no secret");
    let err = load("{provider: sns, secret: abc}").expect_err("a secret is refused");
    assert!(err.contains("sns takes no secret"), "{err}");
    let err = load("{provider: github}").expect_err("github needs a secret");
    assert!(err.contains("secret"), "{err}");
}

#[tokio::test]
async fn a_message_with_a_foreign_certificate_url_is_rejected() {
    let p = load("{provider: sns}").expect("loads");
    let body = json!({
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:T",
        "Message": "hi",
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "AAAA",
        "SigningCertURL": "https://attacker.example/cert.pem",
    })
    .to_string();
    let clock = Arc::new(ManualClock::new());
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        clock,
    );
    let req = harness::request("POST", "https://app.example.com/sns", &[]);
    let out = harness::exchange(&p, &conn, req, Bytes::from(body), &UpstreamReply::default()).await;
    assert_eq!(out.status, Some(StatusCode::FORBIDDEN));
    assert!(out.upstream.is_none());
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3204");
    let r = common::result_of(&out, "verify_webhook");
    assert_eq!(r["verified"], json!(false));
}
