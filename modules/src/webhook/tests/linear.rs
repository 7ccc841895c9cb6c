use super::*;

const SECRET: &str = "lin_wh_secret";

fn body(timestamp_ms: u64) -> String {
    format!(
        r#"{{"action":"create","type":"Issue","data":{{"id":"1"}},"webhookTimestamp":{timestamp_ms}}}"#
    )
}

fn linear_req(secret: &str, body: &str) -> Req {
    let sig = hex::encode(hmac_sha256(secret.as_bytes(), body.as_bytes()));
    Req::post(body).header("Linear-Signature", &sig)
}

#[test]
fn linear_signature_and_body_timestamp() {
    let fresh = body(NOW * 1000 - 59_000);
    assert_verified(linear_req(SECRET, &fresh).verify(Provider::Linear, SECRET, now()));
    assert_mismatch(linear_req(SECRET, &fresh).verify(Provider::Linear, "wrong", now()));
    let tampered = linear_req(SECRET, &fresh).body(body(NOW * 1000));
    assert_mismatch(tampered.verify(Provider::Linear, SECRET, now()));
    let bare = linear_req(SECRET, &fresh).without("Linear-Signature");
    assert_missing(
        bare.verify(Provider::Linear, SECRET, now()),
        "Linear-Signature",
    );
}

#[test]
fn linear_stale_or_missing_timestamp() {
    let stale = body(NOW * 1000 - 61_000);
    assert_stale(
        linear_req(SECRET, &stale).verify(Provider::Linear, SECRET, now()),
        60,
    );
    let no_ts = r#"{"action":"create","type":"Issue"}"#;
    assert_malformed(linear_req(SECRET, no_ts).verify(Provider::Linear, SECRET, now()));
}
