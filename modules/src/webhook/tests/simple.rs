use super::*;

const BODY: &str = r#"{"id":820982911946154508,"email":"jon@example.com"}"#;

#[test]
fn shopify_base64_body_hmac() {
    let secret = "shopify-app-client-secret";
    let sig = b64(&hmac_sha256(secret.as_bytes(), BODY.as_bytes()));
    let req = Req::post(BODY).header("X-Shopify-Hmac-Sha256", &sig);
    assert_verified(req.verify(Provider::Shopify, secret, now()));
    assert_mismatch(req.verify(Provider::Shopify, "wrong", now()));
    assert_mismatch(
        req.clone()
            .body("{}")
            .verify(Provider::Shopify, secret, now()),
    );
    let bare = req.without("X-Shopify-Hmac-Sha256");
    assert_missing(
        bare.verify(Provider::Shopify, secret, now()),
        "X-Shopify-Hmac-Sha256",
    );
}

#[test]
fn typeform_prefixed_base64_body_hmac() {
    let secret = "typeform-secret";
    let sig = format!(
        "sha256={}",
        b64(&hmac_sha256(secret.as_bytes(), BODY.as_bytes()))
    );
    let req = Req::post(BODY).header("Typeform-Signature", &sig);
    assert_verified(req.verify(Provider::Typeform, secret, now()));
    assert_mismatch(req.verify(Provider::Typeform, "wrong", now()));
    assert_mismatch(
        req.clone()
            .body("{}")
            .verify(Provider::Typeform, secret, now()),
    );
    let bare = req.without("Typeform-Signature");
    assert_missing(
        bare.verify(Provider::Typeform, secret, now()),
        "Typeform-Signature",
    );
}

#[test]
fn sentry_hex_body_hmac() {
    let secret = "sentry-client-secret";
    let sig = hex::encode(hmac_sha256(secret.as_bytes(), BODY.as_bytes()));
    let req = Req::post(BODY).header("Sentry-Hook-Signature", &sig);
    assert_verified(req.verify(Provider::Sentry, secret, now()));
    assert_mismatch(req.verify(Provider::Sentry, "wrong", now()));
    assert_mismatch(
        req.clone()
            .body("{}")
            .verify(Provider::Sentry, secret, now()),
    );
    let bare = req.without("Sentry-Hook-Signature");
    assert_missing(
        bare.verify(Provider::Sentry, secret, now()),
        "Sentry-Hook-Signature",
    );
}

#[test]
fn square_signs_notification_url_and_body() {
    let secret = "square-signature-key";
    let url = "https://hooks.example.com/square?merchant=1";
    let sig = b64(&hmac_sha256(
        secret.as_bytes(),
        format!("{url}{BODY}").as_bytes(),
    ));
    let req = Req::post(BODY)
        .url(url)
        .header("X-Square-HmacSha256-Signature", &sig);
    assert_verified(req.verify(Provider::Square, secret, now()));
    assert_mismatch(req.verify(Provider::Square, "wrong", now()));
    assert_mismatch(
        req.clone()
            .body("{}")
            .verify(Provider::Square, secret, now()),
    );
    let other_url = req.clone().url("https://hooks.example.com/other");
    assert_mismatch(other_url.verify(Provider::Square, secret, now()));
    let bare = req.without("X-Square-HmacSha256-Signature");
    assert_missing(
        bare.verify(Provider::Square, secret, now()),
        "X-Square-HmacSha256-Signature",
    );
}

#[test]
fn pagerduty_v1_signature_list() {
    let secret = "pagerduty-webhook-secret";
    let good = hex::encode(hmac_sha256(secret.as_bytes(), BODY.as_bytes()));
    let old = hex::encode(hmac_sha256(b"previous-secret", BODY.as_bytes()));
    let single = Req::post(BODY).header("X-PagerDuty-Signature", &format!("v1={good}"));
    assert_verified(single.verify(Provider::PagerDuty, secret, now()));
    let rotated = Req::post(BODY).header("X-PagerDuty-Signature", &format!("v1={old},v1={good}"));
    assert_verified(rotated.verify(Provider::PagerDuty, secret, now()));
    assert_mismatch(single.verify(Provider::PagerDuty, "wrong", now()));
    assert_mismatch(
        single
            .clone()
            .body("{}")
            .verify(Provider::PagerDuty, secret, now()),
    );
    let bare = single.without("X-PagerDuty-Signature");
    assert_missing(
        bare.verify(Provider::PagerDuty, secret, now()),
        "X-PagerDuty-Signature",
    );
}
