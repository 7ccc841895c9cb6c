use super::*;

const BODY: &str = r#"{"events":[{"resourceId":"1","eventCategory":"INVOICE"}],"firstEventSequence":1,"lastEventSequence":1,"entropy":"X"}"#;

#[test]
fn twitter_crc_challenge() {
    let secret = "twitter-consumer-secret";
    let req = Req::get("https://hooks.example.com/twitter?crc_token=abc%2Bdef&nonce=1");
    let response = expect_challenge(req.verify(Provider::Twitter, secret, now()));
    assert_eq!(response.status(), http::StatusCode::OK);
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        "application/json"
    );
    let json: serde_json::Value = serde_json::from_slice(response.body()).expect("JSON body");
    let token = format!(
        "sha256={}",
        b64(&hmac_sha256(secret.as_bytes(), b"abc+def"))
    );
    assert_eq!(json, serde_json::json!({ "response_token": token }));
    let no_token = Req::get("https://hooks.example.com/twitter");
    assert_malformed(no_token.verify(Provider::Twitter, secret, now()));
}

#[test]
fn twitter_event_signature() {
    let secret = "twitter-consumer-secret";
    let body = r#"{"for_user_id":"1","tweet_create_events":[]}"#;
    let sig = format!(
        "sha256={}",
        b64(&hmac_sha256(secret.as_bytes(), body.as_bytes()))
    );
    let req = Req::post(body).header("X-Twitter-Webhooks-Signature", &sig);
    assert_verified(req.verify(Provider::Twitter, secret, now()));
    assert_mismatch(req.verify(Provider::Twitter, "wrong", now()));
    assert_mismatch(
        req.clone()
            .body("{}")
            .verify(Provider::Twitter, secret, now()),
    );
    let bare = req.without("X-Twitter-Webhooks-Signature");
    assert_missing(
        bare.verify(Provider::Twitter, secret, now()),
        "X-Twitter-Webhooks-Signature",
    );
}

fn xero_req(key: &str, body: &str) -> Req {
    let sig = b64(&hmac_sha256(key.as_bytes(), body.as_bytes()));
    Req::post(body).header("x-xero-signature", &sig)
}

#[test]
fn xero_events() {
    let key = "xero-webhook-key";
    assert_verified(xero_req(key, BODY).verify(Provider::Xero, key, now()));
    assert_mismatch(xero_req(key, BODY).verify(Provider::Xero, "wrong", now()));
    assert_mismatch(
        xero_req(key, BODY)
            .body("{}")
            .verify(Provider::Xero, key, now()),
    );
    let bare = xero_req(key, BODY).without("x-xero-signature");
    assert_missing(bare.verify(Provider::Xero, key, now()), "x-xero-signature");
    assert_eq!(
        Provider::Xero.failure_status(),
        http::StatusCode::UNAUTHORIZED
    );
}

#[test]
fn xero_intent_to_receive() {
    let key = "xero-webhook-key";
    let body =
        r#"{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}"#;
    let response = expect_challenge(xero_req(key, body).verify(Provider::Xero, key, now()));
    assert_eq!(response.status(), http::StatusCode::OK);
    assert!(response.body().is_empty());
    // The deliberately mis-signed intent-to-receive request must fail.
    assert_mismatch(xero_req("not-the-key", body).verify(Provider::Xero, key, now()));
}

#[test]
fn worldline_endpoint_verification() {
    let req = Req::get("https://hooks.example.com/worldline").header(
        "X-GCS-Webhooks-Endpoint-Verification",
        "7d61e1b9-2dc2-4bc3-8a6b",
    );
    let response = expect_challenge(req.verify(Provider::Worldline, "key", now()));
    assert_eq!(response.status(), http::StatusCode::OK);
    assert_eq!(response.headers()[http::header::CONTENT_TYPE], "text/plain");
    assert_eq!(response.body().as_ref(), b"7d61e1b9-2dc2-4bc3-8a6b");
}

#[test]
fn worldline_event_signature() {
    let key = "worldline-secret-key";
    let body = r#"{"apiVersion":"v1","id":"97a4fcdf","type":"payment.created"}"#;
    let sig = b64(&hmac_sha256(key.as_bytes(), body.as_bytes()));
    let req = Req::post(body)
        .header("X-GCS-Signature", &sig)
        .header("X-GCS-KeyId", "key-id-1");
    assert_verified(req.verify(Provider::Worldline, key, now()));
    assert_mismatch(req.verify(Provider::Worldline, "wrong", now()));
    assert_mismatch(
        req.clone()
            .body("{}")
            .verify(Provider::Worldline, key, now()),
    );
    let bare = req.without("X-GCS-Signature");
    assert_missing(
        bare.verify(Provider::Worldline, key, now()),
        "X-GCS-Signature",
    );
}
