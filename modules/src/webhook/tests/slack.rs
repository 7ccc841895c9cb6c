use super::*;

fn v0(secret: &str, ts: u64, body: &str) -> String {
    let base = format!("v0:{ts}:{body}");
    format!(
        "v0={}",
        hex::encode(hmac_sha256(secret.as_bytes(), base.as_bytes()))
    )
}

fn slack_req(secret: &str, ts: u64, body: &str) -> Req {
    Req::post(body)
        .header("X-Slack-Signature", &v0(secret, ts, body))
        .header("X-Slack-Request-Timestamp", &ts.to_string())
}

#[test]
fn slack_published_vector() {
    // From Slack's "Verifying requests from Slack" documentation.
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let req = Req::post(body)
        .header(
            "X-Slack-Signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        )
        .header("X-Slack-Request-Timestamp", "1531420618");
    assert_verified(req.verify(Provider::Slack, secret, at(1_531_420_618 + 60)));
    assert_stale(
        req.verify(Provider::Slack, secret, at(1_531_420_618 + 301)),
        300,
    );
}

#[test]
fn slack_rejections() {
    let secret = "slack-signing-secret";
    let body = r#"{"type":"event_callback","event_id":"Ev1"}"#;
    let req = slack_req(secret, NOW, body);
    assert_verified(req.verify(Provider::Slack, secret, now()));
    assert_mismatch(req.verify(Provider::Slack, "wrong", now()));
    assert_mismatch(
        req.clone()
            .body("{}")
            .verify(Provider::Slack, secret, now()),
    );
    assert_missing(
        req.clone()
            .without("X-Slack-Signature")
            .verify(Provider::Slack, secret, now()),
        "X-Slack-Signature",
    );
    assert_missing(
        req.without("X-Slack-Request-Timestamp")
            .verify(Provider::Slack, secret, now()),
        "X-Slack-Request-Timestamp",
    );
    assert_stale(
        slack_req(secret, NOW - 301, body).verify(Provider::Slack, secret, now()),
        300,
    );
}

fn zoom_req(secret: &str, ts: u64, body: &str) -> Req {
    Req::post(body)
        .header("x-zm-signature", &v0(secret, ts, body))
        .header("x-zm-request-timestamp", &ts.to_string())
}

#[test]
fn zoom_event_signature() {
    let secret = "zoom-secret-token";
    let body =
        r#"{"event":"meeting.started","payload":{"object":{"id":"1"}},"event_ts":1700000000000}"#;
    let req = zoom_req(secret, NOW, body);
    assert_verified(req.verify(Provider::Zoom, secret, now()));
    assert_mismatch(req.verify(Provider::Zoom, "wrong", now()));
    assert_mismatch(req.clone().body("{}").verify(Provider::Zoom, secret, now()));
    assert_missing(
        req.without("x-zm-signature")
            .verify(Provider::Zoom, secret, now()),
        "x-zm-signature",
    );
    assert_stale(
        zoom_req(secret, NOW - 301, body).verify(Provider::Zoom, secret, now()),
        300,
    );
}

#[test]
fn zoom_url_validation_challenge() {
    let secret = "zoom-secret-token";
    let body = r#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let response =
        expect_challenge(zoom_req(secret, NOW, body).verify(Provider::Zoom, secret, now()));
    assert_eq!(response.status(), http::StatusCode::OK);
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        "application/json"
    );
    let json: serde_json::Value = serde_json::from_slice(response.body()).expect("JSON body");
    let expected = hex::encode(hmac_sha256(secret.as_bytes(), b"qgg8vlvZRS6UYooatFL8Aw"));
    assert_eq!(
        json,
        serde_json::json!({ "plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected })
    );
}

#[test]
fn zoom_challenge_requires_a_valid_signature() {
    let secret = "zoom-secret-token";
    let body =
        r#"{"payload":{"plainToken":"chosen-by-attacker"},"event":"endpoint.url_validation"}"#;
    assert_mismatch(zoom_req("guess", NOW, body).verify(Provider::Zoom, secret, now()));
    let unsigned = Req::post(body);
    assert_missing(
        unsigned.verify(Provider::Zoom, secret, now()),
        "x-zm-signature",
    );
}
