//! `verify-webhook` through the real loader and the in-process harness. Signatures are
//! computed here with the `hmac`/`sha*` crates, the way each provider documents them.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::StatusCode;
use serde_json::{Value as Json, json};
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{Clock, LoadOptions, Policy, load_policy};

mod common;

const URL: &str = "https://app.example.com/hook";

fn policy(config: &str) -> Policy {
    let yaml = format!(
        "on_http_request:\n  - actions:\n      - type: verify-webhook\n        config: {config}\n"
    );
    load_policy(
        "t.yml",
        &yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect("loads")
}

fn load_err(config: &str) -> String {
    let yaml = format!(
        "on_http_request:\n  - actions:\n      - type: verify-webhook\n        config: {config}\n"
    );
    load_policy(
        "t.yml",
        &yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect_err("must not load")
    .to_string()
}

fn hmac256(key: &str, msg: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn hmac1(key: &str, msg: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn unix(clock: &ManualClock) -> u64 {
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .expect("after epoch")
        .as_secs()
}

async fn send(
    policy: &Policy,
    clock: &Arc<ManualClock>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Outcome {
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        clock.clone(),
    );
    let req = harness::request(method, url, headers);
    harness::exchange(
        policy,
        &conn,
        req,
        Bytes::from(body.to_string()),
        &UpstreamReply::default(),
    )
    .await
}

fn result(out: &Outcome) -> serde_json::Value {
    common::result_of(out, "verify_webhook")
}

fn assert_rejected(out: &Outcome, status: StatusCode) {
    assert_eq!(out.status, Some(status));
    assert!(out.upstream.is_none(), "upstream must not be called");
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3204");
    let r = result(out);
    assert_eq!(r["verified"], json!(false));
    assert_eq!(r["error"]["code"], json!("ERR_SLUICE_3204"));
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn github_signature_verified_and_rejected() {
    let secret = "gh-secret-value";
    let p = policy(&format!("{{provider: github, secret: {secret}}}"));
    let clock = Arc::new(ManualClock::new());
    let body = r#"{"action":"opened"}"#;
    let sig = format!("sha256={}", hex::encode(hmac256(secret, body.as_bytes())));
    let out = send(
        &p,
        &clock,
        "POST",
        URL,
        &[("x-hub-signature-256", &sig)],
        body,
    )
    .await;
    assert_eq!(out.status, Some(StatusCode::OK));
    let up = out.upstream.as_ref().expect("forwarded");
    assert_eq!(
        up.body,
        Bytes::from(body),
        "the buffered body is still forwarded"
    );
    assert_eq!(result(&out), json!({"verified": true}));

    let bad = format!("sha256={}", hex::encode(hmac256("other", body.as_bytes())));
    let out = send(
        &p,
        &clock,
        "POST",
        URL,
        &[("x-hub-signature-256", &bad)],
        body,
    )
    .await;
    assert_rejected(&out, StatusCode::FORBIDDEN);
    let text = String::from_utf8_lossy(&out.body).to_string() + &result(&out).to_string();
    assert!(!text.contains(secret), "the secret must never be shown");

    let out = send(&p, &clock, "POST", URL, &[], body).await;
    assert_rejected(&out, StatusCode::FORBIDDEN);
    assert!(
        result(&out)["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("X-Hub-Signature")
    );
}

#[tokio::test]
async fn stripe_signature_and_replay_window() {
    let secret = "whsec_stripe_test";
    let p = policy(&format!("{{provider: stripe, secret: {secret}}}"));
    let clock = Arc::new(ManualClock::new());
    let body = r#"{"id":"evt_1","type":"charge.succeeded"}"#;
    let ts = unix(&clock);
    let sig = hex::encode(hmac256(secret, format!("{ts}.{body}").as_bytes()));
    let header = format!("t={ts},v1={sig}");
    let out = send(
        &p,
        &clock,
        "POST",
        URL,
        &[("stripe-signature", &header)],
        body,
    )
    .await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert!(out.upstream.is_some());

    // Same signed request replayed after the 300 s tolerance.
    clock.advance(Duration::from_secs(301));
    let out = send(
        &p,
        &clock,
        "POST",
        URL,
        &[("stripe-signature", &header)],
        body,
    )
    .await;
    assert_rejected(&out, StatusCode::FORBIDDEN);
    assert!(
        result(&out)["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("tolerance")
    );

    // A tampered body fails.
    let ts = unix(&clock);
    let sig = hex::encode(hmac256(secret, format!("{ts}.{body}").as_bytes()));
    let header = format!("t={ts},v1={sig}");
    let out = send(
        &p,
        &clock,
        "POST",
        URL,
        &[("stripe-signature", &header)],
        "{}",
    )
    .await;
    assert_rejected(&out, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn slack_signature() {
    let secret = "slack-signing-secret";
    let p = policy(&format!("{{provider: slack, secret: {secret}}}"));
    let clock = Arc::new(ManualClock::new());
    let body = "token=x&team_id=T1&command=%2Fweather";
    let ts = unix(&clock).to_string();
    let sig = format!(
        "v0={}",
        hex::encode(hmac256(secret, format!("v0:{ts}:{body}").as_bytes()))
    );
    let headers = [
        ("x-slack-signature", sig.as_str()),
        ("x-slack-request-timestamp", ts.as_str()),
    ];
    let out = send(&p, &clock, "POST", URL, &headers, body).await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert!(out.upstream.is_some());

    let old = (unix(&clock) - 600).to_string();
    let sig = format!(
        "v0={}",
        hex::encode(hmac256(secret, format!("v0:{old}:{body}").as_bytes()))
    );
    let headers = [
        ("x-slack-signature", sig.as_str()),
        ("x-slack-request-timestamp", old.as_str()),
    ];
    let out = send(&p, &clock, "POST", URL, &headers, body).await;
    assert_rejected(&out, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn zoom_url_validation_challenge_is_answered() {
    let secret = "zoom-secret-token";
    let p = policy(&format!("{{provider: zoom, secret: {secret}}}"));
    let clock = Arc::new(ManualClock::new());
    let body =
        r#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}"#;
    let ts = unix(&clock).to_string();
    let sig = format!(
        "v0={}",
        hex::encode(hmac256(secret, format!("v0:{ts}:{body}").as_bytes()))
    );
    let headers = [
        ("x-zm-signature", sig.as_str()),
        ("x-zm-request-timestamp", ts.as_str()),
    ];
    let out = send(&p, &clock, "POST", URL, &headers, body).await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert!(
        out.upstream.is_none(),
        "the challenge is answered by the edge"
    );
    let got: Json = serde_json::from_slice(&out.body).expect("JSON body");
    let encrypted = hex::encode(hmac256(secret, b"qgg8vlvZRS6UYooatFL8Aw"));
    assert_eq!(
        got,
        json!({"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": encrypted})
    );
    assert_eq!(result(&out), json!({"verified": true}));

    // An unsigned challenge is not answered.
    let out = send(&p, &clock, "POST", URL, &[], body).await;
    assert_rejected(&out, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn twilio_signs_the_full_url_built_from_host() {
    let secret = "twilio-auth-token";
    let p = policy(&format!("{{provider: twilio, secret: {secret}}}"));
    let clock = Arc::new(ManualClock::new());
    let body = "To=%2B15550001111&From=%2B15552223333&Body=hi";
    let signed = "https://app.example.com/hook?x=1BodyhiFrom+15552223333To+15550001111";
    let sig = B64.encode(hmac1(secret, signed.as_bytes()));
    let headers = [
        ("x-twilio-signature", sig.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let out = send(
        &p,
        &clock,
        "POST",
        "https://app.example.com/hook?x=1",
        &headers,
        body,
    )
    .await;
    assert_eq!(out.status, Some(StatusCode::OK), "{:?}", result(&out));
    let out = send(
        &p,
        &clock,
        "POST",
        "https://app.example.com/other?x=1",
        &headers,
        body,
    )
    .await;
    assert_rejected(&out, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn enforce_false_forwards_and_reports() {
    let p = policy("{provider: github, secret: s3cret, enforce: false}");
    let clock = Arc::new(ManualClock::new());
    let out = send(
        &p,
        &clock,
        "POST",
        URL,
        &[("x-hub-signature-256", "sha256=00")],
        "{}",
    )
    .await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert!(out.upstream.is_some());
    let r = result(&out);
    assert_eq!(r["verified"], json!(false));
    assert_eq!(r["error"]["code"], json!("ERR_SLUICE_3204"));
}

#[tokio::test]
async fn templated_secret_and_xero_401() {
    let yaml = "on_http_request:\n  - actions:\n      - type: set-vars\n        config: {vars: [{key: xero-key}]}\n      - type: verify-webhook\n        config: {provider: xero, secret: '${vars.key}'}\n";
    let p = load_policy(
        "t.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect("loads");
    let clock = Arc::new(ManualClock::new());
    let body = r#"{"events":[]}"#;
    let sig = B64.encode(hmac256("xero-key", body.as_bytes()));
    let out = send(&p, &clock, "POST", URL, &[("x-xero-signature", &sig)], body).await;
    assert_eq!(out.status, Some(StatusCode::OK));
    let bad = B64.encode(hmac256("nope", body.as_bytes()));
    let out = send(&p, &clock, "POST", URL, &[("x-xero-signature", &bad)], body).await;
    assert_rejected(&out, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn oversized_body_fails_verification() {
    let p = policy("{provider: github, secret: s3cret}");
    let clock = Arc::new(ManualClock::new());
    let body = "a".repeat(10 * 1024 * 1024 + 1);
    let sig = format!("sha256={}", hex::encode(hmac256("s3cret", body.as_bytes())));
    let out = send(
        &p,
        &clock,
        "POST",
        URL,
        &[("x-hub-signature-256", &sig)],
        &body,
    )
    .await;
    assert_rejected(&out, StatusCode::FORBIDDEN);
}

#[test]
fn load_errors_name_the_field() {
    let e = load_err("{provider: nosuch, secret: x}");
    assert!(
        e.contains("on_http_request[0].actions[0].config.provider"),
        "{e}"
    );
    assert!(e.contains("supported providers: aftership"), "{e}");
    assert!(e.contains("ERR_SLUICE_2204"), "{e}");

    let e = load_err("{provider: github}");
    assert!(e.contains("secret"), "{e}");

    let e = load_err("{provider: svix, secret: not-a-whsec-key-XYZ}");
    assert!(
        e.contains("on_http_request[0].actions[0].config.secret"),
        "{e}"
    );
    assert!(
        !e.contains("not-a-whsec-key-XYZ"),
        "the secret must not be echoed: {e}"
    );

    let e = load_err("{provider: github, secret: x, extra: 1}");
    assert!(e.contains("extra"), "{e}");

    // Case-insensitive ids are accepted.
    let _ = policy("{provider: GitHub, secret: x}");

    // Secret formats are checked at load: Microsoft Teams' security token is base64.
    let e = load_err("{provider: microsoft_teams, secret: 'not base64!'}");
    assert!(e.contains("config.secret"), "{e}");
    assert!(e.contains("base64"), "{e}");
    let _ = policy("{provider: microsoft_teams, secret: dGVhbXMtdG9rZW4=}");
}

#[tokio::test]
async fn webhook_validation_is_a_deprecated_alias_with_a_warning() {
    let yaml = "on_http_request:\n  - actions:\n      - type: webhook-validation\n        config: {provider: heroku, secret: heroku-secret}\n";
    let p = load_policy(
        "t.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect("the older name loads");
    let warnings: Vec<String> = p.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("t.yml:3:15: warning: on_http_request[0].actions[0].type: `webhook-validation` is an older name of `verify-webhook`"),
        "{warnings:?}"
    );
    // It is the same action: a valid signature passes, a wrong one is refused.
    let clock = Arc::new(ManualClock::new());
    let body = r#"{"action":"api:release"}"#;
    let sig = B64.encode(hmac256("heroku-secret", body.as_bytes()));
    let ok = send(
        &p,
        &clock,
        "POST",
        URL,
        &[("heroku-webhook-hmac-sha256", &sig)],
        body,
    )
    .await;
    assert_eq!(ok.status, Some(StatusCode::OK));
    assert!(ok.upstream.is_some());
    let bad = send(
        &p,
        &clock,
        "POST",
        URL,
        &[("heroku-webhook-hmac-sha256", "AAAA")],
        body,
    )
    .await;
    assert_rejected(&bad, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_table_provider_with_a_signed_timestamp_end_to_end() {
    // Zendesk: base64 HMAC-SHA256 of the RFC 3339 timestamp followed by the body.
    let p = policy("{provider: zendesk, secret: zd-secret}");
    let clock = Arc::new(ManualClock::new());
    let secs = i64::try_from(unix(&clock)).expect("fits");
    let ts = chrono::DateTime::from_timestamp(secs, 0)
        .expect("valid")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = r#"{"type":"zen:event-type:ticket.created"}"#;
    let sig = B64.encode(hmac256("zd-secret", format!("{ts}{body}").as_bytes()));
    let headers = [
        ("x-zendesk-webhook-signature", sig.as_str()),
        ("x-zendesk-webhook-signature-timestamp", ts.as_str()),
    ];
    let ok = send(&p, &clock, "POST", URL, &headers, body).await;
    assert_eq!(ok.status, Some(StatusCode::OK));
    assert_eq!(result(&ok)["verified"], json!(true));
    clock.advance(Duration::from_secs(301));
    let stale = send(&p, &clock, "POST", URL, &headers, body).await;
    assert_rejected(&stale, StatusCode::FORBIDDEN);
}
