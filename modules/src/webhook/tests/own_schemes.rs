//! Providers with their own file (Mailgun, Mailchimp, Contentful, Hygraph) or another module's scheme
//! (Brex), signed here as each documents it, with the same checks as the table's rows.

use super::table::{BODY, check, hex256, provider};
use super::*;
use crate::webhook::validate_secret;

/// A Mailgun JSON event signed at `ts` with `secret`.
fn mailgun_event(secret: &str, ts: u64) -> String {
    let token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
    let sig = hex256(secret.as_bytes(), format!("{ts}{token}").as_bytes());
    format!(
        r#"{{"signature":{{"timestamp":"{ts}","token":"{token}","signature":"{sig}"}},"event-data":{{"event":"delivered"}}}}"#
    )
}

#[test]
fn mailgun_signature_in_the_json_body() {
    let p = provider("mailgun");
    let key = "key-mailgun-webhook-signing";
    let ok = Req::post(mailgun_event(key, NOW));
    assert_verified(ok.verify(p, key, now()));
    // A flipped byte of the signed token.
    let flipped = Req::post(mailgun_event(key, NOW).replacen("a8ce", "a9ce", 1));
    assert_mismatch(flipped.verify(p, key, now()));
    assert_mismatch(ok.verify(p, "another-key", now()));
    let stale = Req::post(mailgun_event(key, NOW - 305));
    assert_stale(stale.verify(p, key, now()), 300);
    assert_malformed(Req::post(BODY).verify(p, key, now()));
}

#[test]
fn mailgun_signature_in_form_fields() {
    let p = provider("mailgun");
    let key = "key-mailgun-webhook-signing";
    let sig = hex256(key.as_bytes(), format!("{NOW}tok123").as_bytes());
    let form = format!("event=delivered&timestamp={NOW}&token=tok123&signature={sig}");
    let req = Req::post(&form).header("content-type", "application/x-www-form-urlencoded");
    assert_verified(req.verify(p, key, now()));
    let flipped = req.clone().body(form.replace("tok123", "tok124"));
    assert_mismatch(flipped.verify(p, key, now()));
}

#[test]
fn mailchimp_transactional_signs_url_and_sorted_params() {
    let p = provider("mailchimp");
    let key = "mandrill-webhook-key";
    let events = r#"[{"event":"send","_id":"abc"}]"#;
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("mandrill_events", events)
        .finish();
    let url = "https://hooks.example.com/webhook";
    let signed = format!("{url}mandrill_events{events}");
    let sig = b64(&hmac_sha1(key.as_bytes(), signed.as_bytes()));
    let req = Req::post(&form)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Mandrill-Signature", &sig);
    assert_verified(req.verify(p, key, now()));
    let mut flipped = req.clone();
    flipped.body[20] ^= 0x01;
    assert_mismatch(flipped.verify(p, key, now()));
    assert_mismatch(req.verify(p, "other-key", now()));
    assert_missing(
        req.without("X-Mandrill-Signature").verify(p, key, now()),
        "X-Mandrill-Signature",
    );
}

#[test]
fn brex_uses_standard_webhooks_headers_with_a_base64_secret() {
    // Brex's API hands out the secret as base64; the HMAC key is its decoding, and the
    // signed content is "<webhook-id>.<webhook-timestamp>.<body>".
    let key = b"brex-webhook-secret-bytes";
    let secret = b64(key);
    check(
        "brex",
        &secret,
        "webhook-signature",
        Some(300),
        &|req, secret, ts| {
            let key = STANDARD
                .decode(secret)
                .unwrap_or_else(|_| secret.as_bytes().to_vec());
            let content = format!("msg_2Lh9KRb0pzN4.{ts}.{BODY}");
            req.header("webhook-id", "msg_2Lh9KRb0pzN4")
                .header("webhook-timestamp", &ts.to_string())
                .header(
                    "webhook-signature",
                    &format!("v1,{}", b64(&hmac_sha256(&key, content.as_bytes()))),
                )
        },
    );
}

#[test]
fn contentful_signs_a_canonical_request() {
    let p = provider("contentful");
    let secret = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/";
    assert_eq!(secret.len(), 64);
    validate_secret(p, secret).expect("a 64-character secret");
    assert!(matches!(
        validate_secret(p, "too-short"),
        Err(WebhookError::InvalidSecret(_))
    ));
    let sign = |secret: &str, ts_ms: u64| {
        let topic = "ContentManagement.Entry.publish";
        let canonical = format!(
            "POST\n/webhook?space=abc\nx-contentful-timestamp:{ts_ms};x-contentful-topic:{topic}\n{BODY}"
        );
        let sig = hex256(secret.as_bytes(), canonical.as_bytes());
        Req::post(BODY)
            .url("https://hooks.example.com/webhook?space=abc")
            .header("x-contentful-topic", topic)
            .header("x-contentful-timestamp", &ts_ms.to_string())
            .header(
                "x-contentful-signed-headers",
                "x-contentful-timestamp,x-contentful-topic",
            )
            .header("x-contentful-signature", &sig)
    };
    let ok = sign(secret, NOW * 1000);
    assert_verified(ok.verify(p, secret, now()));
    let mut flipped = ok.clone();
    flipped.body[10] ^= 0x01;
    assert_mismatch(flipped.verify(p, secret, now()));
    // A signed header changed on the way.
    let changed = ok
        .clone()
        .header("x-contentful-topic", "ContentManagement.Entry.delete");
    assert_mismatch(changed.verify(p, secret, now()));
    let other = "X123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/";
    assert_mismatch(sign(other, NOW * 1000).verify(p, secret, now()));
    assert_stale(sign(secret, (NOW - 31) * 1000).verify(p, secret, now()), 30);
    assert_missing(
        ok.without("x-contentful-signature")
            .verify(p, secret, now()),
        "x-contentful-signature",
    );
}

#[test]
fn graphcms_signs_body_environment_and_timestamp_as_json() {
    let p = provider("graphcms");
    let secret = "rCNwyiloY3oJYYkxgpBXaleIiUv5MYlx";
    let body = "{\"operation\":\"publish\",\"data\":{\"id\":\"ckx\",\"title\":\"a \\\"quoted\\\" title\"}}";
    let sign = |secret: &str, ts_ms: u64| {
        // JSON text of {Body, EnvironmentName, TimeStamp}, the body as a JSON string.
        let signed = format!(
            "{{\"Body\":{},\"EnvironmentName\":\"master\",\"TimeStamp\":{ts_ms}}}",
            serde_json::Value::String(body.to_string())
        );
        let sig = b64(&hmac_sha256(secret.as_bytes(), signed.as_bytes()));
        Req::post(body).header(
            "gcms-signature",
            &format!("sign={sig}, env=master, t={ts_ms}"),
        )
    };
    let ok = sign(secret, NOW * 1000);
    assert_verified(ok.verify(p, secret, now()));
    let mut flipped = ok.clone();
    flipped.body[12] ^= 0x01;
    assert_mismatch(flipped.verify(p, secret, now()));
    assert_mismatch(sign("another-secret", NOW * 1000).verify(p, secret, now()));
    assert_stale(
        sign(secret, (NOW - 301) * 1000).verify(p, secret, now()),
        300,
    );
    assert_missing(
        ok.without("gcms-signature").verify(p, secret, now()),
        "gcms-signature",
    );
}
